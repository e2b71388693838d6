"""Print a plan, or the difference between two plans, as text, JSON or Markdown."""

from __future__ import annotations

import json
import re
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
    # No inputs or outputs at all (a stack new or removed in this change) are no paths, not one empty path.
    before, after = (flatten(values) if values else {} for values in (old, new))
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


def diff_to_text(diff: PlanDiff, *, stack: str, ref: str, note: str = "") -> str:
    """The diff of one stack; ``note`` (e.g. "new in this change") follows the ref in the first line."""
    lines = [
        f"Offline plan diff of stack {stack} against {ref}{f' ({note})' if note else ''}: {len(diff.added)} to add, "
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


def _markdown_counts(diff: PlanDiff) -> str:
    return (
        f"**{len(diff.added)}** to add, **{len(diff.changed)}** to change, **{len(diff.removed)}** to remove"
        + (", outputs changed" if diff.outputs else "")
    )


def _markdown_changes(diff: PlanDiff) -> list[str]:
    if diff.empty:
        return ["No changes to what this stack declares."]
    lines = ["| | Type | Name | Changed inputs |", "|---|---|---|---|"]
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
    return lines


_MARKDOWN_NOTE = (
    "_Planned offline under Pulumi's mock runtime, without cloud credentials: `<computed>` is known only "
    "after deployment and `[secret]` values are never shown. It does not compare with what exists in "
    "Azure._"
)


def diff_to_markdown(diff: PlanDiff, *, stack: str, ref: str) -> str:
    lines = [f"### Offline plan: stack `{stack}` against `{ref}`", "", _markdown_counts(diff), ""]
    lines += _markdown_changes(diff)
    lines += ["", _MARKDOWN_NOTE]
    return "\n".join(lines) + "\n"


# Several stacks: one section per stack, in the order asked for.

COMMENT_MARKER = "<!-- databricks-platform:offline-plan -->"
"""First line of the multi-stack Markdown: a tool finds the pull-request comment by it and updates it."""


@dataclass
class StackDiff:
    """One stack's section of a diff against a ref."""

    stack: str
    diff: PlanDiff | None
    """None when the stack could not be planned, at the ref or in the working tree."""
    change: str = ""
    """"new in this change" (no stack file at the ref), "removed in this change" (none in the working tree) or ""."""
    problems: list[str] = field(default_factory=list)
    """Why it could not be planned, or what a post-plan check found; any problem fails the run."""


def stacks_to_json(plans: dict[str, dict[str, Any]], problems: dict[str, list[str]]) -> str:
    """Several stacks: ``{"stacks": {<stack>: <plan>}, "problems": {<stack>: [<line>]}}``.

    A stack that could not be planned is only in ``problems``; both keys are always there.
    """
    return to_json({"stacks": plans, "problems": {stack: lines for stack, lines in problems.items() if lines}})


def _problem_lines(problems: list[str]) -> list[str]:
    return [f"! {problem}" for problem in problems]


def stacks_to_text(plans: dict[str, dict[str, Any] | None], problems: dict[str, list[str]]) -> str:
    """Several stacks: one section per stack, each the stack's own plan text, then its problems (`! `)."""
    sections = []
    for stack, plan in plans.items():
        text = to_text(plan) if plan is not None else f"Offline plan of stack {stack}: could not be planned\n"
        sections.append(text + "".join(f"{line}\n" for line in _problem_lines(problems.get(stack, []))))
    return "\n".join(sections)


def stack_diffs_to_text(items: list[StackDiff], *, ref: str) -> str:
    sections = []
    for item in items:
        if item.diff is None:
            text = f"Offline plan diff of stack {item.stack} against {ref}: could not be planned\n"
        else:
            text = diff_to_text(item.diff, stack=item.stack, ref=ref, note=item.change)
        sections.append(text + "".join(f"{line}\n" for line in _problem_lines(item.problems)))
    return "\n".join(sections)


def _fenced(lines: list[str]) -> list[str]:
    # A fence longer than any run of backticks in the text, so no message can end the block early.
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", *lines, fence]


def stack_diffs_to_markdown(items: list[StackDiff], *, ref: str) -> str:
    """One pull-request comment: the marker, a summary table, then a section per stack."""
    shown_ref = ref.replace("`", "'")
    lines = [
        COMMENT_MARKER,
        f"## Offline plan against `{shown_ref}`",
        "",
        "| Stack | To add | To change | To remove | |",
        "|---|---:|---:|---:|---|",
    ]
    for item in items:
        notes = [item.change] if item.change else []
        if item.diff is not None and item.diff.outputs:
            notes.append("outputs changed")
        if item.diff is None:
            notes.append("❌ could not be planned")
            counts = "| – | – | –"
        else:
            counts = f"| {len(item.diff.added)} | {len(item.diff.changed)} | {len(item.diff.removed)}"
            if item.problems:
                notes.append(f"❌ {len(item.problems)} problem{'s' if len(item.problems) > 1 else ''}")
        lines.append(f"| `{item.stack}` {counts} | {', '.join(notes)} |")
    for item in items:
        lines += ["", f"### Stack `{item.stack}`" + (f" ({item.change})" if item.change else ""), ""]
        if item.diff is not None:
            lines += [_markdown_counts(item.diff), "", *_markdown_changes(item.diff)]
        if item.problems:
            if item.diff is not None:
                lines.append("")
            lines += ["❌ " + ("Could not be planned:" if item.diff is None else "Problems:"), ""]
            lines += _fenced(item.problems)
    lines += ["", _MARKDOWN_NOTE]
    return "\n".join(lines) + "\n"
