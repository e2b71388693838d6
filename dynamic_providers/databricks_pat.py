"""`DatabricksPat`: a Databricks personal access token minted with the deploying principal's Entra ID token.

The token is replaced — the new one created before the old one is revoked — when an input it depends on
changes or when it enters its rotation window (`rotate_before_days` before expiry). A refresh reads a token
that was revoked, expired or deleted out of band as gone, so the next `pulumi up` mints a new one.

`DatabricksPatProvider` is pickled by reference (dill stores `dynamic_providers.databricks_pat.
DatabricksPatProvider` and the instance's small `http_policy` dict), so the engine's provider process must be
able to import this package: it runs from the project directory. The REST/Entra ID client lives in
`dynamic_providers.token_api` and is imported inside the provider methods, as are requests and azure-identity.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult
from pulumi.runtime.rpc import UNKNOWN, unwrap_rpc_secret

DEFAULT_CREDENTIAL = "environment"
DEFAULT_LIFETIME_DAYS = 90
DEFAULT_ROTATE_BEFORE_DAYS = 14
MAX_LIFETIME_DAYS = 730
DEFAULT_AUTHORITY_HOST = "login.microsoftonline.com"
FALLBACK_COMMENT = "pulumi DatabricksPat"

# A change to any of these needs a new token (the old one keeps working until the new one exists).
REPLACE_ON_CHANGE = (
    "workspace_url",
    "workspace_resource_id",
    "tenant_id",
    "client_id",
    "credential",
    "azure_authority_host",
    "lifetime_days",
)
# Bookkeeping only: Databricks cannot edit a token, and the rotation window is evaluated at diff time.
UPDATE_IN_PLACE = ("comment", "rotate_before_days")
INPUT_KEYS = REPLACE_ON_CHANGE + UPDATE_IN_PLACE
OUTPUT_KEYS = ("token_id", "token_value", "expiry_time", "creation_time")

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_WORKSPACE_RESOURCE_ID = re.compile(
    r"^/subscriptions/[^/\x00-\x20\x7f]+/resourceGroups/[^/\x00-\x20\x7f]+"
    r"/providers/Microsoft\.Databricks/workspaces/[^/\x00-\x20\x7f]+$",
    re.IGNORECASE,
)


class _RedactedStr(str):
    """A str whose repr hides it: the PAT in outputs stays out of any accidental repr or log of a dict."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'[secret]'"


def _is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value == UNKNOWN


def _as_int(value: Any) -> int | None:
    """Whole numbers only; protobuf carries numbers as floats, so 90.0 is 90."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _https_origin(url: Any) -> str | None:
    """`https://host[:port]` of a workspace URL, or None when it is not one."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        return None
    if parts.path not in ("", "/") or parts.username or parts.password:
        return None
    return f"https://{parts.netloc.lower()}"


