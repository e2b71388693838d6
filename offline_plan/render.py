"""Print a plan, or the difference between two plans, as text, JSON or Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def to_json(plan: dict[str, Any]) -> str:
    # sort_keys + the runner's URN order: two runs of the same stack are byte-identical.
    return json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by path (`properties.networkAcls.ipRules[0].value`); empty containers are leaves."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(flatten(value[key], f"{path}.{key}" if path else key))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{path}[{index}]"))
        return out
    return {path: value}


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _key(resource: dict[str, Any]) -> str:
    # Parent URN + type + name identifies a resource across two runs, as Pulumi's URN does.
    return f"{resource['parent']}|{resource['type']}|{resource['name']}"


def engine_urn(*, stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """A resource's URN as the engine builds it: its parent's full type chain, without the root stack."""
    parent_type = parent.split("::")[2] if parent.count("::") >= 3 else "pulumi:pulumi:Stack"
    qualified = type_ if parent_type == "pulumi:pulumi:Stack" else f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def to_text(plan: dict[str, Any]) -> str:
    children: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    urns = set()
    for resource in plan["resources"]:
        urn = engine_urn(stack=plan["stack"], project=plan["project"], parent=resource["parent"],
                         type_=resource["type"], name=resource["name"])
        urns.add(urn)
        children.setdefault(resource["parent"], []).append((urn, resource))
    lines = [f"Offline plan of {plan['project']} stack {plan['stack']}: {len(plan['resources'])} resources", ""]

    def walk(parent: str, depth: int) -> None:
        for urn, resource in sorted(children.get(parent, []), key=lambda item: (item[1]["name"], item[0])):
            indent = "    " * depth
            lines.append(f"{indent}+ {resource['type']}  {resource['name']}")
            for path, value in flatten(resource["inputs"]).items():
                if path:
                    lines.append(f"{indent}      {path}: {_show(value)}")
            walk(urn, depth + 1)

    for root in sorted(parent for parent in children if parent not in urns):
        walk(root, 0)
    if plan.get("outputs"):
        lines += ["", "Outputs:"]
        lines += [f"    {path}: {_show(value)}" for path, value in flatten(plan["outputs"]).items()]
    lines += [
        "",
        '"<computed>" is known only after deployment; "[secret]" is never shown. The plan shows what',
        "the program declares, not what exists in Azure: run `pulumi preview` with credentials for that.",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class PlanDiff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], list[tuple[str, Any, Any]]]] = field(default_factory=list)
    outputs: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.outputs)


_MISSING = "(absent)"


def _changed_paths(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    before, after = flatten(old), flatten(new)
    return [
        (path, before.get(path, _MISSING), after.get(path, _MISSING))
        for path in sorted(before.keys() | after.keys())
        if before.get(path, _MISSING) != after.get(path, _MISSING)
    ]


def diff_plans(base: dict[str, Any], head: dict[str, Any]) -> PlanDiff:
    old = {_key(r): r for r in base["resources"]}
    new = {_key(r): r for r in head["resources"]}
    result = PlanDiff()
    result.added = [new[k] for k in sorted(new.keys() - old.keys())]
    result.removed = [old[k] for k in sorted(old.keys() - new.keys())]
    for key in sorted(old.keys() & new.keys()):
        paths = _changed_paths(old[key]["inputs"], new[key]["inputs"])
        if paths:
            result.changed.append((new[key], paths))
    result.outputs = _changed_paths(base.get("outputs", {}), head.get("outputs", {}))
    return result


def diff_to_text(diff: PlanDiff, *, stack: str, ref: str) -> str:
    lines = [
        f"Offline plan diff of stack {stack} against {ref}: {len(diff.added)} to add, "
        f"{len(diff.changed)} to change, {len(diff.removed)} to remove"
    ]
    for resource in diff.added:
        lines.append(f"+ {resource['type']}  {resource['name']}")
    for resource in diff.removed:
        lines.append(f"- {resource['type']}  {resource['name']}")
    for resource, paths in diff.changed:
        lines.append(f"~ {resource['type']}  {resource['name']}")
        lines += [f"      {path}: {_show(old)} => {_show(new)}" for path, old, new in paths]
    if diff.outputs:
        lines.append("~ outputs")
        lines += [f"      {path}: {_show(old)} => {_show(new)}" for path, old, new in diff.outputs]
    if diff.empty:
        lines.append("No changes.")
    return "\n".join(lines) + "\n"


def _md(text: Any) -> str:
    return _show(text).replace("|", "\\|").replace("`", "'")


def diff_to_markdown(diff: PlanDiff, *, stack: str, ref: str) -> str:
    lines = [
        f"### Offline plan: stack `{stack}` against `{ref}`",
        "",
        f"**{len(diff.added)}** to add, **{len(diff.changed)}** to change, **{len(diff.removed)}** to remove"
        + (", outputs changed" if diff.outputs else ""),
        "",
    ]
    if diff.empty:
        lines.append("No changes to what this stack declares.")
    else:
        lines += ["| | Type | Name | Changed inputs |", "|---|---|---|---|"]
        lines += [f"| ➕ | `{r['type']}` | `{r['name']}` | |" for r in diff.added]
        for resource, paths in diff.changed:
            names = ", ".join(f"`{path}`" for path, _, _ in paths)
            lines.append(f"| ✏️ | `{resource['type']}` | `{resource['name']}` | {names} |")
        lines += [f"| ➖ | `{r['type']}` | `{r['name']}` | |" for r in diff.removed]
        details = [(r["name"], paths) for r, paths in diff.changed]
        if diff.outputs:
            details.append(("stack outputs", diff.outputs))
        if details:
            lines += ["", "<details><summary>Changed values</summary>", ""]
            for name, paths in details:
                lines += [f"**{name}**", "", "| Input | Before | After |", "|---|---|---|"]
                lines += [f"| `{path}` | {_md(old)} | {_md(new)} |" for path, old, new in paths]
                lines.append("")
            lines.append("</details>")
    lines += [
        "",
        "_Planned offline under Pulumi's mock runtime, without cloud credentials: `<computed>` is known only "
        "after deployment and `[secret]` values are never shown. It does not compare with what exists in "
        "Azure._",
    ]
    return "\n".join(lines) + "\n"
