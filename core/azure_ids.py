"""The shapes Azure values take in the files a user hands the ops commands: ARM resource ids, https origins and
Entra ID authority hosts.

Each check matches the whole value (a trailing newline, a space or a control character is no part of an id,
a URL or a host: sent in an HTTP header or a URL, it breaks the request or smuggles another header) and says
what is allowed. Standard library only, so importing it costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# ARM's resource group rule: 1 to 90 letters, digits, _ - . ( ), not ending with a period.
RESOURCE_GROUP = r"[-\w.()]{0,89}[-\w()]"
HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*")
# Any ARM id of a resource in a resource group, its segments free of slashes, whitespace and control characters.
_ANY_RESOURCE_ID = re.compile(
    r"/subscriptions/(?P<subscription>[^/\s]+)/resourceGroups/(?P<group>[^/\s]+)"
    r"/providers/(?P<namespace>[^/\s]+)/(?P<type>[^/\s]+)/(?P<name>[^/\s]+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ResourceType:
    """A kind of ARM resource whose id a command reads."""

    label: str
    """What a user calls it, with its article: "an Azure Databricks workspace"."""
    namespace: str
    """Its resource provider: "Microsoft.Databricks"."""
    type: str
    """Its type within the provider: "workspaces"."""
    name_pattern: str
    """Azure's rule for its name, as a regular expression matched whole."""
    name_rule: str
    """That rule in words."""

    @property
    def shape(self) -> str:
        return f"/subscriptions/<subscription id>/resourceGroups/<group>/providers/{self.namespace}/{self.type}/<name>"


DATABRICKS_WORKSPACE = ResourceType(
    "an Azure Databricks workspace", "Microsoft.Databricks", "workspaces", r"[A-Za-z0-9_-]{3,64}",
    "3 to 64 letters, digits, _ and -",
)
DATA_FACTORY = ResourceType(
    "a Data Factory", "Microsoft.DataFactory", "factories", r"[A-Za-z0-9](?:[A-Za-z0-9-]{1,61})[A-Za-z0-9]",
    "3 to 63 letters, digits and -, starting and ending with a letter or digit",
)


@dataclass(frozen=True)
class ResourceId:
    """The parts of an ARM resource id."""

    subscription_id: str
    resource_group: str
    name: str


def parse_resource_id(value: object, kind: ResourceType) -> ResourceId:
    """The parts of ``value``, the ARM id of a ``kind`` resource; ValueError saying what is wrong with it and
    which shape is expected."""
    expected = f"expected {kind.label} resource id '{kind.shape}'"
    if isinstance(value, str) and (not value.isprintable() or any(c.isspace() for c in value)):
        raise ValueError(f"{expected}; this one holds a space, a line break or a control character")
    match = _ANY_RESOURCE_ID.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(expected)
    found = f"{match['namespace']}/{match['type']}"
    if found.lower() != f"{kind.namespace}/{kind.type}".lower():
        raise ValueError(f"{expected}; this is the id of a {found}")
    if not re.fullmatch(GUID, match["subscription"]):
        raise ValueError(f"{expected}; its subscription id is not a GUID")
    if not re.fullmatch(RESOURCE_GROUP, match["group"]):
        raise ValueError(f"{expected}; its resource group is not 1 to 90 letters, digits, _ - . ( ) "
                         "(not ending with a period)")
    if not re.fullmatch(kind.name_pattern, match["name"]):
        raise ValueError(f"{expected}; its name is not {kind.name_rule}")
    return ResourceId(match["subscription"], match["group"], match["name"])


def https_origin(value: object) -> str | None:
    """``https://host[:port]`` (lower-cased) of an https URL with no path, query, fragment, credentials,
    whitespace or control characters; None for anything else."""
    if not isinstance(value, str) or not value.isprintable() or any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:  # "https://[::1" and other invalid hosts
        return None
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or "#" in value:
        return None
    if parts.path not in ("", "/") or parts.username is not None or parts.password is not None or "?" in value:
        return None
    return f"https://{parts.netloc.lower()}"


def authority_host(value: object) -> str | None:
    """An Entra ID authority host as azure-identity takes it: a bare host name (``login.microsoftonline.us``) or
    an https origin (``https://login.microsoftonline.us``), lower-cased; None for anything else."""
    if not isinstance(value, str):
        return None
    if "://" in value:
        return https_origin(value)
    return value.lower() if HOSTNAME.fullmatch(value) else None
