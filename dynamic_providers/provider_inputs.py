"""Input checks every dynamic provider of the project makes alike: unknown values, whole numbers, https
origins and the deploying identity (tenant, client id, credential kind, authority host).

Each check matches the whole value (``fullmatch``: a trailing newline is no part of a GUID or a host), lets
values that are unknown during preview through, and echoes a bad value capped (core.messages.shown).
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from pulumi.dynamic import CheckFailure
from pulumi.runtime.rpc import UNKNOWN

from clients.identity import CREDENTIAL_KINDS
from core import azure_ids
from core.messages import shown

DEFAULT_CREDENTIAL = "environment"
DEFAULT_AUTHORITY_HOST = "login.microsoftonline.com"

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")


class RedactedStr(str):
    """A str whose repr hides it: a secret output stays out of any accidental repr or log of a dict."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'[secret]'"


def is_unknown(value: Any) -> bool:
    """Whether ``value`` is known only after deployment (a preview's placeholder)."""
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


def https_origin(value: Any) -> str | None:
    """`https://host[:port]` of a URL with no path, query, fragment or credentials (outer white space
    ignored), else None: core.azure_ids' check, the one the ops commands apply to the same values."""
    return azure_ids.https_origin(value.strip()) if isinstance(value, str) else None


def authority_host(value: Any) -> str | None:
    """A bare host (`login.microsoftonline.us`, lower-cased) or an https origin (`https://127.0.0.1:8443`);
    outer white space and a trailing slash are ignored."""
    return azure_ids.authority_host(value.strip().rstrip("/")) if isinstance(value, str) else None


def matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def identity_failures(inputs: MutableMapping[str, Any], *, client_id_required: bool) -> list[CheckFailure]:
    """Failures of the deploying identity's inputs; a known authority host is normalised in place.

    ``client_id_required``: False where a managed identity may be system-assigned and an `az login`
    session knows who it is; the client id is then checked only when given.
    """
    failures: list[CheckFailure] = []

    def check(key: str, ok: bool, allowed: str) -> None:
        if not ok:
            failures.append(CheckFailure(key, f"{key} must be {allowed}, got {shown(inputs[key])}"))

    def known(key: str) -> bool:
        return key in inputs and not is_unknown(inputs[key])

    for key, what, required in (("tenant_id", "the deploying identity's Entra ID tenant", True),
                                ("client_id", "the deploying identity's application (client) id", client_id_required)):
        if key not in inputs and required:
            failures.append(CheckFailure(key, f"{key} is required: {what}"))
    if known("tenant_id"):
        check("tenant_id", matches(TENANT, inputs["tenant_id"]), "the deploying identity's tenant (a GUID or domain)")
    if known("client_id"):
        check("client_id", matches(GUID, inputs["client_id"]), "an application (client) id, a GUID")
    if known("credential"):
        check("credential", inputs["credential"] in CREDENTIAL_KINDS, f"one of {', '.join(CREDENTIAL_KINDS)}")
    if known("azure_authority_host"):
        host = authority_host(inputs["azure_authority_host"])
        check("azure_authority_host", host is not None,
              "an Entra ID authority host such as login.microsoftonline.us, or an https URL")
        if host is not None:
            inputs["azure_authority_host"] = host
    return failures
