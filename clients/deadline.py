"""One deadline for a whole operation: what databricks-sdk's and azure-core's own time limits cannot give.

Both SDKs time out one connect or one read, but a read timeout applies to each receive: a server that
trickles its reply one byte at a time keeps a call alive as long as it likes (a 5 s budget once ran for
112 s). Both also sleep for whatever Retry-After asks. A `Deadline` bounds what they cannot:

- at the deadline a watchdog thread shuts down every socket the operation opened, which ends a trickling
  reply, a stalled TLS handshake or a stalled Entra ID at once. The interpreter's ``socket.__new__`` audit
  event says which sockets those are: the ones created while the operation's deadline is the current one
  (a context variable, so other threads' sockets are never touched). No socket is created after it.
- `pause` caps a pause such as Retry-After and refuses to sleep past the deadline; both SDKs' retry loops
  sleep through it (clients.databricks.DeadlineClock, clients.transport.DeadlineTransport), so they end in
  time.
- `Deadline.run` runs a call that may sleep where neither reaches (databricks-sdk's discovery probe, made
  while a Config is built, retries with its own clock) in a helper thread and stops waiting at the deadline.

Not bounded: a DNS lookup, and a TCP connect, which only the per-request connect timeout ends. Standard
library only, so importing it costs nothing.
"""

from __future__ import annotations

import contextvars
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

_T = TypeVar("_T")


class OutOfTime(Exception):
    """An operation reached its deadline: raised instead of sleeping, connecting or waiting past it."""

    def __init__(self, message: str, *, wanted_pause: float | None = None):
        super().__init__(message)
        self.wanted_pause = wanted_pause
        """The pause a retry asked for (e.g. Retry-After) when that is what would have run past the deadline."""


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("deadline", default=None)
_hook_lock = threading.Lock()
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audit event of the process: stay cheap for all but one.
    if event != "socket.__new__":
        return
    deadline = _current.get()
    if deadline is not None:
        deadline._opened(args[0])


def _install_audit_hook() -> None:
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)  # an audit hook cannot be removed; it does nothing outside a Deadline
            _hook_installed = True


def current_deadline() -> Deadline | None:
    """The deadline of the operation running in this context, if any."""
    return _current.get()


class Deadline:
    """A point in time an operation must end by; a context manager that enforces it on its sockets.

    ``budget`` is the whole operation's time in seconds (for messages); `sooner` makes a deadline for a step
    that must leave time for another (it shares its sockets with this one).
    """

    def __init__(self, seconds: float, *, parent: Deadline | None = None):
        self.budget = parent.budget if parent is not None else seconds
        self.expires = time.monotonic() + seconds
        self._parent = parent
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._token: contextvars.Token[Deadline | None] | None = None

    def __repr__(self) -> str:
        return f"Deadline({self.left():.1f}s left of {self.budget:g}s)"

    def left(self) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return self.expires - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.left() <= 0

    def sooner(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` before this one."""
        return Deadline(self.left() - seconds, parent=self)

    def out_of_time(self) -> str:
        return f"the operation's time budget ran out (time_budget {self.budget:g}s)"

    def __enter__(self) -> Deadline:
        _install_audit_hook()
        self._token = _current.set(self)
        self._timer = threading.Timer(max(self.left(), 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._token is not None:
            _current.reset(self._token)

    @contextmanager
    def current(self) -> Iterator[Deadline]:
        """This deadline as the current one for a block run on a thread an SDK started (a poller): the sockets
        opened there are this deadline's too, cut by the watchdog that `__enter__` started."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def hang_up(self) -> None:
        """Shut down every socket opened under this deadline, now. A client that keeps its connections between
        operations calls it as each ends: a pooled socket is then never reused, unwatched, under a later
        deadline (the pool sees it dropped and opens a new one)."""
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            try:
                # The base class's shutdown: it wakes a thread blocked in a read, TLS or not; close() would not.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed, or never connected

    def run(self, call: Callable[[], _T], what: str) -> _T:
        """``call()`` in a helper thread, waited for until the deadline; its sockets are this deadline's."""
        outcome: dict[str, Any] = {}
        context = contextvars.copy_context()

        def target() -> None:
            try:
                outcome["value"] = context.run(call)
            except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
                outcome["error"] = error

        helper = threading.Thread(target=target, name=f"deadline-{what}", daemon=True)
        helper.start()
        helper.join(max(self.left(), 0.0))
        if helper.is_alive():
            raise OutOfTime(f"{what} did not finish before {self.out_of_time()}")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _opened(self, sock: socket.socket) -> None:
        if self.expired:
            raise OutOfTime(f"no connection is opened after {self.out_of_time()}")
        self._remember(sock)

    def _remember(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self._parent is not None:
            self._parent._remember(sock)

    def _expire(self) -> None:
        self.hang_up()


def pause(seconds: float, cap: float, deadline: Deadline | None = None) -> None:
    """Sleep ``seconds``, at most ``cap``; raise OutOfTime instead if that would end past the deadline (the
    given one, else the current context's)."""
    wanted = max(float(seconds), 0.0)
    seconds = min(wanted, cap)
    deadline = deadline or _current.get()
    if deadline is not None and seconds >= deadline.left():
        raise OutOfTime(
            f"waiting {wanted:.0f}s before retrying would pass the deadline", wanted_pause=wanted
        )
    time.sleep(seconds)
