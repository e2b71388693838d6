"""A loopback fake of the Azure Key Vault secrets data plane, for the real azure-keyvault-secrets client.

It speaks Key Vault's challenge protocol: a request without a bearer token gets 401 with
`WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="<resource>"`, and the client then
asks Entra ID (the fake one) for a token for that resource. The real client checks that the vault's host ends
with the resource's domain (kv-x.vault.azure.net ends with .vault.azure.net); on loopback the vault is
127.0.0.1:PORT, so the fake names its resource `https://0.0.1:PORT`, a true suffix, and the SDK's check runs
unmodified. Tokens must be ones the fake Entra ID issued for that resource.

Routes (api-version required): GET/PUT/DELETE /secrets/{name}[/{version}], GET /deletedsecrets/{name}, POST
/deletedsecrets/{name}/recover. Each principal's allowed operations model the data-plane roles; the firewall,
role propagation, a stall and a slow recovery are switches. Error bodies follow the service's shape, e.g.
403 {"error": {"code": "Forbidden", "message": "...", "innererror": {"code": "ForbiddenByFirewall"}}}.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.fakes.entra import FakeEntra, audience_of
from tests.fakes.server import LoopbackHttpsServer, Reply, Request
from tests.fakes.tls import TlsMaterial

SECRETS_OFFICER = frozenset({"get", "set", "delete", "get_deleted", "recover"})
"""What Key Vault Secrets Officer allows (among what the fake serves)."""
SECRETS_USER = frozenset({"get"})
"""What Key Vault Secrets User allows."""
DAY = 86400


@dataclass
class FakeVersion:
    version: str
    value: str
    content_type: str | None
    enabled: bool
    expires: int | None
    tags: dict[str, str]
    created: int


@dataclass
class FakeSecret:
    name: str
    versions: list[FakeVersion] = field(default_factory=list)
    deleted_date: int | None = None
    recovering_polls: int = 0
    """GETs of the live secret that still answer 404 after a recover was accepted."""


@dataclass(frozen=True)
class VaultRequest:
    """One request the fake received (no header values: they are tokens)."""

    method: str
    path: str
    operation: str
    status: int
    principal: str | None


class FakeKeyVault:
    """Fake vault; use as a context manager or call start()/stop()."""

    def __init__(self, tls: TlsMaterial, entra: FakeEntra, *, recovery_level: str = "Recoverable"):
        self.entra = entra
        self.recovery_level = recovery_level
        """Recovery level of deleted secrets: "Recoverable" (purge protection on) or "Recoverable+Purgeable"."""
        self.retention_days = 90
        self.permissions: dict[str, frozenset[str]] = {}
        """Allowed operations by client id (see SECRETS_OFFICER, SECRETS_USER)."""
        self.firewall_denies = False
        """Refuse every authenticated call with ForbiddenByFirewall (keyVaultNetworkDefaultAction Deny)."""
        self.client_address = "203.0.113.7"
        """The caller address the firewall reports."""
        self.propagating = 0
        """Refuse this many authorized calls with ForbiddenByRbac first (a new role assignment propagating)."""
        self.recovery_polls = 0
        """GETs of a recovered secret that answer 404 before it is usable (-1: never)."""
        self.delay = 0.0
        """Seconds every reply waits (a stalled vault)."""
        self.trickle = 0.0
        """Seconds between the bytes of every reply (a vault answering a byte at a time)."""
        self.challenge_resource: str | None = None
        """A resource the challenge names instead of this vault's own (a vault claiming another cloud)."""
        self.secrets: dict[str, FakeSecret] = {}
        self.requests: list[VaultRequest] = []
        self._faults: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._server = LoopbackHttpsServer(self._handle, tls)

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The vault URI, as ARM reports `properties.vaultUri`."""
        return self._server.base_url + "/"

    @property
    def resource(self) -> str:
        """The audience the challenge names (see the module docstring)."""
        return self.challenge_resource or "https://0.0.1:" + self._server.base_url.rsplit(":", 1)[1]

    def grant(self, client_id: str, operations: frozenset[str]) -> None:
        self.permissions[client_id] = operations

    def inject(self, operation: str, *replies: Reply) -> None:
        """Answer the next requests of `operation` (get, set, delete, get_deleted, recover) with `replies`."""
        with self._lock:
            self._faults.setdefault(operation, deque()).extend(replies)

    def start(self) -> FakeKeyVault:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeKeyVault:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state a test sets up or inspects ---------------------------------------------------------
    def put(self, name: str, value: str, **attributes: Any) -> None:
        """A live secret, written behind the program's back."""
        with self._lock:
            self._write(name, value, attributes)

    def soft_delete(self, name: str, value: str = "old-value", *, days_ago: int = 3) -> None:
        """A secret that was deleted `days_ago` and sits in the vault's deleted secrets."""
        with self._lock:
            secret = self._write(name, value, {})
            secret.deleted_date = int(time.time()) - days_ago * DAY

    def live(self, name: str) -> FakeVersion | None:
        with self._lock:
            secret = self.secrets.get(name)
            if secret is None or secret.deleted_date is not None or secret.recovering_polls:
                return None
            return secret.versions[-1]

    def is_deleted(self, name: str) -> bool:
        with self._lock:
            secret = self.secrets.get(name)
            return secret is not None and secret.deleted_date is not None

    def operations(self) -> list[str]:
        """The operation of every authenticated request, in order."""
        return [r.operation for r in self.requests if r.principal is not None]

    def secret_values(self) -> list[str]:
        with self._lock:
            return [v.value for s in self.secrets.values() for v in s.versions]

    # -- protocol -------------------------------------------------------------------------------
    def _handle(self, request: Request) -> Reply:
        operation, name, version = self._route(request)
        principal, refusal = self._authenticate(request)
        reply = refusal or self._authorize(principal, operation) or self._serve(request, operation, name, version)
        reply.delay = max(reply.delay, self.delay)
        reply.trickle = max(reply.trickle, self.trickle)
        with self._lock:
            self.requests.append(VaultRequest(request.method, request.path, operation, reply.status, principal))
        return reply

    @staticmethod
    def _route(request: Request) -> tuple[str, str, str]:
        parts = [unquote(part) for part in request.path.strip("/").split("/")]
        method = request.method
        if len(parts) >= 2 and parts[0] == "secrets":
            version = parts[2] if len(parts) > 2 else ""
            operation = {"GET": "get", "PUT": "set", "DELETE": "delete"}.get(method, "unknown")
            return operation, parts[1], version
        if len(parts) == 2 and parts[0] == "deletedsecrets" and method == "GET":
            return "get_deleted", parts[1], ""
        if len(parts) == 3 and parts[0] == "deletedsecrets" and parts[2] == "recover" and method == "POST":
            return "recover", parts[1], ""
        return "unknown", "", ""

    def _challenge(self) -> Reply:
        authority = f"{self.entra.authority}/{self.entra.tenant_id}"
        return Reply.json(
            401,
            {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}},
            **{"WWW-Authenticate": f'Bearer authorization="{authority}", resource="{self.resource}"'},
        )

    def _authenticate(self, request: Request) -> tuple[str | None, Reply | None]:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not bearer:
            return None, self._challenge()
        issued = self.entra.issued(bearer)
        if issued is None or audience_of(issued.audience) != audience_of(self.resource):
            return None, Reply.json(
                401, {"error": {"code": "Unauthorized", "message": "AKV10022: Invalid audience."}}
            )
        return issued.client_id, None

    def _authorize(self, principal: str | None, operation: str) -> Reply | None:
        if self.firewall_denies:
            return _forbidden(
                "ForbiddenByFirewall",
                "Client address is not authorized and caller is not a trusted service.\r\n"
                f"Client address: {self.client_address}\r\nCaller: appid={principal}\r\n"
                "Vault: kv-fake;location=westeurope",
            )
        with self._lock:
            allowed = operation in self.permissions.get(principal or "", frozenset())
            if allowed and self.propagating > 0:
                self.propagating -= 1
                allowed = False
        if allowed:
            return None
        return _forbidden(
            "ForbiddenByRbac",
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or "
            "role definitions were changed recently, please observe propagation time.\r\n"
            f"Caller: appid={principal}\r\nAction: '{operation}'\r\nAssignment: (not found)\r\n"
            "Vault: kv-fake;location=westeurope",
        )

    def _serve(self, request: Request, operation: str, name: str, version: str) -> Reply:
        if "api-version" not in request.query:
            return _error(400, "BadParameter", "The api-version query parameter is required.")
        with self._lock:
            faults = self._faults.get(operation)
            if faults:
                return faults.popleft()
            if operation == "get":
                return self._get(name, version)
            if operation == "set":
                return self._set(name, request.json() or {})
            if operation == "delete":
                return self._delete(name)
            if operation == "get_deleted":
                secret = self.secrets.get(name)
                if secret is None or secret.deleted_date is None:
                    return _error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
                return Reply.json(200, self._deleted_bundle(secret))
            if operation == "recover":
                return self._recover(name)
        return _error(404, "NotFound", f"no route {request.method} {request.path}")

    # Everything below runs under self._lock.
    def _write(self, name: str, value: str, attributes: dict[str, Any]) -> FakeSecret:
        secret = self.secrets.setdefault(name, FakeSecret(name))
        secret.versions.append(
            FakeVersion(
                version=uuid.uuid4().hex,
                value=value,
                content_type=attributes.get("contentType"),
                enabled=attributes.get("enabled", True),
                expires=attributes.get("exp"),
                tags=dict(attributes.get("tags") or {}),
                created=int(time.time()),
            )
        )
        return secret

    def _bundle(self, secret: FakeSecret, *, with_value: bool) -> dict[str, Any]:
        latest = secret.versions[-1]
        attributes: dict[str, Any] = {
            "enabled": latest.enabled,
            "created": latest.created,
            "updated": latest.created,
            "recoveryLevel": self.recovery_level,
            "recoverableDays": self.retention_days,
        }
        if latest.expires is not None:
            attributes["exp"] = latest.expires
        bundle: dict[str, Any] = {
            "id": f"{self._server.base_url}/secrets/{secret.name}/{latest.version}",
            "attributes": attributes,
            "tags": latest.tags,
        }
        if latest.content_type is not None:
            bundle["contentType"] = latest.content_type
        if with_value:
            bundle["value"] = latest.value
        return bundle

    def _deleted_bundle(self, secret: FakeSecret) -> dict[str, Any]:
        assert secret.deleted_date is not None
        return {
            **self._bundle(secret, with_value=False),
            "recoveryId": f"{self._server.base_url}/deletedsecrets/{secret.name}",
            "deletedDate": secret.deleted_date,
            "scheduledPurgeDate": secret.deleted_date + self.retention_days * DAY,
        }

    def _get(self, name: str, version: str) -> Reply:
        secret = self.secrets.get(name)
        if secret is not None and secret.recovering_polls:
            if secret.recovering_polls > 0:
                secret.recovering_polls -= 1
            return _error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
        if secret is None or secret.deleted_date is not None:
            return _error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
        if version and version not in {v.version for v in secret.versions}:
            return _error(404, "SecretNotFound", f"A secret with (name/id) {name}/{version} was not found.")
        return Reply.json(200, self._bundle(secret, with_value=True))

    def _set(self, name: str, body: dict[str, Any]) -> Reply:
        existing = self.secrets.get(name)
        if existing is not None and existing.deleted_date is not None:
            return _error(
                409,
                "Conflict",
                f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in "
                "this state, the secret can only be recovered or purged.",
            )
        if "value" not in body:
            return _error(400, "BadParameter", "Property value is required.")
        attributes = dict(body.get("attributes") or {})
        secret = self._write(
            name, body["value"], {**attributes, "contentType": body.get("contentType"), "tags": body.get("tags")}
        )
        return Reply.json(200, self._bundle(secret, with_value=True))

    def _delete(self, name: str) -> Reply:
        secret = self.secrets.get(name)
        if secret is None or secret.deleted_date is not None:
            return _error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
        secret.deleted_date = int(time.time())
        return Reply.json(200, self._deleted_bundle(secret))

    def _recover(self, name: str) -> Reply:
        secret = self.secrets.get(name)
        if secret is None or secret.deleted_date is None:
            return _error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        secret.deleted_date = None
        secret.recovering_polls = self.recovery_polls
        return Reply.json(200, self._bundle(secret, with_value=False))


