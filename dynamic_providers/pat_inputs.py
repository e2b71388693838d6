"""The inputs of `DatabricksPat`: their names, defaults and the check that normalises them or names what is
wrong with each. Pure: no network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pulumi.dynamic import CheckFailure
from pulumi.runtime.rpc import UNKNOWN, unwrap_rpc_secret

from clients.identity import CREDENTIAL_KINDS
from core.safe_load import shown

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
OUTPUT_KEYS = (
    "token_id",
    "token_value",
    "expiry_time",
    "creation_time",
    "token_comment",
    "created_by_username",
    "created_by_id",
)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_WORKSPACE_RESOURCE_ID = re.compile(
    r"^/subscriptions/[^/\x00-\x20\x7f]+/resourceGroups/[^/\x00-\x20\x7f]+"
    r"/providers/Microsoft\.Databricks/workspaces/[^/\x00-\x20\x7f]+$",
    re.IGNORECASE,
)


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value == UNKNOWN


def as_int(value: Any) -> int | None:
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


def checked_inputs(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Inputs with defaults applied and normalised, and one failure per unusable property."""

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
        return key in inputs and not is_unknown(inputs[key])

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
                    f"https://adb-….azuredatabricks.net, got {shown(inputs['workspace_url'])}",
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
                    f"/providers/Microsoft.Databricks/workspaces/…, got {shown(resource_id)}",
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
                "tenant_id", f"tenant_id must be a tenant GUID or domain, got {shown(inputs['tenant_id'])}"
            )
        )

    if "client_id" not in inputs:
        failures.append(
            CheckFailure("client_id", "client_id (the service principal's application id) is required")
        )
    elif known("client_id") and not (
        isinstance(inputs["client_id"], str) and _GUID.fullmatch(inputs["client_id"])
    ):
        failures.append(CheckFailure("client_id", f"client_id must be a GUID, got {shown(inputs['client_id'])}"))

    if known("credential") and inputs["credential"] not in CREDENTIAL_KINDS:
        failures.append(
            CheckFailure(
                "credential",
                f"credential must be one of {', '.join(CREDENTIAL_KINDS)}, got {shown(inputs['credential'])}",
            )
        )

    if known("azure_authority_host"):
        host = _authority_host(inputs["azure_authority_host"])
        if host is None:
            failures.append(
                CheckFailure(
                    "azure_authority_host",
                    "azure_authority_host must be a host such as login.microsoftonline.us or an https URL, "
                    f"got {shown(inputs['azure_authority_host'])}",
                )
            )
        else:
            inputs["azure_authority_host"] = host

    lifetime = None
    if known("lifetime_days"):
        lifetime = as_int(inputs["lifetime_days"])
        if lifetime is None or not 1 <= lifetime <= MAX_LIFETIME_DAYS:
            failures.append(
                CheckFailure(
                    "lifetime_days",
                    f"lifetime_days must be a whole number from 1 to {MAX_LIFETIME_DAYS} "
                    f"(a token must expire), got {shown(inputs['lifetime_days'])}",
                )
            )
            lifetime = None
        else:
            inputs["lifetime_days"] = lifetime

    if known("rotate_before_days"):
        rotate = as_int(inputs["rotate_before_days"])
        if rotate is None or rotate < 0:
            failures.append(
                CheckFailure(
                    "rotate_before_days",
                    "rotate_before_days must be a whole number of days, 0 or more, "
                    f"got {shown(inputs['rotate_before_days'])}",
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
        failures.append(CheckFailure("comment", f"comment must be a string, got {shown(inputs['comment'])}"))

    return inputs, failures
