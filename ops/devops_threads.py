"""Azure DevOps pull-request threads (list, create, update a comment) for `ops pr-comment`, through requests.

The comment is found again by a thread property, not by its text: a property can be set only through the
REST API, so no one types it by accident (a reviewer who quotes the comment's hidden marker does not make
their comment ours), and its value names the pipeline, so two pipelines on one pull request keep a comment
each. Only the thread's first comment is ever edited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ops.comment_body import COMMIT, MARKER, Build

API_VERSION = "7.1"
THREAD_PROPERTY = "databricks-platform.pr-comment"
"""Thread property naming the pipeline (its definition id) whose comment the thread holds."""
THREAD_STATUS = {"active": 1, "closed": 4}
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
"""Required: where the comment goes, and the build's token."""
COMMIT_VARIABLES = ("SYSTEM_PULLREQUEST_SOURCECOMMITID", "BUILD_SOURCEVERSION")
"""The pull request's own commit (what its author pushed); the merge commit the build checked out otherwise."""


class UsageError(Exception):
    """A problem with how the command was called or the build's environment; exit status 2."""


class AzureDevOpsError(Exception):
    """Azure DevOps refused or failed a call; exit status 1. The text never holds the access token."""


@dataclass(frozen=True)
class PullRequest:
    """Where the comment goes and which build writes, from the pull-request build's environment."""

    collection: str
    """Organisation URL, e.g. https://dev.azure.com/contoso/ (SYSTEM_COLLECTIONURI)."""
    project: str
    repository: str
    pull_request: str
    token: str
    build: Build
    pipeline: str = ""
    """The pipeline's definition id (SYSTEM_DEFINITIONID): the thread property's value."""

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
        """Raises UsageError naming every missing or malformed variable."""
        missing = [name for name in ENVIRONMENT.values() if not environ.get(name)]
        if missing:
            raise UsageError(
                f"not an Azure DevOps pull-request build: {', '.join(missing)} not set (map SYSTEM_ACCESSTOKEN "
                "into the step with `env: {SYSTEM_ACCESSTOKEN: $(System.AccessToken)}`)"
            )
        values = {key: environ[name] for key, name in ENVIRONMENT.items()}
        problems = []
        if not values["collection"].startswith("https://"):
            problems.append(f"SYSTEM_COLLECTIONURI must be an https URL, got {values['collection'][:80]!r}")
        if not values["pull_request"].isdigit():
            problems.append(
                f"SYSTEM_PULLREQUEST_PULLREQUESTID must be a number, got {values['pull_request'][:40]!r}")
        commit_variable = next((name for name in COMMIT_VARIABLES if environ.get(name)), None)
        commit = environ[commit_variable].lower() if commit_variable else ""
        if commit_variable is None:
            problems.append(f"{' or '.join(COMMIT_VARIABLES)} must name the commit the build made its plans from")
        elif not COMMIT.fullmatch(commit):
            problems.append(f"{commit_variable} must be a commit id (hex), got {commit[:70]!r}")
        build_id = environ.get("BUILD_BUILDID", "")
        if build_id and not build_id.isdigit():
            problems.append(f"BUILD_BUILDID must be a number, got {build_id[:40]!r}")
        if problems:
            raise UsageError("; ".join(problems))
        project_in_url = quote(environ.get("SYSTEM_TEAMPROJECT") or values["project"])
        url = (f"{values['collection'].rstrip('/')}/{project_in_url}/_build/results?buildId={build_id}"
               if build_id else "")
        build = Build(commit, int(build_id) if build_id else None, url)
        return cls(**values, build=build, pipeline=environ.get("SYSTEM_DEFINITIONID", ""))

    @property
    def build_url_template(self) -> str:
        """The results page of any build of this project, with ``{build_id}`` to fill in."""
        if not self.build.url:
            return ""
        return self.build.url.rsplit("=", 1)[0] + "={build_id}"


def _property_value(value: Any) -> Any:
    # Written as {type, value}; Azure DevOps answers {$type, $value}.
    if isinstance(value, dict):
        return value.get("$value", value.get("value"))
    return value


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
                "map SYSTEM_ACCESSTOKEN into the step, and grant the pipeline's build service identity "
                "'Contribute to pull requests' on the repository (README: 'Azure DevOps')"
            )
        if not response.ok:
            message = ""
            try:
                message = str(response.json().get("message", ""))
            except (ValueError, AttributeError):
                message = response.text
            message = " ".join(message.split())[:300].replace(self._pr.token, "[redacted]")
            raise AzureDevOpsError(f"{method} {url} failed: HTTP {response.status_code} {message}".rstrip())
        try:
            return response.json()
        except ValueError:
            raise AzureDevOpsError(f"{method} {url} answered HTTP {response.status_code} without JSON") from None

    def find_comment(self) -> tuple[int, int, str] | None:
        """(thread id, comment id, text) of this pipeline's comment, if it wrote one earlier."""
        payload = self._call("GET", self._pr.threads_url)
        threads = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(threads, list):
            raise AzureDevOpsError(f"GET {self._pr.threads_url} answered without a list of threads")
        for thread in threads:
            if not isinstance(thread, dict) or thread.get("isDeleted") or not isinstance(thread.get("id"), int):
                continue
            properties = thread.get("properties")
            owner = _property_value(properties.get(THREAD_PROPERTY)) if isinstance(properties, dict) else None
            if owner != self._pr.pipeline:
                continue
            comments = [c for c in thread.get("comments") or () if isinstance(c, dict) and isinstance(c.get("id"), int)]
            first = min(comments, key=lambda c: c["id"], default=None)
            content = first.get("content") if first else None
            if first and not first.get("isDeleted") and isinstance(content, str) and content.startswith(MARKER):
                return thread["id"], first["id"], content
        return None

    def create(self, content: str, status: str) -> None:
        self._call(
            "POST",
            self._pr.threads_url,
            {
                "comments": [{"parentCommentId": 0, "content": content, "commentType": 1}],
                "status": THREAD_STATUS[status],
                "properties": {THREAD_PROPERTY: {"type": "System.String", "value": self._pr.pipeline}},
            },
        )

    def update(self, thread_id: int, comment_id: int, content: str) -> None:
        self._call("PATCH", f"{self._pr.threads_url}/{thread_id}/comments/{comment_id}", {"content": content})
