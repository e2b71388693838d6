"""A loopback HTTPS server in a thread, shared by the fakes: each fake only maps a request to a reply."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.tls import TlsMaterial


@dataclass(frozen=True)
class Request:
    """One HTTP request as a fake sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Reply:
    """What a fake answers; `delay` sleeps before answering (to outlast a client's read timeout)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0
    """Seconds between bytes: when set, the whole reply (status line, headers, body) goes out one byte at a
    time, each receive well inside any read timeout, so only a deadline on the whole call ends it."""
    drop: bool = False
    """Close the connection without sending anything: the client sees the connection lost mid-request."""

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handle: Callable[[Request], Reply], tls: TlsMaterial):
        self.handle_request_fn = handle
        self.ssl_context = tls.server_context()
        self.errors: list[str] = []
        self.stopping = threading.Event()
        """Set by stop(): delayed and trickling replies end at once."""
        self.handshake_stalls: list[float] = []
        """Seconds to stall the TLS handshake of each next connection, consumed one per connection."""
        self._stall_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request, client_address):
        with self._stall_lock:
            stall = self.handshake_stalls.pop(0) if self.handshake_stalls else 0.0
        if stall and self.stopping.wait(stall):
            return
        # The TLS handshake runs in the request's own thread, so a stalled client never blocks accept().
        tls_socket = self.ssl_context.wrap_socket(request, server_side=True)
        super().finish_request(tls_socket, client_address)

    def handle_error(self, request, client_address):
        # Clients that hang up (read timeouts in the tests) are expected; keep stderr clean.
        self.errors.append(str(client_address))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each reply would stall ~40 ms on loopback.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.server.handle_request_fn(request)
        if reply.drop:
            self.close_connection = True
            return
        if reply.delay and self.server.stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.trickle:
            self._trickle(reply)
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _trickle(self, reply: Reply) -> None:
        phrase = self.responses.get(reply.status, ("",))[0]
        head = [f"HTTP/1.1 {reply.status} {phrase}"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        head.append(f"Content-Length: {len(reply.body)}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body
        self.close_connection = True
        for index in range(len(raw)):
            try:
                self.wfile.write(raw[index : index + 1])
            except OSError:
                return  # the client gave up
            if self.server.stopping.wait(reply.trickle):
                return

    do_GET = _serve
    do_POST = _serve
    # ARM writes (e.g. a Data Factory trigger's createOrUpdate) and deletes; token management's DELETE.
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve


class LoopbackHttpsServer:
    """Serves `handle` over HTTPS on 127.0.0.1 and an ephemeral port until `stop()`."""

    def __init__(self, handle: Callable[[Request], Reply], tls: TlsMaterial):
        self._server = _Server(handle, tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-https", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stall_handshakes(self, seconds: float, count: int = 1) -> None:
        """Stall the TLS handshake of the next ``count`` connections for ``seconds`` (a server that accepts a
        connection and then says nothing)."""
        with self._server._stall_lock:
            self._server.handshake_stalls.extend([seconds] * count)

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
