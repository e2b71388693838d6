"""The deploying identity's Entra ID credential, built once for every client the project runs.

The PAT provider, the smoke runs (`python -m ops smoke`) and the Data Factory trigger provider all
authenticate as the identity that runs `pulumi up`, through azure-identity, with one of three kinds:

- ``environment``: a client secret (``AZURE_CLIENT_SECRET``) or certificate (``AZURE_CLIENT_CERTIFICATE_PATH``
  and optional ``AZURE_CLIENT_CERTIFICATE_PASSWORD``) read from the process environment;
- ``managed_identity``: the managed identity with the given client id;
- ``azure_cli``: the ``az login`` session (e.g. an Azure DevOps ``AzureCLI@2`` step with workload identity
  federation).

No secret is ever an input: it is read here, from the environment, and registered with clients.redaction so
no text the process emits holds it. Sovereign clouds choose their authority host; the ARM audience and
endpoint follow from it.

`EntraTokens` hands out one operation's access tokens (``tokens(scope)``), inside the operation's deadline
(clients.deadline) and registered for redaction as they arrive.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from clients.deadline import current_deadline
from clients.redaction import REDACTOR, install_log_redaction, one_line

CREDENTIAL_KINDS = ("environment", "managed_identity", "azure_cli")
PUBLIC_CLOUD_AUTHORITY = "login.microsoftonline.com"
DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
"""Entra ID scope of the Azure Databricks resource (its application id is the same in every tenant)."""
# The management (ARM) audience and endpoint of each cloud, by its authority host.
MANAGEMENT_SCOPES = {
    "login.microsoftonline.com": "https://management.core.windows.net/.default",
    "login.microsoftonline.us": "https://management.core.usgovcloudapi.net/.default",
    "login.chinacloudapi.cn": "https://management.core.chinacloudapi.cn/.default",
}
RESOURCE_MANAGER_ENDPOINTS = {
    "login.microsoftonline.com": "https://management.azure.com",
    "login.microsoftonline.us": "https://management.usgovcloudapi.net",
    "login.chinacloudapi.cn": "https://management.chinacloudapi.cn",
}


class CredentialError(Exception):
    """No credential could be set up, or it could not get a token; the text never holds a secret."""


@dataclass(frozen=True)
class DeployerCredential:
    """An azure-identity credential of the deploying identity, and what callers must know about it."""

    credential: Any
    """An azure.core.credentials.TokenCredential (get_token(scope) -> AccessToken)."""
    description: str
    """How it authenticates, in words for error messages ("client secret from AZURE_CLIENT_SECRET")."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Secret values it read from the environment: redact them from any text that leaves the process."""

    def close(self) -> None:
        close = getattr(self.credential, "close", None)
        if close is not None:
            close()


def authority_hostname(authority_host: str | None) -> str:
    """`login.microsoftonline.us` for `https://login.microsoftonline.us/` or the bare host; the public cloud
    for None or ""."""
    value = authority_host or PUBLIC_CLOUD_AUTHORITY
    parts = urlsplit(value if "://" in value else f"https://{value}")
    return (parts.hostname or "").lower()


def known_authority_hosts() -> frozenset[str]:
    """Azure's well-known Entra ID authority hosts (azure.identity.AzureAuthorityHosts)."""
    from azure.identity import AzureAuthorityHosts

    return frozenset(value for name, value in vars(AzureAuthorityHosts).items() if name.startswith("AZURE_"))


def management_scope_for(authority_host: str | None) -> str:
    """The ARM scope of the cloud an authority host belongs to (the public cloud when not a known one)."""
    return MANAGEMENT_SCOPES.get(authority_hostname(authority_host), MANAGEMENT_SCOPES[PUBLIC_CLOUD_AUTHORITY])


def resource_manager_endpoint_for(authority_host: str | None) -> str:
    """The ARM endpoint of the cloud an authority host belongs to (the public cloud when not a known one)."""
    hostname = authority_hostname(authority_host)
    return RESOURCE_MANAGER_ENDPOINTS.get(hostname, RESOURCE_MANAGER_ENDPOINTS[PUBLIC_CLOUD_AUTHORITY])