def _authority_host(value: Any) -> str | None:
    """A bare host (`login.microsoftonline.us`) or an https origin (`https://127.0.0.1:8443`), else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip().rstrip("/")
    if "://" in value:
        return _https_origin(value)
    return value.lower() if _HOSTNAME.fullmatch(value) else None


def _checked(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Inputs with defaults applied and normalised, and one failure per unusable property."""
    from dynamic_providers.token_api import CREDENTIAL_KINDS

    inputs = {
        key: unwrap_rpc_secret(value)
        for key, value in news.items()
        if not key.startswith("__") and key not in OUTPUT_KEYS and value is not None
    }
    inputs.setdefault("credential", DEFAULT_CREDENTIAL)
    inputs.setdefault("lifetime_days", DEFAULT_LIFETIME_DAYS)
    inputs.setdefault("rotate_before_days", DEFAULT_ROTATE_BEFORE_DAYS)
    inputs.setdefault("azure_authority_host", DEFAULT_AUTHORITY_HOST)
    inputs.setdefault("comment", FALLBACK_COMMENT)
    failures: list[CheckFailure] = []

    def known(key: str) -> bool:
        return key in inputs and not _is_unknown(inputs[key])

    if "workspace_url" not in inputs:
        failures.append(
            CheckFailure("workspace_url", "workspace_url is required (https://adb-….azuredatabricks.net)")
        )
    elif known("workspace_url"):
        origin = _https_origin(inputs["workspace_url"])
        if origin is None:
            failures.append(
                CheckFailure(
                    "workspace_url",
                    "workspace_url must be an https URL of a workspace such as "
                    f"https://adb-….azuredatabricks.net, got {inputs['workspace_url']!r}",
                )
            )
        else:
            inputs["workspace_url"] = origin

    if known("workspace_resource_id"):
        resource_id = inputs["workspace_resource_id"]
        if not isinstance(resource_id, str) or not _WORKSPACE_RESOURCE_ID.fullmatch(resource_id):
            failures.append(
                CheckFailure(
                    "workspace_resource_id",
                    "workspace_resource_id must be the workspace's ARM id, /subscriptions/…/resourceGroups/…"
                    f"/providers/Microsoft.Databricks/workspaces/…, got {resource_id!r}",
                )
            )

    if "tenant_id" not in inputs:
        failures.append(
            CheckFailure("tenant_id", "tenant_id (the service principal's Entra ID tenant) is required")
        )
    elif known("tenant_id") and not (
        isinstance(inputs["tenant_id"], str) and _TENANT.fullmatch(inputs["tenant_id"])
    ):
        failures.append(
            CheckFailure(
                "tenant_id", f"tenant_id must be a tenant GUID or domain, got {inputs['tenant_id']!r}"
            )
        )

    if "client_id" not in inputs:
        failures.append(
            CheckFailure("client_id", "client_id (the service principal's application id) is required")
        )
    elif known("client_id") and not (
        isinstance(inputs["client_id"], str) and _GUID.fullmatch(inputs["client_id"])
    ):
        failures.append(CheckFailure("client_id", f"client_id must be a GUID, got {inputs['client_id']!r}"))

    if known("credential") and inputs["credential"] not in CREDENTIAL_KINDS:
        failures.append(
            CheckFailure(
                "credential",
                f"credential must be one of {', '.join(CREDENTIAL_KINDS)}, got {inputs['credential']!r}",
            )
        )

    if known("azure_authority_host"):
        host = _authority_host(inputs["azure_authority_host"])
        if host is None:
            failures.append(
                CheckFailure(
                    "azure_authority_host",
                    "azure_authority_host must be a host such as login.microsoftonline.us or an https URL, "
                    f"got {inputs['azure_authority_host']!r}",
                )
            )
        else:
            inputs["azure_authority_host"] = host

    lifetime = None
    if known("lifetime_days"):
        lifetime = _as_int(inputs["lifetime_days"])
        if lifetime is None or not 1 <= lifetime <= MAX_LIFETIME_DAYS:
            failures.append(
                CheckFailure(
                    "lifetime_days",
                    f"lifetime_days must be a whole number from 1 to {MAX_LIFETIME_DAYS} "
                    f"(a token must expire), got {inputs['lifetime_days']!r}",
                )
            )
            lifetime = None
        else:
            inputs["lifetime_days"] = lifetime

    if known("rotate_before_days"):
        rotate = _as_int(inputs["rotate_before_days"])
        if rotate is None or rotate < 0:
            failures.append(
                CheckFailure(
                    "rotate_before_days",
                    "rotate_before_days must be a whole number of days, 0 or more, "
                    f"got {inputs['rotate_before_days']!r}",
                )
            )
        elif lifetime is not None and rotate >= lifetime:
            failures.append(
                CheckFailure(
                    "rotate_before_days",
                    f"rotate_before_days ({rotate}) must be less than lifetime_days ({lifetime}), or every "
                    "deployment would rotate the token",
                )
            )
        else:
            inputs["rotate_before_days"] = rotate

    if known("comment") and not isinstance(inputs["comment"], str):
        failures.append(CheckFailure("comment", f"comment must be a string, got {inputs['comment']!r}"))

    return inputs, failures


def _inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: unwrap_rpc_secret(props[key]) for key in INPUT_KEYS if props.get(key) is not None}


def _changed(old: Any, new: Any) -> bool:
    old, new = unwrap_rpc_secret(old), unwrap_rpc_secret(new)
    if _is_unknown(new):
        return True
    if isinstance(old, int | float) and isinstance(new, int | float):
        return float(old) != float(new)
    return old != new


def _rotation_due(olds: Mapping[str, Any], news: Mapping[str, Any], now: datetime) -> bool:
    """Inside the rotation window, or no usable expiry in state (then a fresh token is the safe answer)."""
    from dynamic_providers.token_api import parse_iso8601

    try:
        expiry = parse_iso8601(unwrap_rpc_secret(olds["expiry_time"]))
    except (KeyError, TypeError, ValueError):
        return True
    rotate = _as_int(news.get("rotate_before_days"))
    if rotate is None:
        rotate = _as_int(olds.get("rotate_before_days"))
    if rotate is None:
        rotate = DEFAULT_ROTATE_BEFORE_DAYS
    return now >= expiry - timedelta(days=rotate)


