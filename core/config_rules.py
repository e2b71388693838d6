"""Rules a setting's value must follow, beyond its type: Azure's tag and firewall rules, whole text.

Used by the config model (core/config.py) as pydantic validators; each raises ValueError with a message
that says what is allowed (the model adds the file and key).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from core.errors import shown

# Control characters (a trailing newline!) and unpaired surrogates are never part of a setting.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Tags the program puts on every resource; a stack's tags may not override them (Azure compares tag
# names case-insensitively, so neither may `Stage`).
RESERVED_TAGS = ("project", "stage", "managed-by")
# Azure: 50 tags per resource, names 1-512 characters without <>%&\?/ and not starting with azure,
# microsoft or windows, values up to 256. Databricks pools and clusters take at most 45 custom tags, and
# pools carry all of the stage's tags, so 45 is the cap (the reserved tags included).
MAX_TAGS = 45
_TAG_NAME_FORBIDDEN = set('<>%&\\?/')
_TAG_NAME_RESERVED_PREFIXES = ("azure", "microsoft", "windows")


def ip_range(value: str) -> str:
    """An IPv4 address or CIDR range as ARM stores it: ``a.b.c.d/n`` with no host bits, /32 as the bare address."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("must be an IPv4 address or CIDR range, e.g. 203.0.113.0/24 or 203.0.113.5") from None
    if network.version != 4:
        raise ValueError("Key Vault's firewall accepts IPv4 addresses and ranges only")
    canonical = str(network.network_address) if network.prefixlen == 32 else str(network)
    if value in (canonical, f"{canonical}/32"):
        # ARM answers a /32 rule with the bare address; writing it bare keeps every `up` free of a diff.
        return canonical
    if "/" in value and ipaddress.ip_address(value.split("/")[0]) != network.network_address:
        raise ValueError(f"has host bits set; did you mean {canonical!r}?")
    raise ValueError(f"is not in the form ARM stores; write {canonical!r}")


def checked_tags(value: dict[str, str]) -> dict[str, str]:
    """A stack's own tags, against Azure's and Databricks' tag rules and the reserved names."""
    problems = []
    seen: dict[str, str] = {}
    for name, tag_value in value.items():
        lowered = name.lower()
        if lowered in RESERVED_TAGS:
            problems.append(f"tag {shown(name)} is set by the program on every resource (project, stage, "
                            "managed-by) and cannot be overridden")
        elif not name or len(name) > 512 or _TAG_NAME_FORBIDDEN & set(name) or CONTROL.search(name):
            problems.append(f"tag name {shown(name)} must be 1-512 characters without any of <>%&\\?/ or "
                            "control characters")
        elif lowered.startswith(_TAG_NAME_RESERVED_PREFIXES):
            problems.append(f"tag name {shown(name)} starts with a prefix Azure reserves (azure, microsoft, "
                            "windows)")
        elif lowered in seen:
            problems.append(f"tags {shown(seen[lowered])} and {shown(name)} are the same tag to Azure, which "
                            "compares tag names case-insensitively")
        seen.setdefault(lowered, name)
        if len(tag_value) > 256 or CONTROL.search(tag_value):
            problems.append(f"tag {shown(name)} has a value longer than 256 characters or with control "
                            f"characters (got {shown(tag_value)})")
    if len(value) + len(RESERVED_TAGS) > MAX_TAGS:
        problems.append(f"{len(value)} tags plus the {len(RESERVED_TAGS)} the program sets is more than "
                        f"{MAX_TAGS}, the most a Databricks pool or cluster accepts (Azure allows 50)")
    if problems:
        raise ValueError("; ".join(problems))
    return value


def text_without_controls(value: Any) -> Any:
    """Every string in a setting is checked whole: `dbp\\n` is not a prefix, whatever a pattern says."""
    for text in _strings(value):
        if CONTROL.search(text):
            raise ValueError(f"must not contain control characters such as a newline (got {shown(text)})")
    return value


def _strings(value: Any) -> list[str]:
    found, pending = [], [value]
    while pending:  # no recursion: nesting is bounded by the loaders, but a list is cheap enough
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return found


def https_url(value: str) -> str:
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?", value):
        raise ValueError("must be an https URL, e.g. https://github.contoso.com")
    return value
