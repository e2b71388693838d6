"""A loopback fake of Microsoft Entra ID (AAD) for azure-identity / MSAL.

It speaks the real protocol: OpenID discovery at `/{tenant}/v2.0/.well-known/openid-configuration`, the
client-credentials grant at `/{tenant}/oauth2/v2.0/token` (client secret, or a certificate-signed client
assertion it verifies with the registered certificate), and an App Service style managed-identity endpoint
at `/msi/token`. Access tokens are shaped like Entra ID's (a JWT: base64url header, claims and signature),
random per request and generated at test time; the fake remembers which principal and audience each was
issued for so the fake Databricks can check them. Faults (`EntraFault`) are injected for the token
endpoints and consumed one per token request.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from cryptography import x509

from tests.fakes.server import LoopbackHttpsServer, Reply, Request
from tests.fakes.tls import TlsMaterial

DATABRICKS_AUDIENCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
MANAGEMENT_AUDIENCE = "https://management.core.windows.net"


def audience_of(scope_or_resource: str) -> str:
    """`https://management.core.windows.net/.default` and `…windows.net/` both name one audience."""
    value = scope_or_resource.strip()
    value = value.removesuffix("/.default")
    return value.rstrip("/")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class EntraFault:
    """One misbehaviour of the next token request (client credentials or managed identity).

    With `status`, answer it with an OAuth error body (and `Retry-After` if given). With `body`, issue a token
    as usual (it counts as issued, so leak checks cover it) but answer 200 with `body(token)`, e.g. an invalid
    reply that still carries it. `delay` waits before answering; `trickle` sends the reply a byte at a time.
    """

    status: int | None = None
    error: str = "temporarily_unavailable"
    description: str = "AADSTS50196: The server is temporarily unavailable."
    retry_after: str | None = None
    body: Callable[[str], bytes] | None = None
    delay: float = 0.0
    trickle: float = 0.0


@dataclass(frozen=True)
class IssuedToken:
    """Who an access token was issued to and for which audience."""

    client_id: str
    audience: str


@dataclass(frozen=True)
class EntraRequest:
    """One request the fake received: `kind` is discovery, token or managed_identity."""

    kind: str
    path: str
    client_id: str | None = None
    audience: str | None = None
    status: int = 200


class FakeEntra:
    """Fake Entra ID tenant; use as a context manager or call start()/stop()."""

    def __init__(self, tls: TlsMaterial, tenant_id: str):
        self.tenant_id = tenant_id
        self._lock = threading.Lock()
        self._client_secrets: dict[str, str] = {}
        self._client_certificates: dict[str, x509.Certificate] = {}
        self._managed_identities: set[str] = set()
        self._issued: dict[str, IssuedToken] = {}
        self.requests: list[EntraRequest] = []
        self.managed_identity_header = secrets.token_hex(16)
        """The value of IDENTITY_HEADER a managed-identity client must send."""
        self.token_delay = 0.0
        """Seconds the token endpoints wait before answering (a stalled Entra ID); discovery is not delayed."""
        self._faults: deque[EntraFault] = deque()
        self._server = LoopbackHttpsServer(self._handle, tls)

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def authority(self) -> str:
        """What to pass as the authority host: `https://127.0.0.1:PORT`."""
        return self._server.base_url

    @property
    def managed_identity_endpoint(self) -> str:
        """The value of IDENTITY_ENDPOINT for an App Service style managed identity."""
        return f"{self._server.base_url}/msi/token"

    def register_secret(self, client_id: str, client_secret: str) -> None:
        self._client_secrets[client_id] = client_secret

    def register_certificate(self, client_id: str, certificate: x509.Certificate) -> None:
        self._client_certificates[client_id] = certificate

    def register_managed_identity(self, client_id: str) -> None:
        self._managed_identities.add(client_id)

    def inject(self, *faults: EntraFault) -> None:
        """Queue faults for the token endpoints, consumed one per token request."""
        with self._lock:
            self._faults.extend(faults)

    def stall_handshakes(self, seconds: float, count: int = 1) -> None:
        """Stall the TLS handshake of the next ``count`` connections (see LoopbackHttpsServer)."""
        self._server.stall_handshakes(seconds, count)

    def start(self) -> FakeEntra:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeEntra:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests inspect ---------------------------------------------------------------------
    def issued(self, access_token: str) -> IssuedToken | None:
        with self._lock:
            return self._issued.get(access_token)

    def issued_values(self) -> list[str]:
        """Every access token handed out (for leak checks)."""
        with self._lock:
            return list(self._issued)

    def token_requests(self, audience: str | None = None) -> list[EntraRequest]:
        return [
            r
            for r in self.requests
            if r.kind in ("token", "managed_identity") and (audience is None or r.audience == audience)
        ]

    # -- protocol -------------------------------------------------------------------------------
    def _record(self, request: EntraRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _issue(self, client_id: str, audience: str) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": secrets.token_hex(8)}
        claims = {"aud": audience, "appid": client_id, "iat": now, "exp": now + 3599, "uti": secrets.token_hex(12)}
        parts = (json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(64))
        token = ".".join(_b64url(part) for part in parts)
        with self._lock:
            self._issued[token] = IssuedToken(client_id=client_id, audience=audience)
        return token

    def _token_endpoint(self) -> str:
        return f"{self._server.base_url}/{self.tenant_id}/oauth2/v2.0/token"

    def _handle(self, request: Request) -> Reply:
        tenant_prefix = f"/{self.tenant_id}"
        if (
            request.method == "GET"
            and request.path == f"{tenant_prefix}/v2.0/.well-known/openid-configuration"
        ):
            self._record(EntraRequest("discovery", request.path))
            base = f"{self._server.base_url}{tenant_prefix}"
            return Reply.json(
                200,
                {
                    "issuer": f"{base}/v2.0",
                    "token_endpoint": self._token_endpoint(),
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "tenant_region_scope": "EU",
                },
            )
        if request.method == "POST" and request.path == f"{tenant_prefix}/oauth2/v2.0/token":
            return self._faulty(request, self._client_credentials)
        if request.method == "GET" and request.path == "/msi/token":
            return self._faulty(request, self._managed_identity)
        self._record(EntraRequest("unknown", request.path, status=404))
        return Reply.json(404, {"error": "not_found", "error_description": f"no route {request.path}"})

    def _faulty(self, request: Request, serve: Callable[[Request], Reply]) -> Reply:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is None:
            reply = serve(request)
        elif fault.status is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            reply = Reply.json(
                fault.status, {"error": fault.error, "error_description": fault.description}, **headers
            )
            kind = "managed_identity" if request.path == "/msi/token" else "token"
            self._record(EntraRequest(kind, request.path, status=fault.status))
        else:
            reply = serve(request)
            if fault.body is not None and reply.status == 200:
                token = json.loads(reply.body)["access_token"]
                reply = Reply(200, fault.body(token), {"Content-Type": "application/json"})
        reply.delay = fault.delay if fault is not None and fault.delay else self.token_delay
        reply.trickle = fault.trickle if fault is not None else 0.0
        return reply

    def _client_credentials(self, request: Request) -> Reply:
        form = request.form()
        client_id = form.get("client_id", "")
        scopes = [s for s in form.get("scope", "").split() if s.endswith("/.default")]
        audience = audience_of(scopes[0]) if len(scopes) == 1 else None

        def refuse(status: int, error: str, description: str) -> Reply:
            self._record(EntraRequest("token", request.path, client_id, audience, status))
            return Reply.json(status, {"error": error, "error_description": description})

        if form.get("grant_type") != "client_credentials":
            return refuse(400, "unsupported_grant_type", "AADSTS70003: only client_credentials is faked")
        if audience is None:
            return refuse(400, "invalid_scope", "AADSTS1002012: exactly one '/.default' scope is required")
        if not self._client_authenticated(client_id, form):
            return refuse(
                401, "invalid_client", "AADSTS7000215: Invalid client secret or assertion provided."
            )
        token = self._issue(client_id, audience)
        self._record(EntraRequest("token", request.path, client_id, audience))
        return Reply.json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            },
        )

    def _client_authenticated(self, client_id: str, form: dict[str, str]) -> bool:
        if "client_secret" in form:
            expected = self._client_secrets.get(client_id)
            return expected is not None and secrets.compare_digest(expected, form["client_secret"])
        certificate = self._client_certificates.get(client_id)
        assertion = form.get("client_assertion")
        if certificate is None or not assertion:
            return False
        try:
            claims = jwt.decode(
                assertion,
                certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=self._token_endpoint(),
            )
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == client_id and claims.get("sub") == client_id

    def _managed_identity(self, request: Request) -> Reply:
        client_id = (request.query.get("client_id") or [""])[0]
        resource = (request.query.get("resource") or [""])[0]
        audience = audience_of(resource) if resource else None
        if request.headers.get("x-identity-header") != self.managed_identity_header:
            self._record(EntraRequest("managed_identity", request.path, client_id, audience, 401))
            return Reply.json(401, {"error": "unauthorized", "error_description": "bad X-IDENTITY-HEADER"})
        if client_id not in self._managed_identities or audience is None:
            self._record(EntraRequest("managed_identity", request.path, client_id, audience, 400))
            return Reply.json(400, {"error": "invalid_request", "error_description": "unknown identity"})
        token = self._issue(client_id, audience)
        self._record(EntraRequest("managed_identity", request.path, client_id, audience))
        return Reply.json(
            200,
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3600),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id,
            },
        )
