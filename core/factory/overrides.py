"""Per-stage overrides of factory/ objects (``dataFactoryOverrides``), in the spirit of azure.datafactory.tools'
``config-<stage>`` files, with placeholders for the stage's own values.

    dataFactoryOverrides:
      linkedService/ls_sales_db:
        typeProperties.server: sql-sales-test.database.windows.net
      pipeline/pl_run_sales_job:
        activities[Run sales job].typeProperties.jobId: ${jobIds.sales-pipeline}
        -activities[Notify].policy.secureInput: null

A key is ``<kind folder>/<object name>`` (``factory/<name>`` for the factory file's global parameters). A path
is relative to the file's ``properties``: ``.`` steps into an object, ``[n]`` picks a list item by position,
``[name]`` picks the list item whose ``name`` is ``name`` (or an object's key that contains dots, e.g.
``newClusterSparkConf[spark.speculation]``). A plain path replaces a value that exists; ``+path`` adds or
replaces a property of an object that exists; ``-path`` removes one that exists (its value must be null).
Strings may hold ``${...}`` placeholders for the stage's values; ``$${`` is a literal ``${``. A string that is
exactly one placeholder takes the placeholder's value as is.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

PLAIN_PLACEHOLDERS = {
    "vaultUri": "the stage's Key Vault URI (https://kv-...vault.azure.net/)",
    "keyVaultName": "the stage's Key Vault name",
    "workspaceUrl": "the stage's Databricks workspace URL (https://adb-...azuredatabricks.net)",
    "workspaceResourceId": "the ARM id of the stage's Databricks workspace",
    "stage": "the stage (stack) name",
}
GROUP_PLACEHOLDERS = {
    "poolIds": "the id of a configured instance pool, ${poolIds.<pool name>}",
    "jobIds": "the id of a job the program declares from jobs/, ${jobIds.<job name>}",
}


@dataclass(frozen=True)
class Placeholder:
    """A stage value known only after deployment, e.g. ``jobIds.sales-pipeline``."""

    name: str


@dataclass(frozen=True)
class Template:
    """A string with placeholders; resolved to the stage's values when resources are declared."""

    parts: tuple[str | Placeholder, ...]

    @property
    def single(self) -> Placeholder | None:
        """The placeholder, when the string is exactly one (its value then keeps its own type)."""
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], Placeholder) else None

    def render(self, values: Mapping[str, Any]) -> Any:
        """The value with plain (already known) placeholder values: for tests and documentation."""
        if self.single:
            return values[self.single.name]
        return "".join(part if isinstance(part, str) else str(values[part.name]) for part in self.parts)


_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([^}]*)\}")


class OverrideError(Exception):
    """A problem with one override; the message says what, the caller says where."""


def parse_template(text: str, *, pools: Collection[str], jobs: Collection[str]) -> str | Template:
    """``text`` itself when it has no placeholder, else a Template; raise OverrideError for unknown names."""
    if "${" not in text:
        return text
    parts: list[str | Placeholder] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(text[position:match.start()])
        position = match.end()
        if match.group(0) == "$${":
            parts.append("${")
            continue
        parts.append(Placeholder(_placeholder_name(match.group(1), pools=pools, jobs=jobs)))
    parts.append(text[position:])
    merged: list[str | Placeholder] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    if all(isinstance(part, str) for part in merged):
        return "".join(merged)  # only escapes
    return Template(tuple(merged))


def _placeholder_name(name: str, *, pools: Collection[str], jobs: Collection[str]) -> str:
    if name in PLAIN_PLACEHOLDERS:
        return name
    group, dot, member = name.partition(".")
    if dot and group in GROUP_PLACEHOLDERS:
        members = pools if group == "poolIds" else jobs
        if member in members:
            return name
        what = "configured pool" if group == "poolIds" else "job in jobs/"
        raise OverrideError(f"${{{name}}}: no {what} named {member!r}; known: {', '.join(sorted(members)) or 'none'}")
    known = [*PLAIN_PLACEHOLDERS, *(f"{group}.<name>" for group in GROUP_PLACEHOLDERS)]
    raise OverrideError(f"${{{name}}}: unknown placeholder; known: {', '.join('${' + k + '}' for k in known)}")


