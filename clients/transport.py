"""azure-core's requests transport, kept inside the operation's deadline (clients.deadline), and its retry
policy, reading Retry-After as servers really send it (clients.retry_after)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.pipeline.policies import RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.utils import case_insensitive_dict

from clients.deadline import Deadline, OutOfTime, current_deadline, pause
from clients.retry_after import bounded_pause, retry_after_seconds

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


class RetryAfterPolicy(RetryPolicy):
    """azure-core's retry policy, reading Retry-After (and retry-after-ms, x-ms-retry-after-ms) through
    clients.retry_after: a negative, huge, non-finite or unreadable value is a bounded number of seconds or
    ignored (the backoff applies), where azure-core's own parsing overflows ``time.sleep`` or raises ValueError.

    ``longest()``, when given, is the most any pause (Retry-After or backoff) may last: the caller's time left.
    With no time left no retry is made, and the last answer's error is raised.
    """

    def __init__(self, *, longest: Callable[[], float] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._longest = longest

    def _bounded(self, seconds: float) -> float:
        return bounded_pause(seconds, self._longest()) if self._longest is not None else seconds

    def get_retry_after(self, response: Any) -> float | None:
        headers = case_insensitive_dict(response.http_response.headers)
        seconds = retry_after_seconds(headers.get("retry-after"))
        if seconds is None:
            for name in ("retry-after-ms", "x-ms-retry-after-ms"):
                milliseconds = retry_after_seconds(headers.get(name))
                if milliseconds is not None:
                    seconds = milliseconds / 1000.0
                    break
        return None if seconds is None else self._bounded(seconds)

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return self._bounded(super().get_backoff_time(settings))

    def increment(self, settings: dict[str, Any], response: Any = None, error: Any = None) -> bool:
        if self._longest is not None and self._longest() <= 0:
            return False  # out of time: azure-core raises the last attempt's error instead of retrying
        return super().increment(settings, response=response, error=error)
