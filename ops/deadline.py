"""A whole-command deadline, and SDK calls bounded by it.

The SDKs retry on their own (429 with Retry-After, 503, connection errors), but they sleep as long as a
server's Retry-After asks and a stalled server holds a call for the SDK's own read timeout on every retry.
So each SDK call runs in a daemon thread that the command waits for only until the deadline; a call still
hanging then is abandoned (the process exits without waiting for daemon threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class CallTimedOut(Exception):
    """A bounded call did not finish in time."""


class Deadline:
    """A point in monotonic time ``seconds`` from now."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until the deadline, whichever comes first."""
        time.sleep(min(seconds, self.remaining()))


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
