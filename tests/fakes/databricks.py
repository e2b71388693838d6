"""A loopback fake of the Azure Databricks Token API (`/api/2.0/token/create|list|delete`).

Authentication follows Azure Databricks: the bearer token must be one the fake Entra ID issued for the
Databricks audience. A service principal that is not yet a workspace user is refused (403) unless the call
also carries `X-Databricks-Azure-Workspace-Resource-Id` (this workspace) and
`X-Databricks-Azure-SP-Management-Token` (an Entra token for the management audience issued to the same
principal), which admits it. Faults are injected per endpoint and consumed one per request.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.entra import DATABRICKS_AUDIENCE, MANAGEMENT_AUDIENCE, FakeEntra
from tests.fakes.server import LoopbackHttpsServer, Reply, Request
from tests.fakes.tls import TlsMaterial

RESOURCE_ID_HEADER = "x-databricks-azure-workspace-resource-id"
MANAGEMENT_TOKEN_HEADER = "x-databricks-azure-sp-management-token"
ENDPOINTS = {
    "create": "/api/2.0/token/create",
    "list": "/api/2.0/token/list",
    "delete": "/api/2.0/token/delete",
}


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour for the next request to an endpoint.

    With `status`, answer that status and a Databricks error body (with `Retry-After` if given) instead of
    serving the request, unless `process` is set (the request is served, then the reply is replaced: a
    gateway error after the work was done). Without `status`, the request is served and `body` (if given)
    rewrites the reply payload, e.g. into malformed JSON. `delay` sleeps before answering.
    """

    status: int | None = None
    error_code: str = "TEMPORARILY_UNAVAILABLE"
    message: str = "The service is temporarily unavailable."
    retry_after: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """Extra reply headers with `status`, e.g. (("Location", "…"),) for a redirect."""
    delay: float = 0.0
    process: bool = False
    body: Callable[[dict[str, Any]], bytes] | None = None


@dataclass
class FakeToken:
    token_id: str
    token_value: str
    comment: str
    creation_time: int
    """Epoch milliseconds."""
    expiry_time: int
    """Epoch milliseconds; -1 means the token never expires."""
    owner: str
    revoked: bool = False

    def live(self, now_ms: int) -> bool:
        return not self.revoked and (self.expiry_time == -1 or self.expiry_time > now_ms)

    def info(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "creation_time": self.creation_time,
            "expiry_time": self.expiry_time,
            "comment": self.comment,
            "created_by_id": 4242,
            "created_by_username": self.owner,
            "owner_id": 4242,
        }


@dataclass(frozen=True)
class DatabricksRequest:
    """One request the fake received (no header values: they are tokens)."""

    method: str
    path: str
    status: int
    principal: str | None
    management_headers: bool
    """True when both management headers were sent."""
    header_names: frozenset[str]


def _error(status: int, error_code: str, message: str, **headers: str) -> Reply:
    return Reply.json(status, {"error_code": error_code, "message": message}, **headers)


