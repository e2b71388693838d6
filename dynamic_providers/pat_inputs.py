"""The inputs of `DatabricksPat`: their names, defaults and the check that normalises them or names what is
wrong with each. Pure: no network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import CheckFailure
from pulumi.runtime.rpc import unwrap_rpc_secret

from core.messages import shown
from dynamic_providers.provider_inputs import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_CREDENTIAL,
    as_int,
    https_origin,
    identity_failures,
    is_unknown,
)
from dynamic_providers.token_model import comment_problem

DEFAULT_LIFETIME_DAYS = 90
DEFAULT_ROTATE_BEFORE_DAYS = 14
MAX_LIFETIME_DAYS = 730
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

_WORKSPACE_RESOURCE_ID = re.compile(
    r"^/subscriptions/[^/\x00-\x20\x7f]+/resourceGroups/[^/\x00-\x20\x7f]+"
    r"/providers/Microsoft\.Databricks/workspaces/[^/\x00-\x20\x7f]+$",
    re.IGNORECASE,
)


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
        origin = https_origin(inputs["workspace_url"])
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

    failures += identity_failures(inputs, client_id_required=True)

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

    if known("comment"):
        problem = comment_problem(inputs["comment"])
        if problem is not None:
            # The reason names the length or the character, never the (possibly huge) value itself.
            failures.append(CheckFailure("comment", problem))

    return inputs, failures