def deployer_credential(
    kind: str,
    *,
    tenant_id: str,
    client_id: str | None,
    authority_host: str | None = None,
    environ: Mapping[str, str] | None = None,
    process_timeout: int = 30,
    **azure_core_options: Any,
) -> DeployerCredential:
    """Build the azure-identity credential for a ``kind`` (see CREDENTIAL_KINDS).

    ``azure_core_options`` (e.g. ``transport``, ``retry_total``, ``timeout``) are passed to the credentials
    that speak HTTP. An authority host that is not one of Azure's well-known ones (a test's loopback Entra
    ID, a private cloud) is used as given, with instance discovery off. Raises CredentialError, whose text
    never holds a secret. From the first call on, every log record of the process is redacted
    (clients.redaction.install_log_redaction).
    """
    environ = os.environ if environ is None else environ
    secret = environ.get("AZURE_CLIENT_SECRET") or None
    password = environ.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None
    for value in (secret, password):
        REDACTOR.add(value)
    # azure-identity's own WARNING lines quote what Entra ID answered: every process that authenticates (each
    # provider, the ops commands) redacts its log records from here on.
    install_log_redaction()
    authority = authority_host or PUBLIC_CLOUD_AUTHORITY
    common: dict[str, Any] = {
        "authority": authority,
        "disable_instance_discovery": authority_hostname(authority) not in known_authority_hosts(),
        **azure_core_options,
    }
    try:
        from azure.identity import (
            AzureCliCredential,
            CertificateCredential,
            ClientSecretCredential,
            ManagedIdentityCredential,
        )

        if kind == "environment":
            certificate_path = environ.get("AZURE_CLIENT_CERTIFICATE_PATH")
            if secret:
                return DeployerCredential(
                    ClientSecretCredential(tenant_id, client_id, secret, **common),
                    "client secret from AZURE_CLIENT_SECRET",
                    (secret,),
                )
            if certificate_path:
                credential = CertificateCredential(
                    tenant_id, client_id, certificate_path=certificate_path, password=password, **common
                )
                return DeployerCredential(
                    credential, "certificate from AZURE_CLIENT_CERTIFICATE_PATH", (password,) if password else ()
                )
            raise CredentialError(
                "credential 'environment' needs AZURE_CLIENT_SECRET, or AZURE_CLIENT_CERTIFICATE_PATH (with "
                "AZURE_CLIENT_CERTIFICATE_PASSWORD if its key is encrypted), in the environment of the "
                "process that runs Pulumi"
            )
        if kind == "managed_identity":
            options = {key: value for key, value in azure_core_options.items() if key == "transport"}
            return DeployerCredential(
                ManagedIdentityCredential(client_id=client_id, **options), f"managed identity {client_id}"
            )
        if kind == "azure_cli":
            # A subprocess, not HTTP: bounded by its own timeout.
            return DeployerCredential(
                AzureCliCredential(tenant_id=tenant_id, process_timeout=max(int(process_timeout), 1)),
                f"Azure CLI login for tenant {tenant_id}",
            )
    except CredentialError:
        raise
    except Exception as error:  # noqa: BLE001 - e.g. an unreadable certificate; never chain its text
        raise CredentialError(f"could not set up credential {kind!r}: {one_line(error)}") from None
    raise CredentialError(f"unknown credential kind {kind!r}; expected one of {', '.join(CREDENTIAL_KINDS)}")


# An access token is reused until this many seconds before it expires.
_TOKEN_REUSE_MARGIN = 300


@dataclass(frozen=True)
class Identity:
    """Whom to authenticate as: a credential kind (CREDENTIAL_KINDS) and the ids it needs."""

    kind: str
    tenant_id: str
    client_id: str | None = None


def identities_at_hand(tenant_id: str, environ: Mapping[str, str] | None = None) -> list[Identity]:
    """The identities this process's environment offers, for a call that may run as whoever runs Pulumi now:
    the service principal of AZURE_CLIENT_ID (in AZURE_TENANT_ID) with its secret or certificate; the managed
    identity when ARM_USE_MSI or an identity endpoint says there is one; the Azure CLI login."""
    environ = os.environ if environ is None else environ
    tenant = environ.get("AZURE_TENANT_ID") or tenant_id
    client_id = environ.get("AZURE_CLIENT_ID") or None
    found = []
    if client_id and (environ.get("AZURE_CLIENT_SECRET") or environ.get("AZURE_CLIENT_CERTIFICATE_PATH")):
        found.append(Identity("environment", tenant, client_id))
    if (
        environ.get("ARM_USE_MSI", "").lower() == "true"
        or environ.get("IDENTITY_ENDPOINT")
        or environ.get("MSI_ENDPOINT")
    ):
        found.append(Identity("managed_identity", tenant, client_id or environ.get("ARM_CLIENT_ID") or None))
    found.append(Identity("azure_cli", tenant))
    return found


