"""`python -m ops pr-comment`: one pull-request comment, kept up to date, naming the commit of every section.

    python -m ops pr-comment --section offline-plan --file plan.md [--section preview-dev --file dev.md ...]
                             [--run-status TEXT] [--status active|closed]

The Azure DevOps pull-request build posts what a change does (the offline plan of every stage, then
`pulumi preview` of each stage) as ONE comment on the pull request. Each call replaces the named sections
(created on the first call) and may set the status line of the comment's header. Every section says which
commit and build made it; a section made from an older commit than the header's is marked out of date, so
a push whose tests fail never leaves the previous plan looking current (call with only --run-status when a
build starts). Long sections are cut in the middle, well-formed; the build's summary and artifacts hold
them whole (azure-pipelines.yml publishes every file it posts).

It runs in an Azure Repos pull-request build and reads what Azure Pipelines provides: `SYSTEM_ACCESSTOKEN`
(map it into the step: `env: {SYSTEM_ACCESSTOKEN: $(System.AccessToken)}`), `SYSTEM_COLLECTIONURI`,
`SYSTEM_TEAMPROJECTID`, `BUILD_REPOSITORY_ID`, `SYSTEM_PULLREQUEST_PULLREQUESTID`, the commit
(`SYSTEM_PULLREQUEST_SOURCECOMMITID`, else `BUILD_SOURCEVERSION`) and, to link the build, `BUILD_BUILDID`,
`SYSTEM_TEAMPROJECT` and `SYSTEM_DEFINITIONID`. The build service identity needs "Contribute to pull
requests" on the repository.

Exit status: 0 when the comment is posted or updated, 1 when Azure DevOps refuses or fails, 2 for a usage
problem (not a pull-request build, an unreadable file, a bad section name), one line per problem, all
reported together, nothing posted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from core.messages import shown
from core.safe_load import read_text
from ops.comment_body import MAX_SECTIONS, SECTION_NAME, parse, render, update
from ops.devops_threads import THREAD_STATUS, AzureDevOpsError, PullRequest, ThreadsClient
from ops.devops_threads import UsageError as EnvironmentProblem
from ops.usage import FAILED, SUCCESS, USAGE, Parser, UsageError

PROG = "python -m ops pr-comment"
MAX_FILE_BYTES = 16 * 1024 * 1024
"""A preview of a large stack is a few MB; a file far beyond that is a mistake, and is not read."""
MAX_STATUS_CHARS = 300


def parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="Put Markdown files into named sections of this pull request's one comment (created on the "
        "first call, updated afterwards), each marked with the commit it was made from. Runs in an Azure Repos "
        "pull-request build. Exit status: 0 posted, 1 Azure DevOps refused or failed, 2 usage problem.",
    )
    p.add_argument("--section", action="append", default=[], metavar="NAME",
                   help="section name, e.g. offline-plan or preview-test; repeat with one --file each")
    p.add_argument("--file", action="append", default=[], type=Path, metavar="FILE",
                   help="Markdown to put into the section named by the --section at the same position")
    p.add_argument("--run-status", metavar="TEXT",
                   help="one line for the comment's header, e.g. 'tests failed'; alone, it marks every section "
                   "made from an older commit out of date")
    p.add_argument("--status", choices=sorted(THREAD_STATUS), default="active",
                   help="status of a new thread (closed keeps it from blocking 'all comments resolved')")
    return p


def _sections(names: list[str], files: list[Path]) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, Markdown) of each --section/--file pair, and every problem found on the way."""
    problems: list[str] = []
    if len(names) != len(files):
        problems.append(f"give one --file per --section (got {len(names)} --section and {len(files)} --file)")
    if len(names) > MAX_SECTIONS:
        problems.append(f"at most {MAX_SECTIONS} sections fit one comment (got {len(names)})")
    seen: set[str] = set()
    for name in names:
        if not SECTION_NAME.fullmatch(name):
            problems.append(f"--section {shown(name, 64)}: lowercase letters, digits and dashes, starting with a "
                            "letter or digit, at most 63")
        elif name in seen:
            problems.append(f"--section {name}: given twice")
        seen.add(name)
    texts = []
    for path in files:
        found: list[str] = []
        text = read_text(path, source=f"--file {shown(str(path), 120)}", root=None, problems=found,
                         max_bytes=MAX_FILE_BYTES)
        problems += found
        texts.append(text)
    if problems:
        return [], problems
    return [(name, text or "") for name, text in zip(names, texts, strict=True)], problems


def post(pull_request: PullRequest, sections: list[tuple[str, str]], run_status: str | None,
         status: str = "active") -> str:
    """Write ``sections`` and ``run_status`` into the pull request's comment; "created" or "updated"."""
    client = ThreadsClient(pull_request)
    try:
        existing = client.find_comment()
        body = existing[2] if existing else None
        comment = update(parse(body, build_url=pull_request.build_url_template), pull_request.build, sections,
                         run_status)
        text = render(comment)
        if existing is None:
            client.create(text, status)
            return "created"
        client.update(existing[0], existing[1], text)
        return "updated"
    finally:
        client.close()


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    try:
        args = parser().parse_args(argv)
        sections, problems = _sections(args.section, args.file)
        status = args.run_status
        if status is not None and (not status.strip() or not status.isprintable() or len(status) > MAX_STATUS_CHARS):
            problems.append(f"--run-status {shown(status, 64)}: one line of printable text, at most "
                            f"{MAX_STATUS_CHARS} characters")
        if not args.section and not args.file and status is None:
            problems.append("nothing to post: give --section NAME --file FILE (repeatable) and/or --run-status TEXT")
        try:
            pull_request = PullRequest.from_environment(environ)
        except EnvironmentProblem as error:
            problems.append(str(error))
        if problems:
            raise UsageError("\n".join(problems))
        outcome = post(pull_request, sections, status and status.strip(), args.status)
    except UsageError as error:
        for line in str(error).splitlines():
            print(f"{PROG}: error: {line}", file=sys.stderr)
        return USAGE
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else USAGE
    except AzureDevOpsError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return FAILED
    names = ", ".join(name for name, _ in sections) or "the status line"
    print(f"pr-comment: {outcome} {names} of the comment on pull request {pull_request.pull_request} "
          f"(commit {pull_request.build.short})")
    return SUCCESS

