"""`DatabricksPat`: a Databricks personal access token minted with the deploying principal's Entra ID token.

The token is replaced — the new one created before the old one is revoked — when an input it depends on
changes or when it enters its rotation window (`rotate_before_days` before expiry). A refresh reads a token
that was revoked, expired or deleted out of band as gone, so the next `pulumi up` mints a new one. Read and
delete go through the workspace admin's token management, so they do not depend on who runs `pulumi up`;
the outputs record who created the token, for the message when someone who may not touch it tries.

`DatabricksPatProvider` is pickled by reference (dill stores `dynamic_providers.databricks_pat.
DatabricksPatProvider` and the instance's small `http_policy` dict), so the engine's provider process must be
able to import this package and `clients`: it runs from the project directory. The databricks-sdk client
(`dynamic_providers.token_api`) is imported inside the provider methods, so a preview loads none of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult
from pulumi.runtime.rpc import unwrap_rpc_secret

from dynamic_providers.pat_inputs import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_CREDENTIAL,
    DEFAULT_LIFETIME_DAYS,
    DEFAULT_ROTATE_BEFORE_DAYS,
    FALLBACK_COMMENT,
    INPUT_KEYS,
    MAX_LIFETIME_DAYS,
    OUTPUT_KEYS,
    REPLACE_ON_CHANGE,
    UPDATE_IN_PLACE,
    as_int,
    checked_inputs,
    is_unknown,
)
from dynamic_providers.provider_inputs import RedactedStr
from dynamic_providers.token_model import HttpPolicy, Owner, PatError, Workspace, iso8601, parse_iso8601
from dynamic_providers.unchained import unchained


def _inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: unwrap_rpc_secret(props[key]) for key in INPUT_KEYS if props.get(key) is not None}


def _changed(old: Any, new: Any) -> bool:
    old, new = unwrap_rpc_secret(old), unwrap_rpc_secret(new)
    if is_unknown(new):
        return True
    if isinstance(old, int | float) and isinstance(new, int | float):
        return float(old) != float(new)
    return old != new


def _rotation_due(olds: Mapping[str, Any], news: Mapping[str, Any], now: datetime) -> bool:
    """Inside the rotation window, or no usable expiry in state (then a fresh token is the safe answer)."""
    try:
        expiry = parse_iso8601(unwrap_rpc_secret(olds["expiry_time"]))
    except (KeyError, TypeError, ValueError):
        return True
    rotate = as_int(news.get("rotate_before_days"))
    if rotate is None:
        rotate = as_int(olds.get("rotate_before_days"))
    if rotate is None:
        rotate = DEFAULT_ROTATE_BEFORE_DAYS
    return now >= expiry - timedelta(days=rotate)


def _required(inputs: Mapping[str, Any], key: str) -> Any:
    if inputs.get(key) is None:
        raise PatError(f"DatabricksPat input {key!r} is missing")
    return inputs[key]


def _session(inputs: Mapping[str, Any], http_policy: Mapping[str, float], *, as_whoever_runs: bool = False) -> Any:
    """A token_api.token_session for one operation on the inputs' workspace, as the inputs' identity (or, for
    read and delete, whoever runs Pulumi now when that identity cannot authenticate here)."""
    from dynamic_providers.token_api import token_session  # databricks-sdk and azure-identity: only when used

    workspace = Workspace(
        url=_required(inputs, "workspace_url"),
        tenant_id=_required(inputs, "tenant_id"),
        client_id=_required(inputs, "client_id"),
        credential=inputs.get("credential") or DEFAULT_CREDENTIAL,
        resource_id=inputs.get("workspace_resource_id"),
        authority_host=inputs.get("azure_authority_host") or DEFAULT_AUTHORITY_HOST,
    )
    return token_session(workspace, HttpPolicy.from_mapping(http_policy), as_whoever_runs=as_whoever_runs)


def _owner(props: Mapping[str, Any]) -> Owner:
    """Who created the token in state, as create recorded it (older state has no record but the client id)."""
    def text(key: str) -> str | None:
        value = unwrap_rpc_secret(props.get(key))
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and value != "" else None

    return Owner(username=text("created_by_username"), user_id=text("created_by_id"), client_id=text("client_id"))


def _token_times(info: Any) -> dict[str, str]:
    """The times Databricks reported, in output form (a time it did not report keeps state's value)."""
    times = {"creation_time": info.creation_time, "expiry_time": info.expiry_time}
    return {key: iso8601(moment) for key, moment in times.items() if moment is not None}


def _unchained(operation: str) -> Callable[[Any], Any]:
    """Errors leave the provider as PatError, whose text is redacted: third-party text may carry a token."""

    def as_own_error(error: Exception) -> Exception:
        if isinstance(error, PatError):
            return error
        return PatError(f"DatabricksPat {operation} failed: {type(error).__name__}: {error}")

    return unchained(as_own_error)


class DatabricksPatProvider(pulumi.dynamic.ResourceProvider):
    """CRUD for `DatabricksPat`; stateless apart from `http_policy` (token_api.HttpPolicy fields, for tests).

    create, read and delete are each one token_api session, which with all its calls (Entra ID included),
    retries and pauses ends within `HttpPolicy.time_budget` (110 s by default): a failure surfaces in about
    two minutes.
    """

    def __init__(self, http_policy: Mapping[str, float] | None = None):
        super().__init__()
        self.http_policy: dict[str, float] = dict(http_policy or {})

    @_unchained("check")
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = checked_inputs(news)
        return CheckResult(inputs, failures)

    @_unchained("diff")
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # No network here: preview must stay fast and offline-safe; only the clock decides rotation.
        replaces = [key for key in REPLACE_ON_CHANGE if _changed(olds.get(key), news.get(key))]
        if _rotation_due(olds, news, datetime.now(UTC)):
            replaces.append("expiry_time")
        updates = [key for key in UPDATE_IN_PLACE if _changed(olds.get(key), news.get(key))]
        return DiffResult(
            changes=bool(replaces or updates), replaces=replaces, stables=[], delete_before_replace=False
        )

    @_unchained("create")
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = _inputs(props)
        lifetime_days = as_int(inputs.get("lifetime_days", DEFAULT_LIFETIME_DAYS))
        if lifetime_days is None or not 1 <= lifetime_days <= MAX_LIFETIME_DAYS:
            raise PatError(f"DatabricksPat lifetime_days must be 1..{MAX_LIFETIME_DAYS}")
        with _session(inputs, self.http_policy) as session:
            created = session.create(
                lifetime_seconds=lifetime_days * 86400, comment=inputs.get("comment", FALLBACK_COMMENT)
            )
        outs = {
            **inputs,
            "token_id": created.info.token_id,
            "token_value": RedactedStr(created.token_value),
            **_token_times(created.info),
            "token_comment": created.comment,
        }
        if created.owner.username:
            outs["created_by_username"] = created.owner.username
        if created.owner.user_id:
            outs["created_by_id"] = created.owner.user_id
        return CreateResult(created.info.token_id, outs)

    @_unchained("read")
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _inputs(props)
        with _session(inputs, self.http_policy, as_whoever_runs=True) as session:
            info = session.read(id_, _owner(props))
        if info is None:
            # A blank id tells the engine the resource is gone; `pulumi up` then creates a new token.
            return ReadResult("", {})
        outs = {key: unwrap_rpc_secret(value) for key, value in props.items() if not key.startswith("__")}
        if "token_value" in outs:
            outs["token_value"] = RedactedStr(outs["token_value"])
        outs.update(token_id=id_, **_token_times(info))
        return ReadResult(id_, outs)

    @_unchained("update")
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only comment / rotate_before_days reach here (see diff): bookkeeping, no call to Databricks.
        outs = {**_inputs(news), **{key: unwrap_rpc_secret(olds[key]) for key in OUTPUT_KEYS if key in olds}}
        if "token_value" in outs:
            outs["token_value"] = RedactedStr(outs["token_value"])
        return UpdateResult(outs)

    @_unchained("delete")
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with _session(_inputs(props), self.http_policy, as_whoever_runs=True) as session:
            session.revoke(id_, _owner(props))


@dataclass
class DatabricksPatArgs:
    """Inputs of `DatabricksPat`."""

    workspace_url: pulumi.Input[str]
    """Workspace URL, https://adb-….azuredatabricks.net."""
    tenant_id: pulumi.Input[str]
    """Entra ID tenant of the service principal."""
    client_id: pulumi.Input[str]
    """Application (client) id of the service principal, or of the user-assigned managed identity."""
    workspace_resource_id: pulumi.Input[str] | None = None
    """Workspace ARM id; when set, calls carry the management token so a Contributor is admitted."""
    credential: pulumi.Input[str] = DEFAULT_CREDENTIAL
    """How the principal authenticates: environment, managed_identity or azure_cli."""
    lifetime_days: pulumi.Input[int] = DEFAULT_LIFETIME_DAYS
    """Token lifetime in days, 1 to 730."""
    rotate_before_days: pulumi.Input[int] = DEFAULT_ROTATE_BEFORE_DAYS
    """Replace the token this many days before it expires (less than lifetime_days)."""
    comment: pulumi.Input[str] | None = None
    """Token comment shown in the workspace; defaults to "pulumi <project>/<stack>/<name>"."""
    azure_authority_host: pulumi.Input[str] | None = None
    """Entra ID authority host for sovereign clouds; defaults to login.microsoftonline.com."""


class DatabricksPat(pulumi.dynamic.Resource, module="databricks-platform", name="DatabricksPat"):
    """A Databricks PAT of the deploying service principal, rotated before it expires."""

    token_id: pulumi.Output[str]
    """Databricks token id (also the resource id)."""
    token_value: pulumi.Output[str]
    """The PAT itself (secret)."""
    expiry_time: pulumi.Output[str]
    """When the token expires, ISO 8601 UTC (e.g. 2027-02-19T05:00:00Z)."""
    creation_time: pulumi.Output[str]
    """When the token was created, ISO 8601 UTC."""
    token_comment: pulumi.Output[str]
    """The token's comment in the workspace: `comment` and the nonce of the create that minted it."""
    created_by_username: pulumi.Output[str]
    """The Databricks user that created (and owns) the token; a service principal's is its application id."""
    created_by_id: pulumi.Output[str]
    """That user's Databricks id."""

    def __init__(self, name: str, args: DatabricksPatArgs, opts: pulumi.ResourceOptions | None = None):
        comment = args.comment
        if comment is None:
            comment = f"pulumi {pulumi.get_project()}/{pulumi.get_stack()}/{name}"
        props: dict[str, Any] = {
            "workspace_url": args.workspace_url,
            "workspace_resource_id": args.workspace_resource_id,
            "tenant_id": args.tenant_id,
            "client_id": args.client_id,
            "credential": args.credential,
            "lifetime_days": args.lifetime_days,
            "rotate_before_days": args.rotate_before_days,
            "comment": comment,
            "azure_authority_host": args.azure_authority_host,
            **dict.fromkeys(OUTPUT_KEYS),
        }
        # Create the new token before revoking the old one: consumers never see a gap.
        own_opts = pulumi.ResourceOptions(
            delete_before_replace=False, additional_secret_outputs=["token_value"]
        )
        super().__init__(DatabricksPatProvider(), name, props, pulumi.ResourceOptions.merge(opts, own_opts))
