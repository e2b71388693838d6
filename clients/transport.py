"""azure-core's requests transport, kept inside the operation's deadline (clients.deadline)."""

from __future__ import annotations

from typing import Any

from azure.core.pipeline.transport import RequestsTransport

from clients.deadline import pause


class DeadlineTransport(RequestsTransport):
    """The transport of the Entra ID credentials. azure-core's retry policy sleeps through `sleep` (backoff and
    an uncapped Retry-After): capped at ``max_pause`` and never past the deadline (OutOfTime instead)."""

    def __init__(self, *, max_pause: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_pause = max_pause

    def sleep(self, duration: float) -> None:
        pause(duration, self.max_pause)
