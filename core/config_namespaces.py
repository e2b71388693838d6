"""Config keys that are not this project's: each is someone's, or it is a mistake.

The engine hands the program every key of the stack, whatever its namespace. A key in a namespace the
program does not use (``databricks-platfrom:keyVaultPurgeProtection``, ``Databricks-Platform:...``) is
read by nobody, so an irreversible setting could silently keep its default. Such keys are errors with a
did-you-mean; so are keys the azure-native or databricks provider does not have (their key lists come
from the installed SDKs, so they follow the pinned versions), and ``pulumi:`` keys Pulumi does not read.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
from collections.abc import Collection
from pathlib import Path

from core.messages import shown_name

# Providers whose default instance reads stack config, by namespace → Python package.
PROVIDER_PACKAGES = {"azure-native": "pulumi_azure_native", "databricks": "pulumi_databricks"}
# The keys the Pulumi CLI itself reads in its `pulumi:` namespace: autonaming (physical name patterns),
# disable-default-providers, tags (stack tags, set in Pulumi.yaml by Pulumi's templates) and template (written by
# `pulumi new`). Pulumi accepts any other `pulumi:` key without a word and nobody reads it, so a misspelt
# `pulumi:disable-default-provider` would silently keep the default providers: any other key is an error.
PULUMI_KEYS = ("autonaming", "disable-default-providers", "tags", "template")
_CONFIG_GETTER = re.compile(r"__config__\.get(?:_bool|_int|_float|_object|_secret)?\('([A-Za-z0-9_]+)'\)")


@functools.cache
def provider_keys(namespace: str) -> frozenset[str] | None:
    """The config keys of a provider's installed SDK (read from its config/vars.py without importing the
    package, which costs seconds), or None when they cannot be found (then any key is accepted)."""
    package = PROVIDER_PACKAGES.get(namespace)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "config" / "vars.py").read_text("utf-8")
    except OSError:
        return None
    keys = frozenset(_CONFIG_GETTER.findall(text))
    return keys or None


def _close(word: str, choices: Collection[str], cutoff: float = 0.75) -> str | None:
    """The choice ``word`` most likely misspells: same letters in another case first, then difflib."""
    word = word[:100]  # difflib is quadratic; no real key is longer
    for choice in choices:
        if choice.lower() == word.lower():
            return choice
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return close[0] if close else None


def foreign_key_problem(full_key: str, *, project: str, project_keys: Collection[str]) -> str | None:
    """Why a key outside ``project``'s namespace is wrong (without the file name), or None if it is fine."""
    namespace, separator, key = full_key.partition(":")
    shown_key = shown_name(full_key)
    if not separator:
        return f"{shown_key}: a config key is <namespace>:<key>, e.g. {project}:prefix"
    if namespace == "pulumi":
        if key in PULUMI_KEYS:
            return None
        close = _close(key, PULUMI_KEYS, cutoff=0.6)
        hint = f"did you mean 'pulumi:{close}'? " if close else ""
        return (f"{shown_key}: not a setting Pulumi reads, so nothing would read it; {hint}Pulumi's own settings "
                f"are {', '.join(f'pulumi:{known}' for known in PULUMI_KEYS)}")
    if namespace in PROVIDER_PACKAGES:
        known = provider_keys(namespace)
        if known is None or key in known:
            return None
        close = _close(key, known)
        hint = f"did you mean '{namespace}:{close}'? " if close else ""
        return (f"{shown_key}: the {namespace} provider has no such setting; {hint}"
                f"its settings: {', '.join(sorted(known))}")
    namespaces = (project, *PROVIDER_PACKAGES, "pulumi")
    close_namespace = _close(namespace, namespaces)
    if close_namespace == project:
        close_key = key if key in project_keys else _close(key, project_keys, cutoff=0.6)
        suggestion = f"{project}:{close_key}" if close_key else f"{project}:<key>"
        return (f"{shown_key}: namespace {shown_name(namespace)} is not this project's, so nothing would "
                f"read this setting; did you mean '{suggestion}'?")
    hint = f"did you mean '{close_namespace}:{key[:100]}'? " if close_namespace else ""
    return (f"{shown_key}: namespace {shown_name(namespace)} is not used by this program, so nothing would "
            f"read this setting; {hint}config keys belong to {project} (this program), "
            f"{', '.join(PROVIDER_PACKAGES)} or pulumi")
