#!/usr/bin/env bash
# The offline plan of every stage against a pull request's target branch, as one Markdown comment, also
# shown on the build's summary page (where a fork's pull request, which may not comment, finds it).
# Usage: offline-plan-comment.sh <target branch, e.g. refs/heads/main> <output file>
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 <target branch> <output file>" >&2
  exit 2
fi
target=${1#refs/heads/}
output=$2
cd "$(dirname "$0")/.."
# Planning is offline: no credentials, no Pulumi CLI. Exit status 1 means a stage does not plan (its
# section says why); the comment is still written and posted before the step fails.
status=0
.venv/bin/python -m offline_plan --stack all --against "origin/$target" --format markdown > "$output" || status=$?
echo "##vso[task.uploadsummary]$output"
exit "$status"
