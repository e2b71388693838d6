"""References between ADF objects, found by walking their JSON, and the order they imply.

ADF points from one object to another with ``{"referenceName": <name>, "type": "<Kind>Reference"}`` wherever
it needs to (a dataset's linked service, a Key Vault secret's store, an activity's dataset, a trigger's
pipeline, a tumbling-window trigger's upstream trigger, a linked service's integration runtime or
credential, ...). Walking every object finds them all without a hand-kept list of places. A
``referenceName`` that is an expression (``"@pipeline().parameters.x"`` or ``{"value": ..., "type":
"Expression"}``) is resolved by ADF at run time: it is no static reference, so neither a dependency nor
missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.factory.kinds import BY_REFERENCE_TYPE, EXTERNAL_REFERENCE_TYPES, Kind

ObjectKey = tuple[str, str]
"""(kind folder, lower-cased name): ADF names are case-insensitive within a kind."""


def object_key(kind: Kind, name: str) -> ObjectKey:
    return (kind.folder, name.lower())


@dataclass(frozen=True)
class Reference:
    """One static reference from an object to another, where it is written."""

    kind: Kind
    name: str
    path: str

    @property
    def key(self) -> ObjectKey:
        return object_key(self.kind, self.name)


def is_expression(name: Any) -> bool:
    """Whether a referenceName is evaluated by ADF at run time (``@@`` escapes a literal ``@``)."""
    if isinstance(name, dict):
        return name.get("type") == "Expression"
    return isinstance(name, str) and name.startswith("@") and not name.startswith("@@")


def find_references(document: Any, path: str) -> tuple[list[Reference], list[str]]:
    """Every static reference in ``document`` and the problems with reference objects (path: message)."""
    found: list[Reference] = []
    problems: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            kind_name = value.get("type")
            if "referenceName" in value and isinstance(kind_name, str) and kind_name.endswith("Reference"):
                _visit(value, kind_name, where)
            for key, item in value.items():
                walk(item, f"{where}.{key}" if where else key)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")

    def _visit(value: dict, kind_name: str, where: str) -> None:
        name = value["referenceName"]
        if kind_name in EXTERNAL_REFERENCE_TYPES or is_expression(name):
            return
        kind = BY_REFERENCE_TYPE.get(kind_name)
        if kind is None:
            known = ", ".join(sorted({*BY_REFERENCE_TYPE, *EXTERNAL_REFERENCE_TYPES}))
            problems.append(f"{where}.type: unknown reference type {kind_name!r}; known: {known}")
            return
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.referenceName: expected the name of a {kind.label} or an expression")
            return
        found.append(Reference(kind, name, f"{where}.referenceName"))

    walk(document, path)
    return found, problems


def notebook_paths(document: Any, path: str) -> list[tuple[str, str]]:
    """(where, notebook path) of every Databricks notebook activity in ``document``, nested ones included.

    A path ADF resolves at run time (an expression) is no static reference and is left out.
    """
    found: list[tuple[str, str]] = []
    if isinstance(document, dict):
        if document.get("type") == "DatabricksNotebook":
            type_properties = document.get("typeProperties")
            notebook = document.get("notebookPath")
            if notebook is None and isinstance(type_properties, dict):
                notebook = type_properties.get("notebookPath")
            if isinstance(notebook, str) and not is_expression(notebook):
                activity = document.get("name")
                found.append((f"{path} ({activity})" if isinstance(activity, str) else path, notebook))
        for key, value in document.items():
            found += notebook_paths(value, f"{path}.{key}" if path else str(key))
    elif isinstance(document, list):
        for index, item in enumerate(document):
            found += notebook_paths(item, f"{path}[{index}]")
    return found


def find_cycles(edges: Mapping[ObjectKey, Iterable[ObjectKey]]) -> list[list[ObjectKey]]:
    """Each set of objects that reference each other in a circle, as one cycle path (first node repeated
    at the end), in a deterministic order. Tarjan's strongly connected components, iteratively."""
    index: dict[ObjectKey, int] = {}
    low: dict[ObjectKey, int] = {}
    on_stack: set[ObjectKey] = set()
    stack: list[ObjectKey] = []
    components: list[list[ObjectKey]] = []
    counter = 0
    targets = {node: sorted(set(edges.get(node, ())) & set(edges)) for node in edges}

    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = targets[node]
            if position < len(children):
                work.append((node, position + 1))
                child = children[position]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in targets[node]:
                    components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return [_cycle_path(component, targets) for component in sorted(components)]


def _cycle_path(component: list[ObjectKey], targets: Mapping[ObjectKey, list[ObjectKey]]) -> list[ObjectKey]:
    """One concrete circle through the component's first member, for a readable message."""
    members = set(component)
    start = component[0]
    path = [start]
    seen = {start}
    node = start
    while True:
        following = [child for child in targets[node] if child in members]
        if start in following:
            return [*path, start]
        step = next((child for child in following if child not in seen), None)
        if step is None:  # cannot happen in a strongly connected component; keep the message honest anyway
            return [*path, start]
        path.append(step)
        seen.add(step)
        node = step


def topological_order(edges: Mapping[ObjectKey, Iterable[ObjectKey]]) -> list[ObjectKey]:
    """Every node after the nodes it references (the graph is acyclic); ties broken by key."""
    import heapq

    pending = {node: set(edges[node]) & set(edges) for node in edges}
    dependants: dict[ObjectKey, list[ObjectKey]] = {node: [] for node in edges}
    for node, needs in pending.items():
        for need in needs:
            dependants[need].append(node)
    ready = [node for node, needs in pending.items() if not needs]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for dependant in dependants[node]:
            pending[dependant].discard(node)
            if not pending[dependant]:
                heapq.heappush(ready, dependant)
    return order