def _error(status: int, code: str, message: str) -> Reply:
    return Reply.json(status, {"error": {"code": code, "message": message}})


def _forbidden(inner: str, message: str) -> Reply:
    return Reply.json(403, {"error": {"code": "Forbidden", "message": message, "innererror": {"code": inner}}})


def service_error(status: int, code: str, message: str) -> Reply:
    """A reply to inject, in the service's error shape."""
    return _error(status, code, message)



@dataclass
class VaultCloud:
    """A fake tenant with one service principal (client secret) and one vault."""

    tls: TlsMaterial
    entra: FakeEntra
    vault: FakeKeyVault
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)

    def environ(self) -> dict[str, str]:
        """Environment a process needs to reach the fakes with the client-secret credential."""
        return {
            "REQUESTS_CA_BUNDLE": str(self.tls.ca_bundle),
            "AZURE_CLIENT_SECRET": self.client_secret,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def secret_values(self) -> list[str]:
        """Everything that must never be printed, logged or raised: the client secret, tokens, secret values."""
        return [self.client_secret, *self.entra.issued_values(), *self.vault.secret_values()]


@contextmanager
def running_vault_cloud(tls: TlsMaterial, *, recovery_level: str = "Recoverable") -> Iterator[VaultCloud]:
    """Start a fake Entra ID and a fake vault where the service principal is Key Vault Secrets Officer."""
    tenant_id, client_id = str(uuid.uuid4()), str(uuid.uuid4())
    client_secret = secrets.token_urlsafe(30)
    with FakeEntra(tls, tenant_id) as entra, FakeKeyVault(tls, entra, recovery_level=recovery_level) as vault:
        entra.register_secret(client_id, client_secret)
        vault.grant(client_id, SECRETS_OFFICER)
        yield VaultCloud(tls, entra, vault, tenant_id, client_id, client_secret)
