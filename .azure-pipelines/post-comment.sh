#!/usr/bin/env bash
# Write this build's part into the pull request's one comment (`python -m ops pr-comment`), whatever the
# job's status so far: a failed plan or preview is posted like a good one, and when nothing could be made
# (the tests failed) the header says so, which marks the previous commit's sections out of date.
# Usage: post-comment.sh start                                     the build started: older sections are stale
#        post-comment.sh validation <job status> <offline plan md>  after the offline plan (or the tests) ended
#        post-comment.sh previews <job status> <dir> <stage>...     after `pulumi preview` of each stage
# <job status> is $(Agent.JobStatus): Succeeded, SucceededWithIssues, Failed or Canceled.
set -euo pipefail
usage() {
  echo "usage: $0 start | validation <job status> <offline plan md> | previews <job status> <dir> <stage>..." >&2
  exit 2
}
[ $# -ge 1 ] || usage
phase=$1
shift
cd "$(dirname "$0")/.."
case $phase in
  start)
    [ $# -eq 0 ] || usage
    .venv/bin/python -m ops pr-comment --run-status "running: tests and the offline plans, then pulumi preview of each stage"
    ;;
  validation)
    [ $# -eq 2 ] || usage
    job_status=$1 plan=$2
    if [ -f "$plan" ]; then
      case $job_status in
        Succeeded | SucceededWithIssues) status="tests, guard rails and the offline plan passed" ;;
        Canceled) status="canceled while planning" ;;
        *) status="the offline plan failed for a stage (see its section)" ;;
      esac
      .venv/bin/python -m ops pr-comment --section offline-plan --file "$plan" --run-status "$status"
    else
      case $job_status in
        Canceled) status="canceled before the offline plan: nothing below is from this commit" ;;
        *) status="tests or guard rails failed (see the build): nothing below is from this commit" ;;
      esac
      .venv/bin/python -m ops pr-comment --run-status "$status"
    fi
    ;;
  previews)
    [ $# -ge 3 ] || usage
    job_status=$1 dir=$2
    shift 2
    arguments=()
    for stage in "$@"; do
      # preview-stages.sh writes a section for every stage, also one that failed before its preview ran.
      if [ -f "$dir/preview-$stage.md" ]; then
        arguments+=(--section "preview-$stage" --file "$dir/preview-$stage.md")
      fi
    done
    case $job_status in
      Succeeded | SucceededWithIssues) status="tests passed and every stage was previewed" ;;
      Canceled) status="canceled while previewing" ;;
      *) status="pulumi preview failed (see the sections marked FAILED, or the build)" ;;
    esac
    .venv/bin/python -m ops pr-comment "${arguments[@]}" --run-status "$status"
    ;;
  *) usage ;;
esac