def parse_value(value: Any, *, pools: Collection[str], jobs: Collection[str]) -> Any:
    """An override's value with every string's placeholders parsed (nested objects and lists too)."""
    if isinstance(value, str):
        return parse_template(value, pools=pools, jobs=jobs)
    if isinstance(value, list):
        return [parse_value(item, pools=pools, jobs=jobs) for item in value]
    if isinstance(value, dict):
        return {key: parse_value(item, pools=pools, jobs=jobs) for key, item in value.items()}
    return value


_STEP = re.compile(r"\.?([^.\[\]]+)|\[([^\]]*)\]")


def parse_path(path: str) -> tuple[str, list[str | tuple[str]]]:
    """``(mode, steps)``: mode ``=``, ``+`` or ``-``; a step is a key, or a 1-tuple holding a bracket's text."""
    mode = "="
    if path[:1] and path[:1] in "+-":
        mode, path = path[0], path[1:]
    if not path:
        raise OverrideError("the path is empty; write e.g. typeProperties.url, activities[0].name or "
                            "activities[Copy sales].policy.retry")
    steps: list[str | tuple[str]] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None or (position == 0 and path.startswith(".")):
            raise OverrideError(f"cannot read the path at {path[position:]!r}; write e.g. "
                                "typeProperties.url, activities[0].name or activities[Copy sales].policy.retry")
        key, bracket = match.groups()
        steps.append(key if key is not None else (bracket.strip().strip("'\""),))
        position = match.end()
    if not steps:
        raise OverrideError("empty path")
    return mode, steps


def _step_into(container: Any, step: str | tuple[str], shown: str) -> tuple[Any, str | int]:
    """The key or index ``step`` selects in ``container``; raise OverrideError naming ``shown``."""
    if isinstance(step, tuple):
        selector = step[0]
        if isinstance(container, list):
            if re.fullmatch(r"-?\d+", selector):
                index = int(selector)
                if not 0 <= index < len(container):
                    raise OverrideError(f"{shown}: no item {index} (the list has {len(container)})")
                return container, index
            named = [i for i, item in enumerate(container) if isinstance(item, dict) and item.get("name") == selector]
            if len(named) != 1:
                names = [item.get("name") for item in container if isinstance(item, dict) and "name" in item]
                raise OverrideError(f"{shown}: no item named {selector!r}; names here: {names or 'none'}")
            return container, named[0]
        key = selector
    else:
        key = step
    if not isinstance(container, dict):
        raise OverrideError(f"{shown}: not an object")
    return container, key


def apply_override(properties: dict, path: str, value: Any) -> None:
    """Apply one override to ``properties`` (the file's ``properties``, changed in place)."""
    mode, steps = parse_path(path)
    if mode == "-" and value is not None:
        raise OverrideError("a removal (-path) takes no value: set it to null (~ in YAML)")
    node: Any = properties
    shown = ""
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        text = step if isinstance(step, str) else f"[{step[0]}]"
        shown = f"{shown}.{text}" if shown and isinstance(step, str) else f"{shown}{text}"
        container, key = _step_into(node, step, shown)
        exists = isinstance(key, int) or key in container
        if not last:
            if not exists:
                raise OverrideError(f"{shown}: no such property")
            node = container[key]
            continue
        if mode == "-":
            if not exists:
                raise OverrideError(f"{shown}: no such property to remove")
            del container[key]
        elif mode == "+" or exists:
            container[key] = copy.deepcopy(value)
        else:
            raise OverrideError(f"{shown}: no such property (write +{path} to add it)")
