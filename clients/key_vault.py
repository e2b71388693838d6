"""The stage's Key Vault secrets through the vault's data plane, as the deploying identity.

Why the data plane and not ARM: ARM can write a secret but cannot delete, list deleted or recover one, and
pulumi-azure-native refuses to create a secret that already exists ("cannot create already existing
resource"), so a soft-deleted name recovered before an ARM write still fails. azure-keyvault-secrets'
SecretClient does all of it on one credential (clients.identity); it speaks Key Vault's challenge protocol,
which names the audience for each cloud (vault.azure.net, vault.usgovcloudapi.net, vault.azure.cn) and checks
that it matches the vault's host.

What the SDK cannot do, and this module adds:

- one deadline per operation, Entra ID calls included: the SDK's read timeout applies to each receive, so a
  vault that answers a byte at a time could hold a call for minutes. Each operation runs on the caller's
  thread inside a clients.deadline.Deadline, whose watchdog shuts down the operation's sockets at the deadline
  (the request is really cut: nothing carries on behind a reported timeout), and the SecretClient's transport
  (clients.transport.DeadlineTransport) sends nothing after it and never pauses past it. A delete or recover is
  polled on the caller's thread too, not on the SDK's poller thread;
- waiting out role propagation: a new Key Vault Secrets Officer assignment takes minutes (up to ten) to apply,
  so on a new stage the first write is refused (ForbiddenByRbac) for a while; writes retry that, and only
  that, until ``VaultPolicy.rbac_wait`` (5 minutes) has passed, then say to run `pulumi up` again;
- messages a user can act on, naming the vault, the secret and what to change (the firewall address, the
  role, the exact ``az keyvault secret recover`` command); they never hold a secret value or a token.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from clients.deadline import Deadline, OutOfTime, current_deadline
from clients.identity import CredentialError, DeployerCredential
from clients.redaction import REDACTOR

_T = TypeVar("_T")
_CLIENT_ADDRESS = re.compile(r"Client address:\s*([0-9A-Fa-f.:]+)")


@dataclass(frozen=True)
class VaultPolicy:
    """Timeouts of the data-plane calls; the defaults are for production, tests shorten them."""

    time_budget: float = 120.0
    """Seconds one operation may take, every HTTP call to Entra ID and the vault included."""
    connect_timeout: float = 10.0
    """Seconds to open one connection."""
    read_timeout: float = 30.0
    """Seconds to wait for each receive (the operation's deadline bounds the sum)."""
    retry_total: int = 3
    """Retries of throttled (429) and failed (5xx, connection) calls, the SDK's own policy."""
    retry_backoff_max: float = 8.0
    """Longest pause between two retries (however long a Retry-After asks for), or two polls of a delete or
    recover."""
    rbac_wait: float = 300.0
    """Seconds a write keeps retrying ForbiddenByRbac: a new role assignment takes minutes (up to 10) to apply."""
    rbac_retry_interval: float = 10.0
    """Pause between two writes refused while the role propagates."""


class VaultError(Exception):
    """A data-plane operation failed; the text says what to change and never holds a secret or a token."""


class _RbacDenied(VaultError):
    """The vault refused the caller by role (ForbiddenByRbac): possibly a role assignment still propagating."""


class _Conflict(VaultError):
    """The vault refused a write with 409: typically the name is soft-deleted or being deleted."""


@dataclass(frozen=True)
class SecretState:
    """What the vault holds for a secret (its latest version)."""

    version: str
    content_type: str | None
    expires_on: datetime | None
    enabled: bool | None
    tags: dict[str, str]
    value: str = field(repr=False)


@dataclass(frozen=True)
class Written:
    """The outcome of creating a secret."""

    version: str
    """The version the write created."""
    recovered: bool
    """Whether the name was soft-deleted and had to be recovered first."""


def vault_name_of(vault_uri: str) -> str:
    """`kv-dbp-dev` for `https://kv-dbp-dev.vault.azure.net/`."""
    return (urlsplit(vault_uri).hostname or vault_uri).split(".")[0]


def recover_command(vault_name: str, secret_name: str) -> str:
    return f"az keyvault secret recover --vault-name {vault_name} --name {secret_name}"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _service_error(error: Exception) -> tuple[int | None, str, str, str]:
    """(status, code, inner code, message) of a Key Vault error reply; blanks where the reply has none."""
    response = getattr(error, "response", None)
    status = getattr(error, "status_code", None) or getattr(response, "status_code", None)
    code = inner = message = ""
    try:
        body = json.loads(response.text()) if response is not None else {}
        detail = body.get("error") or {}
        code = str(detail.get("code") or "")
        message = str(detail.get("message") or "")
        inner = str((detail.get("innererror") or {}).get("code") or "")
    except (AttributeError, TypeError, ValueError):
        message = getattr(error, "message", "") or ""
    return status, code, inner, message


class VaultSecrets:
    """Create, read and delete secrets of one vault, with the deploying identity's credential.

    ``vault_uri`` is the vault's own URI as ARM reports it (``properties.vaultUri``), so sovereign clouds need
    no suffix table here. ``vault_name`` (default: the URI's first label) is what messages and the commands
    they give name. ``redact`` lists further values that must never appear in an error (the credential's
    secrets are added).
    """

    def __init__(
        self,
        vault_uri: str,
        credential: DeployerCredential,
        *,
        policy: VaultPolicy | None = None,
        vault_name: str | None = None,
        redact: Iterable[str] = (),
        **client_options: Any,
    ):
        from azure.keyvault.secrets import SecretClient

        from clients.transport import DeadlineTransport, RetryAfterPolicy

        self.vault_uri = vault_uri
        self.vault_name = vault_name or vault_name_of(vault_uri)
        self.policy = policy or VaultPolicy()
        self._credential = credential
        self._redact = [value for value in (*credential.secrets, *redact) if value]
        client_options.setdefault(
            "transport",
            DeadlineTransport(
                max_pause=self.policy.retry_backoff_max,
                connection_timeout=self.policy.connect_timeout,
                read_timeout=self.policy.read_timeout,
            ),
        )
        # azure-core's own Retry-After parsing raises on an unreadable value ("soon") and overflows on a huge
        # one; RetryAfterPolicy reads any value as a bounded pause, and the transport keeps it inside the budget.
        client_options.setdefault("retry_policy", RetryAfterPolicy(
            retry_total=self.policy.retry_total, retry_backoff_max=self.policy.retry_backoff_max))
        self._client = SecretClient(vault_uri, credential.credential, **client_options)

    def __enter__(self) -> VaultSecrets:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()
        self._credential.close()

    # -- operations ------------------------------------------------------------------------------
    def create(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        expires_on: datetime | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Written:
        """Write ``value`` as a new version of secret ``name``, recovering the name first if it was soft-deleted
        (the write then supersedes the recovered value). Refuses with the exact recover command where the
        deploying identity may not recover it."""
        self._remember(value)

        def once() -> Written:
            recovered = self._recover_if_deleted(name)
            try:
                version = self._set(name, value, content_type, expires_on, tags)
            except _Conflict:
                # Deleted between the check and the write (another run, a person): recover once more.
                recovered = self._recover_if_deleted(name) or recovered
                version = self._set(name, value, content_type, expires_on, tags)
            return Written(version=version, recovered=recovered)

        return self._while_role_propagates(once, "writing", name)

    def read(self, name: str) -> SecretState | None:
        """The secret's latest version, or None when the vault has no live secret of that name."""
        from azure.core.exceptions import ResourceNotFoundError

        def once() -> SecretState | None:
            try:
                secret = self._client.get_secret(name)
            except ResourceNotFoundError:
                return None
            self._remember(secret.value or "")
            properties = secret.properties
            return SecretState(
                version=properties.version or "",
                content_type=properties.content_type,
                expires_on=properties.expires_on,
                enabled=properties.enabled,
                tags=dict(properties.tags or {}),
                value=secret.value or "",
            )

        return self._attempt(once, "reading", name)

    def delete(self, name: str) -> bool:
        """Delete (soft-delete) the secret and wait, within the budget, until the vault lists it as deleted, so a
        create of the same name right after sees it. False when there was nothing to delete."""
        from azure.core.exceptions import ResourceNotFoundError

        def once() -> bool:
            try:
                poller = self._client.begin_delete_secret(name)
            except ResourceNotFoundError:
                return False
            # Waiting is a courtesy to the next create: the delete itself was accepted.
            self._wait_for(poller)
            return True

        return self._attempt(once, "deleting", name)

    # -- steps -------------------------------------------------------------------------------------
    def _recover_if_deleted(self, name: str) -> bool:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            deleted = self._client.get_deleted_secret(name)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as error:
            if not self._from_vault(error):
                raise  # e.g. Entra ID refused a token, or no reply at all: _attempt says why
            raise self._refusal(error, "writing", name, recover_hint=True) from None
        try:
            poller = self._client.begin_recover_deleted_secret(name)
        except HttpResponseError as error:
            if not self._from_vault(error):
                raise
            status, _code, inner, _message = _service_error(error)
            if status == 403 and inner != "ForbiddenByFirewall":
                raise VaultError(self._cannot_recover(name, deleted)) from None
            raise self._refusal(error, "recovering", name, recover_hint=True) from None
        if not self._wait_for(poller):
            raise VaultError(
                f"Key Vault {self.vault_name} accepted recovering the soft-deleted secret '{name}', but it was not "
                f"usable within this operation's {self.policy.time_budget:.0f} s; the recovery goes on in the vault. "
                "Run `pulumi up` again."
            )
        return True

    def _set(
        self,
        name: str,
        value: str,
        content_type: str | None,
        expires_on: datetime | None,
        tags: Mapping[str, str] | None,
    ) -> str:
        from azure.core.exceptions import HttpResponseError

        try:
            secret = self._client.set_secret(
                name, value, enabled=True, content_type=content_type, expires_on=expires_on,
                tags=dict(tags) if tags else None,
            )
        except HttpResponseError as error:
            if not self._from_vault(error):
                raise
            if _service_error(error)[0] == 409:
                raise _Conflict(self._refusal(error, "writing", name, recover_hint=True).args[0]) from None
            raise self._refusal(error, "writing", name) from None
        return secret.properties.version or ""

    # -- bounds ------------------------------------------------------------------------------------
    def _wait_for(self, poller: Any) -> bool:
        """Poll a delete or recover until it is done, on this thread and inside the operation's deadline (the
        SDK's own wait would poll on a thread of its own, past any deadline); whether it finished."""
        from azure.core.exceptions import AzureError

        polling = poller.polling_method()
        try:
            polling.run()  # sleeps through the transport: a poll that would start past the deadline is not made
        except OutOfTime:
            return False
        except AzureError:
            deadline = current_deadline()
            if deadline is not None and deadline.expired:
                return False  # a poll cut off at the deadline
            raise
        return polling.finished()

    def _attempt(self, call: Callable[[], _T], operation: str, name: str) -> _T:
        """One operation within the time budget, its failures turned into VaultError."""
        from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

        with Deadline(self.policy.time_budget) as deadline:
            try:
                return call()
            except VaultError:
                raise
            except (OutOfTime, AzureError, CredentialError, ValueError) as error:
                if isinstance(error, OutOfTime) or deadline.expired:
                    # Whatever the cut-off call raised: the budget is what ran out, and the request was cut.
                    raise VaultError(
                        f"Key Vault {self.vault_name} ({self.vault_uri}) did not complete {operation} secret "
                        f"'{name}' within {self.policy.time_budget:.0f} s (this operation's time budget, Entra ID "
                        "included); the request was cut off and nothing of it carries on. Check that this machine "
                        "reaches the vault and Entra ID, then run `pulumi up` again."
                    ) from None
                if isinstance(error, CredentialError):
                    raise VaultError(
                        self._clean(f"{operation} secret '{name}' in Key Vault {self.vault_name}: {error}")
                    ) from None
                if isinstance(error, ClientAuthenticationError) and not self._from_vault(error):
                    raise VaultError(self._clean(
                        f"{operation} secret '{name}' in Key Vault {self.vault_name}: the deploying identity could "
                        f"not authenticate ({type(error).__name__}: {_one_line(error.message or error)})"
                    )) from None
                if isinstance(error, HttpResponseError):
                    raise self._refusal(error, operation, name) from None
                if isinstance(error, AzureError):
                    raise VaultError(self._clean(
                        f"{operation} secret '{name}': Key Vault {self.vault_name} ({self.vault_uri}) could not be "
                        f"reached ({type(error).__name__}: {_one_line(error.message or error)}). Check that this "
                        "machine resolves and reaches it (DNS, proxy, private endpoint), then run `pulumi up` again."
                    )) from None
                # The SDK's own checks, e.g. a challenge for another domain.
                raise VaultError(self._clean(
                    f"{operation} secret '{name}' in Key Vault {self.vault_name}: {_one_line(error)}"
                )) from None
            finally:
                # The client keeps its connections: none of this operation's may outlive its deadline unwatched.
                deadline.hang_up()

    def _while_role_propagates(self, call: Callable[[], _T], operation: str, name: str) -> _T:
        give_up_at = time.monotonic() + self.policy.rbac_wait
        while True:
            try:
                return self._attempt(call, operation, name)
            except _RbacDenied as denied:
                pause = min(self.policy.rbac_retry_interval, give_up_at - time.monotonic())
                if pause <= 0:
                    raise VaultError(
                        f"{denied.args[0]} Still refused after waiting {self.policy.rbac_wait:.0f} s: a role "
                        "assignment this `pulumi up` created can take up to 10 minutes to apply, so run `pulumi up` "
                        "again in a few minutes."
                    ) from None
                time.sleep(pause)

    def _from_vault(self, error: Exception) -> bool:
        """Whether an HTTP error is the vault's reply (a credential's error may carry Entra ID's)."""
        request = getattr(getattr(error, "response", None), "request", None)
        url = getattr(request, "url", None)
        return isinstance(url, str) and urlsplit(url).netloc == urlsplit(self.vault_uri).netloc

    # -- messages ----------------------------------------------------------------------------------
    def _remember(self, value: str) -> None:
        """A value this client handles: kept out of its messages. (Not registered process-wide: a pool id is a
        value too, and must stay readable elsewhere; token-shaped values are masked by shape anyway.)"""
        if value:
            self._redact.append(value)

    def _clean(self, text: str) -> str:
        for value in sorted(self._redact, key=len, reverse=True):
            if value:
                text = text.replace(value, "[redacted]")
        return REDACTOR(text)

    def _cannot_recover(self, name: str, deleted: Any) -> str:
        level = (deleted.properties.recovery_level or "") if deleted.properties else ""
        when = deleted.deleted_date.strftime("%Y-%m-%d %H:%M UTC") if deleted.deleted_date else "earlier"
        purge = deleted.scheduled_purge_date
        until = f"until {purge.strftime('%Y-%m-%d %H:%M UTC')}" if purge else "until its retention ends"
        if "Purgeable" in level:
            protection = (
                "Or, to drop its old versions instead, purge it: "
                f"az keyvault secret purge --vault-name {self.vault_name} --name {name}"
            )
        else:
            protection = "Purge protection is on: it cannot be purged before then, only recovered."
        return (
            f"Key Vault {self.vault_name} holds secret '{name}' soft-deleted (deleted {when}), which blocks the "
            f"name {until}, and the deploying identity may not recover it. Recover it, then run `pulumi up` again "
            f"(the program then writes a new version over the recovered one):\n"
            f"  {recover_command(self.vault_name, name)}\n{protection}"
        )

    def _refusal(self, error: Exception, operation: str, name: str, *, recover_hint: bool = False) -> VaultError:
        status, code, inner, message = _service_error(error)
        hint = (
            f" If secret '{name}' was deleted earlier, it can also be recovered by hand: "
            f"{recover_command(self.vault_name, name)}"
            if recover_hint
            else ""
        )
        if status == 403 and inner == "ForbiddenByFirewall":
            found = _CLIENT_ADDRESS.search(message)
            address = f"this machine's address {found.group(1)}" if found else "this machine's address"
            return VaultError(self._clean(
                f"Key Vault {self.vault_name} refused {operation} secret '{name}' at its firewall: {address} is not "
                "allowed. Secrets are written, recovered and deleted through the vault's data plane, so the machine "
                "that runs `pulumi up` or `pulumi destroy` must pass the firewall: add its address to "
                "databricks-platform:keyVaultAllowedIpRanges in the stack file (or set "
                "keyVaultNetworkDefaultAction: Allow) and run `pulumi up`, which applies the firewall before it "
                "writes secrets (before a `pulumi destroy`, run `pulumi up` once to apply it)."
            ))
        if status == 403:
            kind = _RbacDenied if inner == "ForbiddenByRbac" or not inner else VaultError
            return kind(self._clean(
                f"Key Vault {self.vault_name} refused {operation} secret '{name}' to the deploying identity "
                f"(HTTP 403 {inner or code or 'Forbidden'}): it needs the Key Vault Secrets Officer role on the vault, "
                "which this program assigns to the identity that runs `pulumi up` (deployerPrincipalType, "
                "deployerClientId); check that this assignment exists for that identity." + hint
            ))
        if status == 409:
            return VaultError(self._clean(
                f"Key Vault {self.vault_name} refused {operation} secret '{name}' (HTTP 409 {code}: "
                f"{_one_line(message)})." + hint
            ))
        if status == 401:
            return VaultError(self._clean(
                f"Key Vault {self.vault_name} did not accept the deploying identity's token for {operation} secret "
                f"'{name}' (HTTP 401 {code}: {_one_line(message)}); the vault's tenant must be the deploying "
                "identity's tenant."
            ))
        return VaultError(self._clean(
            f"Key Vault {self.vault_name} failed {operation} secret '{name}' (HTTP {status} {code or ''}: "
            f"{_one_line(message)}); run `pulumi up` again, or check the vault's health in the Azure portal."
        ))
