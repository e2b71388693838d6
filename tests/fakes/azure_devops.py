"""A loopback fake of Azure DevOps' pull-request threads API (list, create, update a comment).

It checks the bearer token (the build's System.AccessToken, random per test), the api-version, the paths
of one organisation/project/repository/pull request, and keeps threads in memory. Like Azure DevOps, it
keeps thread properties written as {type, value} and answers them as {$type, $value}, names each comment's
author, and refuses to edit a comment someone else wrote. Faults are queued per method and consumed one per
request.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import LoopbackHttpsServer, Reply, Request
from tests.fakes.tls import TlsMaterial

PROJECT = "0b5e1e2c-9f0e-4a52-9a43-2f6b3c1d7e11"
REPOSITORY = "6f0c8a52-63c1-4d0e-b6a3-71d2a9e0c4f5"
PULL_REQUEST = "42"


BUILD_SERVICE = "Contoso Build Service (contoso)"
DEFINITION_ID = "17"


@dataclass
class Comment:
    id: int
    content: str
    author: str = BUILD_SERVICE
    is_deleted: bool = False


@dataclass
class Thread:
    id: int
    status: int
    comments: list[Comment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": {1: "active", 4: "closed"}.get(self.status, "unknown"),
            "isDeleted": False,
            "properties": {key: {"$type": "System.String", "$value": value} for key, value in self.properties.items()},
            "comments": [{"id": c.id, "content": c.content, "isDeleted": c.is_deleted, "commentType": "text",
                          "author": {"displayName": c.author}} for c in self.comments],
        }


class FakeAzureDevOps:
    """Fake Azure DevOps organisation serving one pull request's threads."""

    def __init__(self, tls: TlsMaterial):
        self.token = secrets.token_urlsafe(40)
        self.ca_bundle = tls.ca_bundle
        """The CA a client must trust (REQUESTS_CA_BUNDLE) to reach the fake."""
        self.threads: list[Thread] = []
        self.requests: list[tuple[str, str, int]] = []
        self._faults: dict[str, deque[Reply]] = {"GET": deque(), "POST": deque(), "PATCH": deque()}
        self._lock = threading.Lock()
        self._server = LoopbackHttpsServer(self._handle, tls)

    @property
    def collection_uri(self) -> str:
        return f"{self._server.base_url}/contoso/"

    def environ(self, **overrides: str) -> dict[str, str]:
        """The variables a pull-request build gives the step."""
        values = {
            "SYSTEM_ACCESSTOKEN": self.token,
            "SYSTEM_COLLECTIONURI": self.collection_uri,
            "SYSTEM_TEAMPROJECTID": PROJECT,
            "BUILD_REPOSITORY_ID": REPOSITORY,
            "SYSTEM_PULLREQUEST_PULLREQUESTID": PULL_REQUEST,
            "SYSTEM_PULLREQUEST_SOURCECOMMITID": "1" * 40,
            "BUILD_BUILDID": "100",
            "SYSTEM_TEAMPROJECT": "Data Platform",
            "SYSTEM_DEFINITIONID": DEFINITION_ID,
        }
        values.update(overrides)
        return values

    def inject(self, method: str, *replies: Reply) -> None:
        with self._lock:
            self._faults[method].extend(replies)

    def add_thread(self, *contents: str, status: int = 1, author: str = "Reviewer",
                   properties: dict[str, Any] | None = None) -> Thread:
        """A thread someone else wrote (a reviewer, another pipeline), with its comments and properties."""
        with self._lock:
            thread = Thread(id=len(self.threads) + 1, status=status, properties=dict(properties or {}))
            thread.comments = [Comment(id=index + 1, content=text, author=author)
                               for index, text in enumerate(contents)]
            self.threads.append(thread)
            return thread

    def __enter__(self) -> FakeAzureDevOps:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def _handle(self, request: Request) -> Reply:
        reply = self._serve(request)
        with self._lock:
            self.requests.append((request.method, request.path, reply.status))
        return reply

    def _serve(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            # Like Azure DevOps: an anonymous call is sent to the sign-in page.
            return Reply(302, b"", {"Location": "https://app.vssps.visualstudio.com/_signin"})
        if request.query.get("api-version") != ["7.1"]:
            return Reply.json(400, {"message": "The api-version query parameter is required."})
        with self._lock:
            fault = self._faults[request.method].popleft() if self._faults.get(request.method) else None
        if fault is not None:
            return fault
        base = f"/contoso/{PROJECT}/_apis/git/repositories/{REPOSITORY}/pullRequests/{PULL_REQUEST}/threads"
        if request.path == base and request.method == "GET":
            with self._lock:
                return Reply.json(200, {"value": [t.as_json() for t in self.threads], "count": len(self.threads)})
        if request.path == base and request.method == "POST":
            body = request.json()
            with self._lock:
                properties = {key: value["value"] if isinstance(value, dict) else value
                              for key, value in (body.get("properties") or {}).items()}
                thread = Thread(id=len(self.threads) + 1, status=body["status"], properties=properties)
                thread.comments = [Comment(id=1, content=body["comments"][0]["content"])]
                self.threads.append(thread)
                return Reply.json(200, thread.as_json())
        if request.path.startswith(base + "/") and request.method == "PATCH":
            parts = request.path[len(base) + 1:].split("/")
            if len(parts) == 3 and parts[1] == "comments":
                with self._lock:
                    thread = next((t for t in self.threads if str(t.id) == parts[0]), None)
                    comment = next((c for c in thread.comments if str(c.id) == parts[2]), None) if thread else None
                    if comment is None:
                        return Reply.json(404, {"message": "The comment does not exist."})
                    if comment.author != BUILD_SERVICE:
                        return Reply.json(403, {"message": "TF401027: You need the Git 'Edit' permission."})
                    comment.content = request.json()["content"]
                    return Reply.json(200, {"id": comment.id, "content": comment.content})
        return Reply.json(404, {"message": f"no route for {request.method} {request.path}"})
