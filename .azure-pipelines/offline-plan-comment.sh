#!/usr/bin/env bash
# The offline plan of every stage against a pull request's target branch, as one Markdown section, in
# release order (the stages given, then any other stack file of the change or of the target branch, sorted).
# The file also goes to the build's summary and to the build artifact pr-comment-offline-plan-<attempt>.
# Usage: offline-plan-comment.sh <target branch, e.g. refs/heads/main> <output file> <stage>...
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 <target branch> <output file> <stage in release order>..." >&2
  exit 2
fi
target=${1#refs/heads/}
output=$2
shift 2
cd "$(dirname "$0")/.."
mkdir -p "$(dirname "$output")"
stacks=("$@")
others=$({
  ls Pulumi.*.yaml 2>/dev/null || true
  git ls-tree --name-only "origin/$target" 2>/dev/null | grep '^Pulumi\..*\.yaml$' || true
} | sed -n 's/^Pulumi\.\(.*\)\.yaml$/\1/p' | sort -u)
for stack in $others; do
  case " ${stacks[*]} " in *" $stack "*) ;; *) stacks+=("$stack") ;; esac
done
# Planning is offline: no credentials, no Pulumi CLI. Exit status 1 means a stage does not plan (its
# section says why); the section is still written, published and posted (succeededOrFailed()) before the
# job fails.
stack_list=$(IFS=,; echo "${stacks[*]}")
status=0
.venv/bin/python -m offline_plan --stack "$stack_list" --against "origin/$target" --format markdown > "$output" || status=$?
artifact="pr-comment-offline-plan-${SYSTEM_JOBATTEMPT:-1}"
echo "##vso[task.uploadsummary]$output"
echo "##vso[artifact.upload containerfolder=$artifact;artifactname=$artifact]$output"
exit "$status"