class FakeDatabricks:
    """Fake Azure Databricks workspace; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        tls: TlsMaterial,
        entra: FakeEntra,
        *,
        workspace_resource_id: str,
        gone_status: int = 404,
    ):
        self.entra = entra
        self.workspace_resource_id = workspace_resource_id
        self.gone_status = gone_status
        """How token/delete answers for an unknown token: 404 RESOURCE_DOES_NOT_EXIST or 400."""
        self.users: set[str] = set()
        """Principals (client ids) that are workspace users."""
        self.tokens: dict[str, FakeToken] = {}
        self.requests: list[DatabricksRequest] = []
        self._faults: dict[str, deque[Fault]] = {name: deque() for name in ENDPOINTS}
        self._lock = threading.Lock()
        self._server = LoopbackHttpsServer(self._handle, tls)

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._server.base_url

    def inject(self, endpoint: str, *faults: Fault) -> None:
        """Queue faults for `endpoint` ("create", "list" or "delete"), consumed one per request."""
        with self._lock:
            self._faults[endpoint].extend(faults)

    def start(self) -> FakeDatabricks:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeDatabricks:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests inspect or do behind the provider's back ------------------------------------
    def revoke(self, token_id: str) -> None:
        """Revoke a token out of band (an admin in the UI, a leaked-token sweep)."""
        with self._lock:
            self.tokens[token_id].revoked = True

    def live_tokens(self) -> list[FakeToken]:
        now_ms = int(time.time() * 1000)
        with self._lock:
            return [t for t in self.tokens.values() if t.live(now_ms)]

    def token_values(self) -> list[str]:
        with self._lock:
            return [t.token_value for t in self.tokens.values()]

    def count(self, endpoint: str | None = None) -> int:
        path = ENDPOINTS[endpoint] if endpoint else None
        return sum(1 for r in self.requests if path is None or r.path == path)

    # -- protocol -------------------------------------------------------------------------------
    def _handle(self, request: Request) -> Reply:
        principal, refusal = self._authenticate(request)
        reply = refusal or self._route(request, principal)
        with self._lock:
            self.requests.append(
                DatabricksRequest(
                    method=request.method,
                    path=request.path,
                    status=reply.status,
                    principal=principal,
                    management_headers=RESOURCE_ID_HEADER in request.headers
                    and MANAGEMENT_TOKEN_HEADER in request.headers,
                    header_names=frozenset(request.headers),
                )
            )
        return reply

    def _authenticate(self, request: Request) -> tuple[str | None, Reply | None]:
        authorization = request.headers.get("authorization", "")
        scheme, _, bearer = authorization.partition(" ")
        issued = self.entra.issued(bearer) if scheme == "Bearer" else None
        if issued is None or issued.audience != DATABRICKS_AUDIENCE:
            return None, _error(401, "UNAUTHENTICATED", "Invalid access token.")
        principal = issued.client_id
        resource_id = request.headers.get(RESOURCE_ID_HEADER)
        management_token = request.headers.get(MANAGEMENT_TOKEN_HEADER)
        if resource_id is not None or management_token is not None:
            management = self.entra.issued(management_token or "")
            if resource_id is None or resource_id.lower() != self.workspace_resource_id.lower():
                return principal, _error(
                    403, "PERMISSION_DENIED", "Workspace resource id does not match this workspace."
                )
            if management is None or management.audience != MANAGEMENT_AUDIENCE:
                return principal, _error(403, "PERMISSION_DENIED", "Invalid management token.")
            if management.client_id != principal:
                return principal, _error(
                    403, "PERMISSION_DENIED", "Management token belongs to another principal."
                )
            with self._lock:
                self.users.add(principal)
        if principal not in self.users:
            return principal, _error(
                403, "PERMISSION_DENIED", f"Principal {principal} is not a user of this workspace."
            )
        return principal, None

    def _route(self, request: Request, principal: str | None) -> Reply:
        assert principal is not None
        endpoint = next((name for name, path in ENDPOINTS.items() if request.path == path), None)
        if endpoint is None:
            return _error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{request.method} {request.path}'")
        expected_method = "GET" if endpoint == "list" else "POST"
        if request.method != expected_method:
            return _error(405, "BAD_REQUEST", f"{request.method} is not allowed on {request.path}")

        with self._lock:
            fault = self._faults[endpoint].popleft() if self._faults[endpoint] else None
        serve = getattr(self, f"_{endpoint}")
        if fault is None:
            return serve(request, principal)
        reply = serve(request, principal) if fault.process or fault.status is None else None
        if fault.status is not None:
            headers = dict(fault.headers)
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            reply = _error(fault.status, fault.error_code, fault.message, **headers)
        elif fault.body is not None and reply is not None:
            reply = Reply(reply.status, fault.body(_json_of(reply)), {"Content-Type": "application/json"})
        assert reply is not None
        reply.delay = fault.delay
        return reply

    def _create(self, request: Request, principal: str) -> Reply:
        try:
            payload = request.json() or {}
        except ValueError:
            return _error(400, "MALFORMED_REQUEST", "Request body is not JSON.")
        lifetime = payload.get("lifetime_seconds")
        if lifetime is not None and (not isinstance(lifetime, int) or isinstance(lifetime, bool)):
            return _error(400, "INVALID_PARAMETER_VALUE", "lifetime_seconds must be an integer.")
        now_ms = int(time.time() * 1000)
        token = FakeToken(
            token_id=secrets.token_hex(32),
            token_value=f"fakepat{secrets.token_hex(20)}",
            comment=str(payload.get("comment", "")),
            creation_time=now_ms,
            # Like Databricks: no lifetime means a token that never expires.
            expiry_time=-1 if lifetime is None or lifetime <= 0 else now_ms + lifetime * 1000,
            owner=principal,
        )
        with self._lock:
            self.tokens[token.token_id] = token
        info = token.info()
        return Reply.json(200, {"token_value": token.token_value, "token_info": info})

    def _list(self, request: Request, principal: str) -> Reply:
        now_ms = int(time.time() * 1000)
        with self._lock:
            infos = [t.info() for t in self.tokens.values() if t.owner == principal and t.live(now_ms)]
        return Reply.json(200, {"token_infos": infos})

    def _delete(self, request: Request, principal: str) -> Reply:
        try:
            token_id = (request.json() or {}).get("token_id")
        except ValueError:
            return _error(400, "MALFORMED_REQUEST", "Request body is not JSON.")
        now_ms = int(time.time() * 1000)
        with self._lock:
            token = self.tokens.get(token_id or "")
            if token is None or token.owner != principal or not token.live(now_ms):
                if self.gone_status == 404:
                    return _error(404, "RESOURCE_DOES_NOT_EXIST", f"Token {token_id} does not exist.")
                return _error(400, "INVALID_PARAMETER_VALUE", f"Token {token_id} does not exist.")
            token.revoked = True
        return Reply.json(200, {})


def _json_of(reply: Reply) -> dict[str, Any]:
    return json.loads(reply.body or b"{}")
