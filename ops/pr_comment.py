"""`python -m ops pr-comment --section <name> --file <markdown>`: one pull-request comment, kept up to date.

The Azure DevOps pull-request build posts what a change does (the offline plan of every stage, then
`pulumi preview` of each stage) as ONE comment on the pull request. The comment is found again by a
hidden marker, so a new push updates it instead of adding another; each step owns a named section of it
and replaces only that section.

It runs inside a pull-request build and reads what Azure Pipelines provides: `SYSTEM_ACCESSTOKEN` (map it
into the step's env: `env: {SYSTEM_ACCESSTOKEN: $(System.AccessToken)}`), `SYSTEM_COLLECTIONURI`,
`SYSTEM_TEAMPROJECTID`, `BUILD_REPOSITORY_ID` and `SYSTEM_PULLREQUEST_PULLREQUESTID`. The build service
identity needs "Contribute to pull requests" on the repository.

Exit status: 0 when the comment is posted or updated, 1 when Azure DevOps refuses or fails, 2 for a usage
problem (not a pull-request build, a missing file, a bad section name).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

MARKER = "<!-- databricks-platform:pr-comment -->"
API_VERSION = "7.1"
# Azure DevOps refuses comments much over 150,000 characters; stay well below.
MAX_COMMENT_CHARS = 120_000
_SECTION_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_THREAD_STATUS = {"active": 1, "closed": 4}
# GET and PATCH are safe to repeat; a POST is not retried (it could post the comment twice).
_RETRIED_METHODS = frozenset({"GET", "PATCH"})
_TIMEOUT = (10, 30)

ENVIRONMENT = {
    "token": "SYSTEM_ACCESSTOKEN",
    "collection": "SYSTEM_COLLECTIONURI",
    "project": "SYSTEM_TEAMPROJECTID",
    "repository": "BUILD_REPOSITORY_ID",
    "pull_request": "SYSTEM_PULLREQUEST_PULLREQUESTID",
}


class UsageError(Exception):
    """A problem with how the command was called; exit status 2."""


class AzureDevOpsError(Exception):
    """Azure DevOps refused or failed a call; exit status 1. The text never holds the access token."""


@dataclass(frozen=True)
class PullRequest:
    """Where the comment goes, from the pull-request build's environment."""

    collection: str
    """Organisation URL, e.g. https://dev.azure.com/contoso/ (SYSTEM_COLLECTIONURI)."""
    project: str
    repository: str
    pull_request: str
    token: str

    def __repr__(self) -> str:
        return f"PullRequest({self.collection}{self.project}, repository {self.repository}, #{self.pull_request})"

    @property
    def threads_url(self) -> str:
        base = self.collection.rstrip("/")
        return (
            f"{base}/{quote(self.project)}/_apis/git/repositories/{quote(self.repository)}"
            f"/pullRequests/{quote(self.pull_request)}/threads"
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> PullRequest:
        missing = [name for name in ENVIRONMENT.values() if not environ.get(name)]
        if missing:
            raise UsageError(
                f"not an Azure DevOps pull-request build: {', '.join(missing)} not set (map SYSTEM_ACCESSTOKEN "
                "into the step with `env: {SYSTEM_ACCESSTOKEN: $(System.AccessToken)}`)"
            )
        values = {key: environ[name] for key, name in ENVIRONMENT.items()}
        if not values["collection"].startswith("https://"):
            raise UsageError(f"SYSTEM_COLLECTIONURI must be an https URL, got {values['collection'][:80]!r}")
        if not values["pull_request"].isdigit():
            raise UsageError(f"SYSTEM_PULLREQUEST_PULLREQUESTID must be a number, got {values['pull_request'][:40]!r}")
        return cls(**values)


# -- the comment's text: pure functions -------------------------------------------------------------


def _bounds(name: str) -> tuple[str, str]:
    return f"<!-- section:{name} -->", f"<!-- /section:{name} -->"


def sections(body: str) -> dict[str, str]:
    """The named sections of a comment this command wrote, in order."""
    found: dict[str, str] = {}
    for match in re.finditer(r"<!-- section:([a-z0-9-]+) -->\n(.*?)\n<!-- /section:\1 -->", body, re.DOTALL):
        found[match.group(1)] = match.group(2)
    return found


def render(named: Mapping[str, str]) -> str:
    """The comment: the marker, then each section between its bounds, within Azure DevOps' size limit."""
    budget = MAX_COMMENT_CHARS - len(MARKER) - 200 * (len(named) + 1)
    share = budget // max(len(named), 1)
    parts = [MARKER]
    for name, text in named.items():
        if len(text) > share:
            text = (
                text[: share - 200].rstrip()
                + f"\n\n_… cut here: this section had {len(text):,} characters, more than one comment holds. "
                "The build's summary has it whole._"
            )
        start, end = _bounds(name)
        parts.append(f"{start}\n{text}\n{end}")
    return "\n".join(parts) + "\n"


def merge_section(body: str | None, name: str, text: str) -> str:
    """``body`` (a comment this command wrote, or None) with section ``name`` replaced or appended."""
    named = sections(body or "")
    named[name] = text.rstrip("\n")
    return render(named)


# -- Azure DevOps ---------------------------------------------------------------------------------


class ThreadsClient:
    """The pull request's comment threads, through the Azure DevOps REST API (requests, bounded retries)."""

    def __init__(self, pull_request: PullRequest):
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self._pr = pull_request
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {pull_request.token}"
        # Throttling (429 with Retry-After) and passing server errors are retried a few times, briefly.
        retry = Retry(
            total=4, backoff_factor=1.0, backoff_max=20, status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=_RETRIED_METHODS, respect_retry_after_header=True, raise_on_status=False,
        )
        self._session.mount("https://", HTTPAdapter(max_retries=retry))

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        import requests

        try:
            response = self._session.request(
                method, url, params={"api-version": API_VERSION}, json=body, timeout=_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            reason = type(error).__name__
            raise AzureDevOpsError(f"{method} {url.split('?')[0]} failed: {reason}") from None
        if response.status_code in (401, 403) or response.is_redirect:
            # Azure DevOps redirects an unauthenticated call to a sign-in page.
            raise AzureDevOpsError(
                f"Azure DevOps refused {method} on pull request {self._pr.pull_request} (HTTP {response.status_code}): "
                "map SYSTEM_ACCESSTOKEN into the step, and grant the project's Build Service identity "
                "'Contribute to pull requests' on the repository"
            )
        if not response.ok:
            message = ""
            try:
                message = str(response.json().get("message", ""))
            except ValueError:
                message = response.text
            message = " ".join(message.split())[:300].replace(self._pr.token, "[redacted]")
            raise AzureDevOpsError(f"{method} {url} failed: HTTP {response.status_code} {message}".rstrip())
        try:
            return response.json()
        except ValueError:
            raise AzureDevOpsError(f"{method} {url} answered HTTP {response.status_code} without JSON") from None

    def find_comment(self) -> tuple[int, int, str] | None:
        """(thread id, comment id, text) of the comment this command wrote earlier, if any."""
        payload = self._call("GET", self._pr.threads_url)
        threads = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(threads, list):
            raise AzureDevOpsError(f"GET {self._pr.threads_url} answered without a list of threads")
        for thread in threads:
            if not isinstance(thread, dict) or thread.get("isDeleted") or not isinstance(thread.get("id"), int):
                continue
            comments = thread.get("comments")
            for comment in comments if isinstance(comments, list) else ():
                if not isinstance(comment, dict) or comment.get("isDeleted") or not isinstance(comment.get("id"), int):
                    continue
                content = comment.get("content")
                if isinstance(content, str) and content.startswith(MARKER):
                    return thread["id"], comment["id"], content
        return None

    def create(self, content: str, status: str) -> None:
        self._call(
            "POST",
            self._pr.threads_url,
            {
                "comments": [{"parentCommentId": 0, "content": content, "commentType": 1}],
                "status": _THREAD_STATUS[status],
            },
        )

    def update(self, thread_id: int, comment_id: int, content: str) -> None:
        self._call("PATCH", f"{self._pr.threads_url}/{thread_id}/comments/{comment_id}", {"content": content})


def post_section(pull_request: PullRequest, name: str, text: str, *, status: str = "active") -> str:
    """Put section ``name`` into the pull request's comment; returns "created" or "updated"."""
    client = ThreadsClient(pull_request)
    try:
        existing = client.find_comment()
        if existing is None:
            client.create(merge_section(None, name, text), status)
            return "created"
        thread_id, comment_id, body = existing
        client.update(thread_id, comment_id, merge_section(body, name, text))
        return "updated"
    finally:
        client.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops pr-comment",
        description="Put a Markdown file into a named section of this pull request's one comment "
        "(created on the first call, updated afterwards). Runs in an Azure DevOps pull-request build.",
    )
    parser.add_argument("--section", required=True, help="section name, e.g. offline-plan or preview-test")
    parser.add_argument("--file", required=True, type=Path, help="Markdown to put into the section")
    parser.add_argument("--status", choices=sorted(_THREAD_STATUS), default="active",
                        help="status of a new thread (closed keeps it from blocking 'all comments resolved')")
    return parser


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not _SECTION_NAME.fullmatch(args.section):
            raise UsageError(f"--section must be lowercase letters, digits and dashes, got {args.section[:64]!r}")
        try:
            text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            raise UsageError(f"--file {args.file}: cannot read it: {reason}") from None
        pull_request = PullRequest.from_environment(os.environ if environ is None else environ)
        outcome = post_section(pull_request, args.section, text, status=args.status)
    except UsageError as error:
        print(f"pr-comment: {error}", file=sys.stderr)
        return 2
    except AzureDevOpsError as error:
        print(f"pr-comment: {error}", file=sys.stderr)
        return 1
    print(f"pr-comment: {outcome} section {args.section} of the comment on pull request {pull_request.pull_request}")
    return 0
