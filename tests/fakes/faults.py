"""Injected misbehaviour for the loopback fakes of the Jobs API and ARM, queued per endpoint.

A fault is consumed by one request to its endpoint. With `status` the fake answers that status (and
`Retry-After` if given) instead of serving the request, or after serving it when `process` is set (a
gateway error after the work was done). `stall` holds the request that many seconds before anything else
happens — a server that accepted the connection and went silent; a stopped fake releases held requests.
`drop` closes the connection without a reply (after serving the request when `process` is set): a connection
lost after the request went out, so the client cannot know whether it was done.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from tests.fakes.server import Reply


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    code: str = "TEMPORARILY_UNAVAILABLE"
    """The error code in the body (Databricks error_code, ARM error.code)."""
    message: str = "The service is temporarily unavailable."
    retry_after: str | None = None
    stall: float = 0.0
    process: bool = False
    body: bytes | None = None
    """A raw body for `status` instead of the API's JSON error, e.g. a gateway's HTML page."""
    trickle: float = 0.0
    """Serve the request, but send the reply one byte every `trickle` seconds: each receive is quick, the
    whole reply takes as long as the server likes (only a deadline on the whole call ends it)."""
    drop: bool = False
    """Close the connection without answering (with `process`, after doing the work)."""


class Faults:
    """Fault queues by endpoint name, and the event that releases stalled requests."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.released = threading.Event()

    def add(self, endpoint: str, *faults: Fault) -> None:
        with self._lock:
            self._queues[endpoint].extend(faults)

    def pending(self, endpoint: str) -> int:
        with self._lock:
            return len(self._queues[endpoint])

    def answer(
        self, endpoint: str, serve: Callable[[], Reply], error: Callable[[Fault], Reply]
    ) -> Reply:
        """Serve a request to ``endpoint`` through its next fault, if any; ``error(fault)`` renders the error."""
        with self._lock:
            fault = self._queues[endpoint].popleft() if self._queues[endpoint] else None
        if fault is None:
            return serve()
        if fault.stall:
            self.released.wait(fault.stall)
        if fault.drop:
            if fault.process:
                serve()
            return Reply(drop=True)
        if fault.status is None:
            reply = serve()
            reply.trickle = fault.trickle
            return reply
        if fault.process:
            serve()
        if fault.body is not None:
            reply = Reply(fault.status, fault.body, {"Content-Type": "text/html"})
        else:
            reply = error(fault)
        if fault.retry_after is not None:
            reply.headers["Retry-After"] = fault.retry_after
        return reply