class EntraTokens:
    """An identity's Entra ID access tokens for one operation: ``tokens(scope)`` returns one.

    - Each scope is requested once and its token reused until shortly before it expires.
    - Every token is registered with clients.redaction the moment it arrives, before anything can print it.
    - A token that cannot be sent in an HTTP header (a line break, a space, a control character) is refused:
      requests would print it in its header error.
    - Every failure is a CredentialError naming the credential and holding no secret; one ended by the
      operation's deadline says so. The credentials' HTTP runs on a `DeadlineTransport` (retry pauses capped
      at ``max_pause`` and never past the deadline; its sockets are the deadline's to close). The Azure CLI is
      a subprocess no socket watchdog reaches, so each of its requests gets a fresh credential whose process
      timeout is the time left.
    - With ``fallbacks``, an identity that cannot get its first token (not configured here, refused by Entra
      ID) gives way to the next: for calls that may run as whoever runs Pulumi now. Once one has a token, it
      is the operation's identity.
    """

    def __init__(
        self,
        kind: str,
        *,
        tenant_id: str,
        client_id: str | None,
        authority_host: str | None = None,
        environ: Mapping[str, str] | None = None,
        request_timeout: float = 30.0,
        max_pause: float = 30.0,
        fallbacks: Sequence[Identity] = (),
    ):
        primary = Identity(kind, tenant_id, client_id)
        self._candidates = [primary, *(identity for identity in fallbacks if identity != primary)]
        self._authority_host = authority_host
        self._environ = environ
        self._request_timeout = request_timeout
        self._max_pause = max_pause
        self._process_timeout = max(int(request_timeout), 1)
        self._index = 0
        self._settled = False
        self._failures: list[str] = []
        self._built: DeployerCredential | None = None
        self.requests: dict[str, int] = {}
        """Tokens requested from Entra ID (or the CLI) per scope."""
        self._cache: dict[str, tuple[str, float]] = {}
        if not fallbacks:
            self._built = self._build(primary)  # a credential that cannot be set up fails here, with its reason

    def __repr__(self) -> str:
        return f"EntraTokens({self.description})"

    @property
    def description(self) -> str:
        """How the operation's identity authenticates, in words for error messages."""
        if self._built is not None:
            return self._built.description
        identity = self._candidates[min(self._index, len(self._candidates) - 1)]
        return f"credential {identity.kind!r}"

    def _build(self, identity: Identity, process_timeout: int | None = None) -> DeployerCredential:
        from clients.transport import DeadlineTransport  # azure-core, loaded when a token is needed

        transport = DeadlineTransport(
            max_pause=self._max_pause, connection_timeout=self._request_timeout, read_timeout=self._request_timeout
        )
        # azure-core retries Entra ID a few times; the transport keeps its pauses inside the deadline.
        return deployer_credential(
            identity.kind,
            tenant_id=identity.tenant_id,
            client_id=identity.client_id,
            authority_host=self._authority_host,
            environ=self._environ,
            process_timeout=process_timeout or self._process_timeout,
            transport=transport,
            retry_total=3,
        )

    def __call__(self, scope: str) -> str:
        cached = self._cache.get(scope)
        if cached is not None and cached[1] - _TOKEN_REUSE_MARGIN > time.time():
            return cached[0]
        while True:
            deadline = current_deadline()
            if deadline is not None and deadline.expired:
                raise CredentialError(
                    f"no Entra ID token for {scope} was requested ({self.description}): {deadline.out_of_time()}"
                )
            try:
                access = self._get_token(scope)
                break
            except CredentialError as error:
                reason = str(error)
            except Exception as error:  # noqa: BLE001 - azure-identity raises several types; all mean "no token"
                expired = deadline is not None and deadline.expired
                reason = deadline.out_of_time() if expired else one_line(error)
                reason = f"could not get an Entra ID token for {scope} ({self.description}): {reason}"
            if self._settled or self._index + 1 >= len(self._candidates) or (deadline and deadline.expired):
                if self._failures:
                    tried = "; ".join(f"({number}) {text}" for number, text in enumerate([*self._failures, reason], 1))
                    reason = f"no identity at hand could authenticate: {tried}"
                raise CredentialError(reason) from None
            self._failures.append(reason)
            self.close()
            self._index, self._built = self._index + 1, None
        self._settled = True
        token = access.token
        REDACTOR.add(token)
        if not isinstance(token, str) or not token or any(c.isspace() or not c.isprintable() for c in token):
            raise CredentialError(
                f"Entra ID ({self.description}) returned a token for {scope} that cannot be sent in an HTTP "
                "header (it is empty or holds a line break, a space or a control character)"
            )
        self._cache[scope] = (token, float(access.expires_on))
        return token

    def _get_token(self, scope: str) -> Any:
        identity = self._candidates[self._index]
        if self._built is None:
            self._built = self._build(identity)
        self.requests[scope] = self.requests.get(scope, 0) + 1
        if identity.kind != "azure_cli":
            return self._built.credential.get_token(scope)
        deadline = current_deadline()
        timeout = self._process_timeout
        if deadline is not None:
            timeout = max(1, min(timeout, int(deadline.left())))
        return self._build(identity, timeout).credential.get_token(scope)

    def close(self) -> None:
        if self._built is not None:
            self._built.close()
