"""Read a resource's inputs the same way under `pulumi preview --policy-pack` and in the offline plan.

The two present inputs differently, and every rule must judge them alike:
- pulumi-policy wraps `args.props` in a proxy that raises ``UnknownValueError`` when a rule touches a value
  known only after deployment, and hands over secret values *unwrapped, in plain text* (its Python SDK
  deserializes the engine's secrets without their marker);
- the offline plan writes ``<computed>`` for unknowns and ``[secret]`` for secrets.
``plain`` turns either into ordinary dicts and lists in which every unknown is the one ``UNKNOWN`` marker,
so a rule decides once what an unknown means for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import ResourceValidationArgs, Secret
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

# How the offline plan (offline_plan/runner.py) prints an unknown and a secret.
PLAN_COMPUTED = "<computed>"
PLAN_SECRET = "[secret]"

KEY_PREFIX = "databricks-platform"  # the project's config namespace in Pulumi.<stage>.yaml

_UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE, PLAN_COMPUTED,
})


class _Unknown:
    """A value known only after deployment (a pool id, a resource group name assigned by Azure, ...)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


def plain(value: Any) -> Any:
    """``value`` as plain dicts and lists, every unknown replaced by ``UNKNOWN``, Secret wrappers removed."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:  # pulumi-policy's proxy refuses to hand out an unknown
                item = UNKNOWN
            result[key] = plain(item)
        return result
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                item = UNKNOWN
            items.append(plain(item))
        return items
    return value


def inputs_of(args: ResourceValidationArgs) -> dict[str, Any]:
    """The resource's inputs as plain data (see ``plain``)."""
    props = plain(args.props)
    return props if isinstance(props, dict) else {}


def get(value: Any, *path: str | int) -> Any:
    """``value[path[0]][path[1]]...``; None where a key is missing, ``UNKNOWN`` where a step is unknown."""
    for step in path:
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
        elif not isinstance(value, dict):
            return None
        value = value[step] if isinstance(step, int) else value.get(step)
    return value


def is_set(value: Any) -> bool:
    """Whether an input is given: anything but None, "" and {} (an unknown counts: something will be there)."""
    return value is not None and value != "" and value != {}


def stage_of(urn: str) -> str | None:
    """The stage a resource belongs to: its stack name, from ``urn:pulumi:<stack>::<project>::...``.

    In this project the stack name is the stage (Pulumi.<stage>.yaml), so the URN, which both the engine
    and the offline plan give every resource, is all a rule needs to know where it runs.
    """
    if not urn.startswith("urn:pulumi:") or "::" not in urn:
        return None
    stack = urn.removeprefix("urn:pulumi:").split("::", 1)[0]
    return stack or None


def stack_file(urn: str) -> str:
    """The stack file a user edits for this resource's stage, e.g. ``Pulumi.test.yaml``."""
    stage = stage_of(urn)
    return f"Pulumi.{stage}.yaml" if stage else "Pulumi.<stage>.yaml"


def config_key(name: str, args: ResourceValidationArgs) -> str:
    """How a violation names the stack setting that fixes it: ``databricks-platform:<name> in Pulumi.<stage>.yaml``."""
    return f"{KEY_PREFIX}:{name} in {stack_file(args.urn)}"


def setting(args: Any, key: str, default: Any) -> Any:
    """A policy setting from the pack's config (``--policy-pack-config``), else its documented default.

    The engine fills defaults from the policy's config schema; rules built by hand (tests, other tools)
    may pass no config at all, so the default is applied here too.
    """
    config = args.get_config() or {}
    value = config.get(key)
    return default if value is None else value


def path_text(path: Sequence[str | int]) -> str:
    """``("tasks", 0, "newCluster")`` → ``tasks[0].newCluster``, as the offline plan prints input paths."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _task_clusters(task: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    if not isinstance(task, dict):
        return
    if task.get("newCluster") is not None:
        yield (*path, "newCluster"), task["newCluster"]
    # A for-each task runs its nested task on its own cluster settings.
    yield from _task_clusters(get(task, "forEachTask", "task"), (*path, "forEachTask", "task"))


def job_clusters(inputs: dict) -> Iterator[tuple[tuple, Any]]:
    """Every new-cluster specification of a Databricks job's inputs, with its input path."""
    if inputs.get("newCluster") is not None:
        yield ("newCluster",), inputs["newCluster"]
    declared = inputs.get("jobClusters")
    for index, job_cluster in enumerate(declared if isinstance(declared, list) else []):
        cluster = get(job_cluster, "newCluster")
        if cluster is not None:
            yield ("jobClusters", index, "newCluster"), cluster
    tasks = inputs.get("tasks")
    for index, task in enumerate(tasks if isinstance(tasks, list) else []):
        yield from _task_clusters(task, ("tasks", index))
