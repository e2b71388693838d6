"""A loopback fake of the Azure Databricks workspace APIs the PAT provider uses.

- Token API (the caller's own tokens): `POST /api/2.0/token/create`, `GET /api/2.0/token/list`,
  `POST /api/2.0/token/delete`.
- Token management (workspace admins only, every principal's tokens): `GET /api/2.0/token-management/tokens`,
  `GET|DELETE /api/2.0/token-management/tokens/{token_id}`.
- SCIM `GET /api/2.0/preview/scim/v2/Me`, and databricks-sdk's unauthenticated discovery probe
  `GET /.well-known/databricks-config`, answered 404 as an older workspace does.

Authentication follows Azure Databricks: the bearer token must be one the fake Entra ID issued for the
Databricks audience. A principal that is not a workspace user is refused (403) unless the call also carries
`X-Databricks-Azure-Workspace-Resource-Id` (this workspace) and `X-Databricks-Azure-SP-Management-Token` (an
Entra token for the management audience issued to the same principal), which admits it as a workspace admin,
as Azure does for a Contributor (`contributors`, when set, limits that to the principals in it; for anyone
else the headers change nothing). `add_user` registers other users, admin or not. Faults are injected per
endpoint and consumed one per request.
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
TOKEN_MANAGEMENT = "/api/2.0/token-management/tokens"
# Endpoint name -> (method, path); `{id}` is a token id.
ENDPOINTS = {
    "create": ("POST", "/api/2.0/token/create"),
    "list": ("GET", "/api/2.0/token/list"),
    "delete": ("POST", "/api/2.0/token/delete"),
    "tm_list": ("GET", TOKEN_MANAGEMENT),
    "tm_get": ("GET", f"{TOKEN_MANAGEMENT}/{{id}}"),
    "tm_delete": ("DELETE", f"{TOKEN_MANAGEMENT}/{{id}}"),
    "me": ("GET", "/api/2.0/preview/scim/v2/Me"),
    "discovery": ("GET", "/.well-known/databricks-config"),
}
NOT_ADMIN = "Only Admins can access token management APIs."


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour for the next request to an endpoint.

    With `status`, answer that status and a Databricks error body (with `Retry-After` if given) instead of
    serving the request, unless `process` is set (the request is served, then the reply is replaced: e.g. a
    429 or gateway error after the token was minted). Without `status`, the request is served and `body` (if
    given) rewrites the reply payload, e.g. into malformed JSON. `delay` sleeps before answering; `trickle`
    sends the reply one byte per `trickle` seconds.
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
    trickle: float = 0.0


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
    """The principal (client id) that created it."""
    owner_id: int
    revoked: bool = False

    def live(self, now_ms: int) -> bool:
        return not self.revoked and (self.expiry_time == -1 or self.expiry_time > now_ms)

    def public_info(self) -> dict[str, Any]:
        """As the Token API lists it."""
        return {
            "token_id": self.token_id,
            "creation_time": self.creation_time,
            "expiry_time": self.expiry_time,
            "comment": self.comment,
        }

    def info(self) -> dict[str, Any]:
        """As token management shows it to an admin."""
        return {
            **self.public_info(),
            "created_by_id": self.owner_id,
            "created_by_username": self.owner,
            "owner_id": self.owner_id,
        }


@dataclass(frozen=True)
class DatabricksRequest:
    """One request the fake received (no header values: they are tokens)."""

    method: str
    path: str
    endpoint: str | None
    """Its name in ENDPOINTS, None for an unknown path."""
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
        self.admins: set[str] = set()
        """Workspace users in the admins group (may use token management)."""
        self.contributors: set[str] | None = None
        """Principals with Contributor on the workspace (None: every principal with a management token)."""
        self.tokens: dict[str, FakeToken] = {}
        self.requests: list[DatabricksRequest] = []
        self._user_ids: dict[str, int] = {}
        self._faults: dict[str, deque[Fault]] = {name: deque() for name in ENDPOINTS}
        self._lock = threading.Lock()
        self._server = LoopbackHttpsServer(self._handle, tls)

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._server.base_url

    def add_user(self, principal: str, *, admin: bool = False) -> None:
        """Make a principal a workspace user (and an admin if asked)."""
        with self._lock:
            self.users.add(principal)
            if admin:
                self.admins.add(principal)

    def user_id(self, principal: str) -> int:
        """The principal's numeric Databricks user id (stable for the fake's life)."""
        with self._lock:
            return self._user_id(principal)

    def inject(self, endpoint: str, *faults: Fault) -> None:
        """Queue faults for `endpoint` (a key of ENDPOINTS), consumed one per request."""
        with self._lock:
            self._faults[endpoint].extend(faults)

    def stall_handshakes(self, seconds: float, count: int = 1) -> None:
        """Stall the TLS handshake of the next ``count`` connections (see LoopbackHttpsServer)."""
        self._server.stall_handshakes(seconds, count)

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
        """Requests to `endpoint` (every request, the discovery probe included, when None)."""
        return sum(1 for r in self.requests if endpoint is None or r.endpoint == endpoint)

    # -- protocol -------------------------------------------------------------------------------
    def _user_id(self, principal: str) -> int:
        return self._user_ids.setdefault(principal, 1000 + len(self._user_ids))

    def _endpoint(self, request: Request) -> tuple[str | None, str | None]:
        """(endpoint name, token id in the path)."""
        if request.path.startswith(f"{TOKEN_MANAGEMENT}/"):
            token_id = request.path.removeprefix(f"{TOKEN_MANAGEMENT}/")
            if request.method == "DELETE":
                return "tm_delete", token_id
            return ("tm_get", token_id) if request.method == "GET" else (None, None)
        for name, (method, path) in ENDPOINTS.items():
            if request.path == path and request.method == method:
                return name, None
        return None, None

    def _handle(self, request: Request) -> Reply:
        endpoint, token_id = self._endpoint(request)
        principal: str | None = None
        if endpoint == "discovery":
            reply = self._faulty(endpoint, request, None, None)
        else:
            principal, refusal = self._authenticate(request)
            if refusal is not None:
                reply = refusal
            elif endpoint is None:
                reply = _error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{request.method} {request.path}'")
            else:
                reply = self._faulty(endpoint, request, principal, token_id)
        with self._lock:
            self.requests.append(
                DatabricksRequest(
                    method=request.method,
                    path=request.path,
                    endpoint=endpoint,
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
            # A Contributor on the workspace is admitted as a workspace admin.
            if self.contributors is None or principal in self.contributors:
                self.add_user(principal, admin=True)
        if principal not in self.users:
            return principal, _error(
                403, "PERMISSION_DENIED", f"Principal {principal} is not a user of this workspace."
            )
        return principal, None

    def _faulty(self, endpoint: str, request: Request, principal: str | None, token_id: str | None) -> Reply:
        with self._lock:
            fault = self._faults[endpoint].popleft() if self._faults[endpoint] else None

        def serve() -> Reply:
            if endpoint == "discovery":
                return _error(404, "ENDPOINT_NOT_FOUND", "No API found for 'GET /.well-known/databricks-config'")
            assert principal is not None
            if endpoint.startswith("tm_") and principal not in self.admins:
                return _error(403, "PERMISSION_DENIED", NOT_ADMIN)
            handler = getattr(self, f"_{endpoint}")
            return handler(request, principal, token_id)

        if fault is None:
            return serve()
        reply = serve() if fault.process or fault.status is None else None
        if fault.status is not None:
            headers = dict(fault.headers)
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            reply = _error(fault.status, fault.error_code, fault.message, **headers)
        elif fault.body is not None and reply is not None:
            reply = Reply(reply.status, fault.body(_json_of(reply)), {"Content-Type": "application/json"})
        assert reply is not None
        reply.delay = fault.delay
        reply.trickle = fault.trickle
        return reply

    def _create(self, request: Request, principal: str, _token_id: str | None) -> Reply:
        try:
            payload = request.json() or {}
        except ValueError:
            return _error(400, "MALFORMED_REQUEST", "Request body is not JSON.")
        lifetime = payload.get("lifetime_seconds")
        if lifetime is not None and (not isinstance(lifetime, int) or isinstance(lifetime, bool)):
            return _error(400, "INVALID_PARAMETER_VALUE", "lifetime_seconds must be an integer.")
        now_ms = int(time.time() * 1000)
        with self._lock:
            token = FakeToken(
                token_id=secrets.token_hex(32),
                # Shaped like a Databricks PAT: dapi + 32 hex digits.
                token_value=f"dapi{secrets.token_hex(16)}",
                comment=str(payload.get("comment", "")),
                creation_time=now_ms,
                # Like Databricks: no lifetime means a token that never expires.
                expiry_time=-1 if lifetime is None or lifetime <= 0 else now_ms + lifetime * 1000,
                owner=principal,
                owner_id=self._user_id(principal),
            )
            self.tokens[token.token_id] = token
        return Reply.json(200, {"token_value": token.token_value, "token_info": token.public_info()})

    def _list(self, request: Request, principal: str, _token_id: str | None) -> Reply:
        now_ms = int(time.time() * 1000)
        with self._lock:
            infos = [t.public_info() for t in self.tokens.values() if t.owner == principal and t.live(now_ms)]
        return Reply.json(200, {"token_infos": infos})

    def _delete(self, request: Request, principal: str, _token_id: str | None) -> Reply:
        try:
            token_id = (request.json() or {}).get("token_id")
        except ValueError:
            return _error(400, "MALFORMED_REQUEST", "Request body is not JSON.")
        now_ms = int(time.time() * 1000)
        with self._lock:
            token = self.tokens.get(token_id or "")
            # The Token API only knows the caller's own tokens.
            if token is None or token.owner != principal or not token.live(now_ms):
                if self.gone_status == 404:
                    return _error(404, "RESOURCE_DOES_NOT_EXIST", f"Token {token_id} does not exist.")
                return _error(400, "INVALID_PARAMETER_VALUE", f"Token {token_id} does not exist.")
            token.revoked = True
        return Reply.json(200, {})

    def _tm_list(self, request: Request, principal: str, _token_id: str | None) -> Reply:
        by_id = (request.query.get("created_by_id") or [None])[0]
        by_name = (request.query.get("created_by_username") or [None])[0]
        now_ms = int(time.time() * 1000)
        with self._lock:
            infos = [
                t.info()
                for t in self.tokens.values()
                if t.live(now_ms)
                and (by_id is None or str(t.owner_id) == by_id)
                and (by_name is None or t.owner == by_name)
            ]
        return Reply.json(200, {"token_infos": infos})

    def _known(self, token_id: str | None) -> FakeToken | None:
        # Token management still shows an expired token until it is revoked; a revoked one is gone.
        token = self.tokens.get(token_id or "")
        return None if token is None or token.revoked else token

    def _tm_get(self, request: Request, principal: str, token_id: str | None) -> Reply:
        with self._lock:
            token = self._known(token_id)
            if token is None:
                return _error(404, "RESOURCE_DOES_NOT_EXIST", f"Token with id {token_id} does not exist.")
            return Reply.json(200, {"token_info": token.info()})

    def _tm_delete(self, request: Request, principal: str, token_id: str | None) -> Reply:
        with self._lock:
            token = self._known(token_id)
            if token is None:
                return _error(404, "RESOURCE_DOES_NOT_EXIST", f"Token with id {token_id} does not exist.")
            token.revoked = True
        return Reply.json(200, {})

    def _me(self, request: Request, principal: str, _token_id: str | None) -> Reply:
        with self._lock:
            user_id = self._user_id(principal)
        return Reply.json(
            200,
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": str(user_id),
                "userName": principal,
                "displayName": principal,
                "active": True,
            },
        )


def _json_of(reply: Reply) -> dict[str, Any]:
    return json.loads(reply.body or b"{}")
