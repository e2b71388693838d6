"""`VaultSecret`: a Key Vault secret written, recovered and deleted through the vault's data plane.

Why not azure-native's `keyvault.Secret`: it writes through ARM but deletes through the data plane, and its
create refuses a secret that already exists. A name deleted earlier sits soft-deleted (up to 90 days, and
under purge protection it cannot be purged): ARM's write then conflicts, and a secret recovered to clear the
conflict makes azure-native's create fail instead. So this resource does it all on the data plane with
azure-keyvault-secrets (`clients.key_vault`): its create recovers a soft-deleted name first and writes the new
value as a new version; update writes a new version; delete soft-deletes; refresh reads the live secret and
drops it from state when it is gone, so the next `up` writes it again (recovering it if needed). Diff makes no
call: a later `up` with nothing changed does nothing.

Every call needs the deploying identity's data-plane role (Key Vault Secrets Officer, assigned by
components.key_vault, on which each VaultSecret depends so that it is deleted before the role is) and passage
through the vault's firewall.

`VaultSecretProvider` is pickled by reference (dill stores `dynamic_providers.vault_secret.VaultSecretProvider`
and its small `policy` dict), so the engine's provider process must run from the project directory, as for
`DatabricksPat`. The SDKs are imported inside the provider methods.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult
from pulumi.runtime.rpc import unwrap_rpc_secret

from dynamic_providers.provider_inputs import (
    DEFAULT_CREDENTIAL,
    RedactedStr,
    https_origin,
    identity_failures,
    is_unknown,
)
from dynamic_providers.unchained import unchained

# Key Vault's own limits.
MAX_VALUE_LENGTH = 25 * 1024
MAX_TAGS = 15
MAX_TAG_LENGTH = 256
MAX_CONTENT_TYPE_LENGTH = 255

# Another secret (another name or vault): create the new one, then delete the old.
REPLACE_ON_CHANGE = ("vault_uri", "secret_name")
# A new version of the same secret.
WRITE_ON_CHANGE = ("value", "content_type", "expires", "tags")
# How the provider authenticates, and the role assignment it relies on: bookkeeping, no call to the vault.
BOOKKEEPING = (
    "vault_name", "tenant_id", "client_id", "credential", "azure_authority_host", "officer_assignment_id",
)
INPUT_KEYS = REPLACE_ON_CHANGE + WRITE_ON_CHANGE + BOOKKEEPING
OUTPUT_KEYS = ("version",)

_SECRET_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_VAULT_NAME = re.compile(r"[A-Za-z][0-9A-Za-z-]{1,22}[0-9A-Za-z]")


class VaultSecretError(Exception):
    """A VaultSecret operation failed; the text never holds the secret's value or a token."""


def _vault_origin(value: Any) -> str | None:
    """`https://host[:port]/` of a vault URI (the form Key Vault gives it), or None when it is not one."""
    origin = https_origin(value)
    return f"{origin}/" if origin else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment


def _checked(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Inputs normalised, and one failure per unusable property (never echoing the value)."""
    inputs = {
        key: unwrap_rpc_secret(value)
        for key, value in news.items()
        if not key.startswith("__") and key not in OUTPUT_KEYS and value is not None
    }
    inputs.setdefault("credential", DEFAULT_CREDENTIAL)
    inputs.setdefault("tags", {})
    failures: list[CheckFailure] = []

    def known(key: str) -> bool:
        return key in inputs and not is_unknown(inputs[key])

    def fail(key: str, reason: str) -> None:
        failures.append(CheckFailure(key, reason))

    for key in ("vault_uri", "secret_name", "value"):
        if key not in inputs:
            fail(key, f"{key} is required")

    if known("vault_uri"):
        origin = _vault_origin(inputs["vault_uri"])
        if origin is None:
            fail("vault_uri", f"vault_uri must be the vault's https URI, e.g. https://kv-x.vault.azure.net/, got "
                              f"{str(inputs['vault_uri'])[:200]!r}")
        else:
            inputs["vault_uri"] = origin
    if known("vault_name") and not (
        isinstance(inputs["vault_name"], str) and _VAULT_NAME.fullmatch(inputs["vault_name"])
    ):
        fail("vault_name", "vault_name must be 3-24 letters, digits or hyphens, starting with a letter, got "
                           f"{str(inputs['vault_name'])[:100]!r}")
    if known("secret_name") and not (
        isinstance(inputs["secret_name"], str) and _SECRET_NAME.fullmatch(inputs["secret_name"])
    ):
        fail("secret_name", "secret_name must be 1-127 letters, digits or hyphens, got "
                            f"{str(inputs['secret_name'])[:200]!r}")
    if known("value"):
        if not isinstance(inputs["value"], str):
            fail("value", f"value must be a string, got a {type(inputs['value']).__name__}")
        elif len(inputs["value"].encode()) > MAX_VALUE_LENGTH:
            fail("value", f"value is longer than Key Vault's {MAX_VALUE_LENGTH} bytes")
    if known("content_type") and not (
        isinstance(inputs["content_type"], str) and len(inputs["content_type"]) <= MAX_CONTENT_TYPE_LENGTH
    ):
        fail("content_type", f"content_type must be a string of at most {MAX_CONTENT_TYPE_LENGTH} characters")
    if known("expires"):
        try:
            inputs["expires"] = _iso(_parse_time(inputs["expires"]))
        except (AttributeError, TypeError, ValueError):
            fail("expires", f"expires must be an ISO 8601 time with a zone, e.g. 2027-01-31T00:00:00Z, got "
                            f"{str(inputs['expires'])[:100]!r}")
    if known("tags"):
        tags = inputs["tags"]
        if not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            fail("tags", "tags must map strings to strings")
        elif len(tags) > MAX_TAGS:
            fail("tags", f"Key Vault allows {MAX_TAGS} tags on a secret, got {len(tags)}: drop some of the stage's "
                         "tags (databricks-platform:tags)")
        elif any(len(k) > MAX_TAG_LENGTH or len(v) > MAX_TAG_LENGTH for k, v in tags.items()):
            fail("tags", f"Key Vault tag names and values are at most {MAX_TAG_LENGTH} characters")
        else:
            inputs["tags"] = dict(sorted(tags.items()))
    failures += identity_failures(inputs, client_id_required=True)
    return inputs, failures


def _inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: unwrap_rpc_secret(props[key]) for key in INPUT_KEYS if props.get(key) is not None}


def _changed(old: Any, new: Any) -> bool:
    old, new = unwrap_rpc_secret(old), unwrap_rpc_secret(new)
    return is_unknown(new) or old != new


def _write_arguments(inputs: Mapping[str, Any]) -> dict[str, Any]:
    expires = inputs.get("expires")
    return {
        "content_type": inputs.get("content_type"),
        "expires_on": _parse_time(expires) if expires else None,
        "tags": inputs.get("tags") or None,
    }


def _vault(inputs: Mapping[str, Any], policy: Mapping[str, float]) -> Any:
    from clients.identity import deployer_credential
    from clients.key_vault import VaultPolicy, VaultSecrets
    from clients.transport import DeadlineTransport

    for key in ("vault_uri", "secret_name", "tenant_id", "client_id"):
        if not inputs.get(key):
            raise VaultSecretError(f"VaultSecret input {key!r} is missing")
    limits = VaultPolicy(**policy)
    credential = deployer_credential(
        inputs.get("credential") or DEFAULT_CREDENTIAL,
        tenant_id=inputs["tenant_id"],
        client_id=inputs["client_id"],
        authority_host=inputs.get("azure_authority_host") or None,
        process_timeout=int(max(1.0, min(limits.read_timeout, limits.time_budget))),
        # Entra ID's requests keep to each operation's deadline like the vault's (clients.key_vault).
        transport=DeadlineTransport(
            max_pause=limits.retry_backoff_max,
            connection_timeout=limits.connect_timeout,
            read_timeout=limits.read_timeout,
        ),
        retry_total=limits.retry_total,
    )
    return VaultSecrets(inputs["vault_uri"], credential, policy=limits, vault_name=inputs.get("vault_name"))


def _secret_id(inputs: Mapping[str, Any]) -> str:
    return f"{inputs['vault_uri'].rstrip('/')}/secrets/{inputs['secret_name']}"


def _unchained(operation: str) -> Callable[[Any], Any]:
    """Errors leave the provider as one VaultSecretError: the vault's and the credential's own (safe) text, and
    for anything else only the exception's name: third-party exception text could carry a token."""

    def as_own_error(error: Exception) -> Exception:
        from clients.identity import CredentialError
        from clients.key_vault import VaultError

        if isinstance(error, VaultSecretError):
            return error
        if isinstance(error, VaultError | CredentialError):
            return VaultSecretError(str(error))
        return VaultSecretError(f"VaultSecret {operation} failed: {type(error).__name__}")

    return unchained(as_own_error)


class VaultSecretProvider(pulumi.dynamic.ResourceProvider):
    """CRUD for `VaultSecret`; stateless apart from `policy` (clients.key_vault.VaultPolicy fields, for tests)."""

    def __init__(self, policy: Mapping[str, float] | None = None):
        super().__init__()
        self.policy: dict[str, float] = dict(policy or {})

    @_unchained("check")
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = _checked(news)
        return CheckResult(inputs, failures)

    @_unchained("diff")
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # No network here: preview stays fast and needs no passage through the vault's firewall.
        replaces = [key for key in REPLACE_ON_CHANGE if _changed(olds.get(key), news.get(key))]
        updates = [key for key in WRITE_ON_CHANGE + BOOKKEEPING if _changed(olds.get(key), news.get(key))]
        return DiffResult(
            changes=bool(replaces or updates), replaces=replaces, stables=[], delete_before_replace=False
        )

    @_unchained("create")
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = _inputs(props)
        with _vault(inputs, self.policy) as vault:
            written = vault.create(inputs["secret_name"], inputs.get("value", ""), **_write_arguments(inputs))
        outs = {**inputs, "value": RedactedStr(inputs.get("value", "")), "version": written.version}
        return CreateResult(_secret_id(inputs), outs)

    @_unchained("update")
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = _inputs(news)
        version = unwrap_rpc_secret(olds.get("version"))
        if any(_changed(olds.get(key), news.get(key)) for key in WRITE_ON_CHANGE):
            # The same path as create: a secret deleted behind the program's back is recovered, then written.
            with _vault(inputs, self.policy) as vault:
                written = vault.create(inputs["secret_name"], inputs.get("value", ""), **_write_arguments(inputs))
            version = written.version
        return UpdateResult({**inputs, "value": RedactedStr(inputs.get("value", "")), "version": version})

    @_unchained("read")
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _inputs(props)
        with _vault(inputs, self.policy) as vault:
            live = vault.read(inputs["secret_name"])
        if live is None:
            # A blank id tells the engine the secret is gone; the next `up` writes it again.
            return ReadResult("", {})
        outs = {
            **inputs,
            "value": RedactedStr(live.value),
            "version": live.version,
            "tags": dict(sorted(live.tags.items())),
        }
        for key, value in (("content_type", live.content_type), ("expires", live.expires_on)):
            if value is None:
                outs.pop(key, None)
            else:
                outs[key] = _iso(value) if isinstance(value, datetime) else value
        return ReadResult(id_, outs)

    @_unchained("delete")
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        inputs = _inputs(props)
        with _vault(inputs, self.policy) as vault:
            vault.delete(inputs["secret_name"])


@dataclass
class VaultSecretArgs:
    """Inputs of `VaultSecret`."""

    vault_uri: pulumi.Input[str]
    """The vault's URI as ARM reports it (https://kv-x.vault.azure.net/; another suffix in sovereign clouds)."""
    vault_name: pulumi.Input[str]
    """The vault's name, for messages and the commands they give."""
    secret_name: pulumi.Input[str]
    """Secret name, 1-127 letters, digits or hyphens."""
    value: pulumi.Input[str]
    """The value; kept secret in state."""
    tenant_id: pulumi.Input[str]
    """Entra ID tenant of the deploying identity."""
    client_id: pulumi.Input[str]
    """Application (client) id of the deploying identity."""
    credential: pulumi.Input[str] = DEFAULT_CREDENTIAL
    """How the deploying identity authenticates: environment, managed_identity or azure_cli."""
    content_type: pulumi.Input[str] | None = None
    """What the value is, shown in the portal."""
    expires: pulumi.Input[str] | None = None
    """Expiry attribute, ISO 8601 (e.g. a PAT's expiry time)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the secret (Key Vault allows 15)."""
    azure_authority_host: pulumi.Input[str] | None = None
    """Entra ID authority host for sovereign clouds; defaults to the public cloud."""
    officer_assignment_id: pulumi.Input[str] | None = None
    """ARM id of the deploying identity's Key Vault Secrets Officer assignment that every call relies on. Taking
    it as an input makes the secret depend on it (created after it, deleted before it), visibly in any plan."""


class VaultSecret(pulumi.dynamic.Resource, module="databricks-platform", name="VaultSecret"):
    """A Key Vault secret written through the data plane, recovered first when its name was soft-deleted."""

    version: pulumi.Output[str]
    """The secret version the last write created."""

    def __init__(
        self,
        name: str,
        args: VaultSecretArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        policy: Mapping[str, float] | None = None,
    ):
        props: dict[str, Any] = {
            "vault_uri": args.vault_uri,
            "vault_name": args.vault_name,
            "secret_name": args.secret_name,
            "value": args.value,
            "tenant_id": args.tenant_id,
            "client_id": args.client_id,
            "credential": args.credential,
            "content_type": args.content_type,
            "expires": args.expires,
            "tags": dict(args.tags),
            "azure_authority_host": args.azure_authority_host,
            "officer_assignment_id": args.officer_assignment_id,
            "version": None,
        }
        # Write the new secret before deleting the old one when the name changes; the value stays secret.
        own = pulumi.ResourceOptions(delete_before_replace=False, additional_secret_outputs=["value"])
        super().__init__(VaultSecretProvider(policy), name, props, pulumi.ResourceOptions.merge(opts, own))