def _required(inputs: Mapping[str, Any], key: str) -> Any:
    from dynamic_providers.token_api import PatError

    if inputs.get(key) is None:
        raise PatError(f"DatabricksPat input {key!r} is missing")
    return inputs[key]


def _client(inputs: Mapping[str, Any], http_policy: Mapping[str, float]) -> Any:
    from dynamic_providers.token_api import (
        HttpPolicy,
        PatError,
        TokenApiClient,
        entra_tokens,
        management_scope_for,
    )

    policy = HttpPolicy(**http_policy)
    authority_host = inputs.get("azure_authority_host") or DEFAULT_AUTHORITY_HOST
    workspace_url = _required(inputs, "workspace_url")
    tokens = entra_tokens(
        inputs.get("credential") or DEFAULT_CREDENTIAL,
        tenant_id=_required(inputs, "tenant_id"),
        client_id=_required(inputs, "client_id"),
        authority_host=authority_host,
        connect_timeout=policy.connect_timeout,
        read_timeout=policy.read_timeout,
    )
    try:
        return TokenApiClient(
            workspace_url,
            tokens,
            workspace_resource_id=inputs.get("workspace_resource_id"),
            management_scope=management_scope_for(authority_host),
            policy=policy,
        )
    except ValueError as error:
        tokens.close()
        raise PatError(str(error)) from None


def _token_times(info: Any) -> dict[str, str]:
    from dynamic_providers.token_api import iso8601

    return {"creation_time": iso8601(info.creation_time), "expiry_time": iso8601(info.expiry_time)}


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _unchained(operation: str) -> Callable[[_Method], _Method]:
    """Errors leave the provider without a chained cause: third-party exception text may carry a token."""

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from dynamic_providers.token_api import PatError

            try:
                return method(*args, **kwargs)
            except PatError as error:
                raise error from None
            except Exception as error:  # noqa: BLE001 - anything else is re-raised without its chain
                raise PatError(f"DatabricksPat {operation} failed: {type(error).__name__}: {error}") from None

        return wrapper  # type: ignore[return-value]

    return decorate


class DatabricksPatProvider(pulumi.dynamic.ResourceProvider):
    """CRUD for `DatabricksPat`; stateless apart from `http_policy` (HttpPolicy fields, for tests).

    create, read and delete each make one Token API client operation, which with all its HTTP calls (Entra ID
    included) ends within `HttpPolicy.time_budget` (110 s by default): a failure surfaces in about two minutes.
    """

    def __init__(self, http_policy: Mapping[str, float] | None = None):
        super().__init__()
        self.http_policy: dict[str, float] = dict(http_policy or {})

    @_unchained("check")
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = _checked(news)
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
        lifetime_days = _as_int(inputs.get("lifetime_days", DEFAULT_LIFETIME_DAYS))
        if lifetime_days is None or not 1 <= lifetime_days <= MAX_LIFETIME_DAYS:
            from dynamic_providers.token_api import PatError

            raise PatError(f"DatabricksPat lifetime_days must be 1..{MAX_LIFETIME_DAYS}")
        with _client(inputs, self.http_policy) as client:
            created = client.create_token(
                lifetime_seconds=lifetime_days * 86400, comment=inputs.get("comment", FALLBACK_COMMENT)
            )
        outs = {
            **inputs,
            "token_id": created.info.token_id,
            "token_value": _RedactedStr(created.token_value),
            **_token_times(created.info),
        }
        return CreateResult(created.info.token_id, outs)

    @_unchained("read")
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _inputs(props)
        with _client(inputs, self.http_policy) as client:
            info = client.find_token(id_)
        if info is None or (info.expiry_time is not None and info.expiry_time <= datetime.now(UTC)):
            # A blank id tells the engine the resource is gone; `pulumi up` then creates a new token.
            return ReadResult("", {})
        outs = {key: unwrap_rpc_secret(value) for key, value in props.items() if not key.startswith("__")}
        if "token_value" in outs:
            outs["token_value"] = _RedactedStr(outs["token_value"])
        outs.update(token_id=id_, **_token_times(info))
        return ReadResult(id_, outs)

    @_unchained("update")
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # Only comment / rotate_before_days reach here (see diff): bookkeeping, no call to Databricks.
        outs = {**_inputs(news), **{key: unwrap_rpc_secret(olds[key]) for key in OUTPUT_KEYS if key in olds}}
        if "token_value" in outs:
            outs["token_value"] = _RedactedStr(outs["token_value"])
        return UpdateResult(outs)

    @_unchained("delete")
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with _client(_inputs(props), self.http_policy) as client:
            client.delete_token(id_)


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
