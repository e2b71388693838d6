#!/usr/bin/env bash
# `pulumi preview` of every stage, in release order, each into <dir>/preview-<stage>.md, whatever the others
# do: a stage that fails still gets its section (with why), the later stages are still previewed, and the
# step fails at the end with the worst exit status. Each file also goes to the build's summary and to the
# build artifact pr-comment-previews-<attempt>, where the comment's cut note sends readers.
# Run by the AzureCLI@2 step of the preview job (read-only preview identity, addSpnToEnvironment: true).
# Usage: preview-stages.sh <dir> <stage>...
set -uo pipefail # not -e: one stage's failure must not stop the others
if [ $# -lt 2 ]; then
  echo "usage: $0 <dir> <stage>..." >&2
  exit 2
fi
dir=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir" || exit 2
artifact="pr-comment-previews-${SYSTEM_JOBATTEMPT:-1}"
worst=0
for stage in "$@"; do
  markdown="$dir/preview-$stage.md"
  log="$dir/preview-$stage.log"
  rm -f "$markdown"
  echo "##[group]pulumi preview of stage $stage"
  "$here/pulumi-stage.sh" preview "$stage" "$markdown" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  echo "##[endgroup]"
  if [ ! -s "$markdown" ]; then
    # pulumi-stage.sh stopped before the preview ran (sign-in, backend, stack): say so, with its last words.
    {
      echo "### pulumi preview: stack \`$stage\` FAILED (exit $status) before the preview ran"
      echo
      echo '```text'
      tail -n 30 "$log" | sed 's/^```/` ``/'
      echo '```'
    } > "$markdown"
  fi
  if [ "$status" -ne 0 ]; then
    echo "##vso[task.logissue type=error]pulumi preview of stage $stage failed (exit $status)"
  fi
  echo "##vso[task.uploadsummary]$markdown"
  echo "##vso[artifact.upload containerfolder=$artifact;artifactname=$artifact]$markdown"
  if [ "$status" -gt "$worst" ]; then worst=$status; fi
done
exit "$worst"
