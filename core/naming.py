"""Deterministic, Azure-valid physical names for one stage.

Every named resource gets an explicit name built from the prefix and the stage (never Pulumi
auto-naming), so a stage is reproducible and consumers know a vault's name before it exists.
The prefix and the stage are validated by the config model to be short lowercase alphanumerics,
so no name here ever needs truncating: each is the longest case and still within Azure's limits.
Names are injective: two different (prefix, stage) pairs never share a name, not even the storage
account, whose name has no separator (``dbp``+``dev1`` and ``dbpd``+``ev1`` would both read
``dbpdev1``: lengths keep them apart).
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass

# The config model enforces these; naming relies on them to stay within every service's limits.
# Use with fullmatch: `$` also matches before a trailing newline.
PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9]{1,7}")  # 2..8 chars
STAGE_PATTERN = re.compile(r"[a-z][a-z0-9]{1,6}")  # 2..7 chars
SUFFIX_LENGTH = 4

_BASE36 = string.digits + string.ascii_lowercase


def global_suffix(project: str, prefix: str, stage: str) -> str:
    """A short suffix, stable for (project, prefix, stage), for names that must be unique in all of Azure."""
    number = int.from_bytes(hashlib.sha256(f"{project}/{prefix}/{stage}".encode()).digest()[:8], "big")
    chars = []
    for _ in range(SUFFIX_LENGTH):
        number, digit = divmod(number, 36)
        chars.append(_BASE36[digit])
    # A letter first keeps the suffix from ever reading as a number in tooling that parses names.
    return "s" + "".join(chars)[: SUFFIX_LENGTH - 1]


@dataclass(frozen=True)
class StageNames:
    """Physical names of one stage's named Azure resources."""

    resource_group: str
    """Resource group holding the workspace, vault and factory."""
    workspace: str
    """Azure Databricks workspace."""
    managed_resource_group: str
    """Group Azure Databricks creates and owns for the workspace's VMs; the program never creates it."""
    key_vault: str
    """Key Vault (globally unique DNS name)."""
    data_factory: str
    """Data Factory (globally unique)."""
    storage_account: str
    """Storage account name for stage data (globally unique, letters and digits only); reserved for later
    components."""


def stage_names(*, project: str, prefix: str, stage: str, unique_suffix: bool) -> StageNames:
    """Names for a stage. ``unique_suffix`` appends a stable suffix to globally unique names."""
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(f"prefix {prefix!r} must match {PREFIX_PATTERN.pattern}")
    if not STAGE_PATTERN.fullmatch(stage):
        raise ValueError(f"stage {stage!r} must match {STAGE_PATTERN.pattern}")
    suffix = global_suffix(project, prefix, stage) if unique_suffix else ""
    dashed = f"-{suffix}" if suffix else ""
    return StageNames(
        resource_group=f"rg-{prefix}-{stage}",
        workspace=f"dbw-{prefix}-{stage}",
        managed_resource_group=f"rg-{prefix}-{stage}-dbw-managed",
        key_vault=f"kv-{prefix}-{stage}{dashed}",
        data_factory=f"adf-{prefix}-{stage}{dashed}",
        # No separator is allowed, so each part's length is written before it: st3dbp4dev1, st4dbpd3ev1.
        storage_account=f"st{len(prefix)}{prefix}{len(stage)}{stage}{suffix}",
    )


# Azure's naming rules, one predicate per service; property tests hold every generated name to them.
def is_valid_resource_group_name(name: str) -> bool:
    return bool(re.fullmatch(r"[-\w.()]{1,90}", name, flags=re.ASCII)) and not name.endswith(".")


def is_valid_workspace_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_-]{3,64}", name))


def is_valid_key_vault_name(name: str) -> bool:
    return (
        bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]", name))
        and "--" not in name
    )


def is_valid_data_factory_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{1,61}[A-Za-z0-9])", name)) and "--" not in name


def is_valid_storage_account_name(name: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9]{3,24}", name))
