"""A whole-command deadline, and SDK calls bounded by it.

The SDKs retry on their own (429 with Retry-After, 503, connection errors). Their pauses are cut to the time
left (databricks-sdk's clock calls `Deadline.pause_before_retry`; azure-core's retry policy is given
`Deadline.longest_retry_pause`), but a stalled server holds a call for the SDK's own read timeout on every retry. So
each SDK call runs in a daemon thread that the command waits for only until the deadline; a call still hanging
then is abandoned (the process exits without waiting for daemon threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from clients.retry_after import bounded_pause

T = TypeVar("T")

MAX_RETRY_PAUSE = 600.0
"""Longest pause before a retry, whatever a Retry-After asks: a throttling service asks for seconds, a value of
hours is a proxy's mistake, and honouring it would spend the whole --timeout learning nothing."""


class CallTimedOut(Exception):
    """A bounded call did not finish in time."""


class Deadline:
    """A point in monotonic time ``seconds`` from now."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._seconds = seconds
        self._end = clock() + seconds

    def restart(self) -> None:
        """Count the seconds from now."""
        self._end = self._clock() + self._seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until the deadline, whichever comes first (a negative or NaN pause is none)."""
        time.sleep(bounded_pause(seconds, self.remaining()))

    def longest_retry_pause(self) -> float:
        """How long a pause before a retry may last now: MAX_RETRY_PAUSE, and never past the deadline."""
        return min(MAX_RETRY_PAUSE, self.remaining())

    def pause_before_retry(self, seconds: float) -> None:
        """An SDK's pause before it retries a call (a Retry-After, a backoff), within [0, longest_retry_pause()];
        with no time left, CallTimedOut instead, so that the SDK sends nothing more."""
        if self.expired():
            raise CallTimedOut("no time left to retry")
        time.sleep(bounded_pause(seconds, self.longest_retry_pause()))


def call_within(seconds: float, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)``, its result or its exception; CallTimedOut if it takes over ``seconds``."""
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread as is
            outcome["error"] = error
        finally:
            finished.set()

    threading.Thread(target=target, name=f"bounded-{getattr(function, '__name__', 'call')}", daemon=True).start()
    if not finished.wait(max(0.0, seconds)):
        raise CallTimedOut(f"no answer within {seconds:.0f}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
