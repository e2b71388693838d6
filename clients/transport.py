"""azure-core's requests transport, kept inside the operation's deadline (clients.deadline)."""

from __future__ import annotations

from typing import Any

from azure.core.pipeline.transport import RequestsTransport

from clients.deadline import Deadline, OutOfTime, current_deadline, pause

# Shortest timeout an attempt is given, so a deadline reached mid-flight fails fast rather than oddly.
_MIN_TIMEOUT = 0.01


class DeadlineTransport(RequestsTransport):
    """azure-core's transport held to the operation's deadline: no request is sent after it, each attempt's
    connect and read timeouts are cut to the time left, and azure-core's pauses (backoff, an uncapped
    Retry-After, a long-running operation's polling) are capped at ``max_pause`` and never sleep past it
    (OutOfTime instead).

    ``deadline``: the operation's, for a client whose calls may run on a thread of the SDK's own (a poller),
    where the current context's deadline is not set; None: the current context's.
    """

    def __init__(self, *, max_pause: float, deadline: Deadline | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_pause = max_pause
        self.deadline = deadline

    def send(self, request: Any, **kwargs: Any) -> Any:
        deadline = self.deadline or current_deadline()
        if deadline is None:
            return super().send(request, **kwargs)
        left = deadline.left()
        if left <= 0:
            raise OutOfTime(f"no request is sent after {deadline.out_of_time()}")
        config = self.connection_config
        kwargs["connection_timeout"] = min(kwargs.get("connection_timeout") or config.timeout,
                                           max(left, _MIN_TIMEOUT))
        kwargs["read_timeout"] = min(kwargs.get("read_timeout") or config.read_timeout, max(left, _MIN_TIMEOUT))
        if current_deadline() is None:
            # A thread of the SDK's own (a poller): a socket opened here must be the watchdog's to cut too.
            with deadline.current():
                return super().send(request, **kwargs)
        return super().send(request, **kwargs)

    def sleep(self, duration: float) -> None:
        pause(duration, self.max_pause, self.deadline)
