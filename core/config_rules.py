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
PROJECT = "databricks-platform"  # the Pulumi project: its config namespace and its `project` tag
# Tags the program puts on every resource; a stack's tags may not override them (Azure compares tag
# names case-insensitively, so neither may `Stage`), nor may a job's tags or its clusters' custom tags.
RESERVED_TAGS = ("project", "stage", "managed-by")


def reserved_tags(stage: str) -> dict[str, str]:
    """The reserved tags with the values the program gives them in ``stage``."""
    return {"project": PROJECT, "stage": stage, "managed-by": "pulumi"}
# Azure: 50 tags per resource, names 1-512 characters without <>%&\?/ and not starting with azure,
# microsoft or windows, values up to 256. Databricks pools and clusters take at most 45 custom tags, and
# pools carry all of the stage's tags, so 45 is the cap (the reserved tags included).
MAX_TAGS = 45
_TAG_NAME_FORBIDDEN = set('<>%&\\?/')
_TAG_NAME_RESERVED_PREFIXES = ("azure", "microsoft", "windows")


# Key Vault's documented limits: at most 1,000 IPv4 rules, public addresses only (not RFC 1918). Ranges that
# are never a client's public address are refused with them: a rule for them admits nobody, or someone else.
MAX_IP_RULES = 1000
_NOT_PUBLIC = tuple((ipaddress.ip_network(network), reason) for network, reason in (
    ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
    ("10.0.0.0/8", "a private range (RFC 1918)"),
    ("100.64.0.0/10", "the carrier-grade NAT range (100.64.0.0/10)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "a private range (RFC 1918)"),
    ("192.168.0.0/16", "a private range (RFC 1918)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (240.0.0.0/4, with the broadcast address)"),
))


def ip_range(value: str) -> str:
    """A public IPv4 address or CIDR range as ARM stores it: ``a.b.c.d/n`` without host bits, a /32 bare."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("must be an IPv4 address or CIDR range, e.g. 203.0.113.0/24 or 203.0.113.5") from None
    if network.version != 4:
        raise ValueError("Key Vault's firewall accepts IPv4 addresses and ranges only")
    canonical = str(network.network_address) if network.prefixlen == 32 else str(network)
    if value not in (canonical, f"{canonical}/32"):
        if "/" in value and ipaddress.ip_address(value.split("/")[0]) != network.network_address:
            raise ValueError(f"has host bits set; did you mean {canonical!r}?")
        raise ValueError(f"is not in the form ARM stores; write {canonical!r}")
    if network.prefixlen == 0:
        raise ValueError(f"{value!r} is every IPv4 address: with keyVaultNetworkDefaultAction Deny it would silently "
                         "open the vault's firewall to the whole internet (and with Allow it changes nothing); list "
                         "the public addresses that need the vault instead")
    for reserved, reason in _NOT_PUBLIC:
        if network.overlaps(reserved):
            what = "is" if network.subnet_of(reserved) else f"includes {reserved}, which is"
            raise ValueError(f"{value!r} {what} {reason}: Key Vault's firewall takes public IPv4 addresses only; "
                             "list the public address (or range) that the deploying agent or consumer connects from")
    if network.prefixlen == 31:
        first, second = network
        raise ValueError(f"{value!r} is a /31, two addresses; list them as {str(first)!r} and {str(second)!r}")
    # ARM answers a /32 rule with the bare address; writing it bare keeps every `up` free of a diff.
    return canonical


def checked_ip_ranges(ranges: list[str]) -> list[str]:
    """The firewall's list: at most Key Vault's 1,000 rules, each once (entries are canonical by now)."""
    if len(ranges) > MAX_IP_RULES:
        raise ValueError(f"{len(ranges):,} entries; Key Vault's firewall takes at most {MAX_IP_RULES:,} IPv4 rules "
                         "(merge neighbouring addresses into CIDR ranges)")
    repeated = sorted({entry for entry in ranges if ranges.count(entry) > 1})
    if repeated:
        raise ValueError(f"each range may appear once (a /32 is the bare address); given more than once: "
                         f"{shown(repeated)}")
    return ranges


def checked_tags(value: dict[str, str]) -> dict[str, str]:
    """A stack's own tags, against Azure's and Databricks' tag rules and the reserved names."""
    problems = []
    seen: dict[str, str] = {}
    for name, tag_value in value.items():
        lowered = name.strip().lower()
        if lowered in RESERVED_TAGS:
            problems.append(f"tag {shown(name)} is set by the program on every resource (project, stage, "
                            "managed-by, in any case and with any spaces around) and cannot be overridden")
        elif name != name.strip():
            problems.append(f"tag name {shown(name)} starts or ends with a space; write it without: Azure compares "
                            "tag names as written, so it would be another tag than the one you read")
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
