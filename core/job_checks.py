"""Checks on rendered job settings that the provider's argument types cannot express.

The shape (field names, basic types) is checked by ``core.job_schema``; these run after it, on settings
that may still hold wrong types (already reported), so they skip what they cannot read. Each returns
problems as ``<json path>: <what is wrong>``:

- structure: a job needs tasks; task and cluster keys are unique and line up; no dependency cycle;
- limits Databricks documents (Jobs API 2.1, clusters, Azure tags), so that `pulumi up` does not fail on
  what the plan could see: name and description lengths, key patterns, tag counts and lengths, numeric
  ranges, notebook parameter size;
- reserved tags: a job's ``tags`` and its clusters' ``custom_tags`` may carry ``project``, ``stage`` and
  ``managed-by`` only with the values the program gives every resource of the stage;
- the clusters a job declares (``declared_clusters``), for these checks and for ``core.job_capacity``.
"""

from __future__ import annotations

import graphlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import shown, shown_name
from core.messages import key_path

POOL_REF_PREFIX = "databricks-platform:pool/"

# Jobs API 2.1 / clusters API limits, as the Databricks SDK and REST reference document them.
MAX_JOB_NAME_BYTES = 4096
MAX_DESCRIPTION_CHARACTERS = 27_700
MAX_TASKS = 1000
MAX_JOB_TAGS = 25
MAX_CLUSTER_TAGS = 45
MAX_CONCURRENT_RUNS = 1000
MAX_NOTEBOOK_PARAMETERS_BYTES = 10_000
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,100}")  # task_key, job_cluster_key: [\w-], 1-100 characters
PARAMETER_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
# Job and cluster tags become tags of the cluster's Azure VMs: Azure's tag rules apply.
_TAG_NAME_FORBIDDEN = set('<>%&\\?/')


def text_problem(text: str) -> str | None:
    """Why a name someone must type or find (a job, a parameter, a notebook path part) is unusable, or None:
    a control or invisible character (a newline, a tab, NUL, a zero-width space), or white space at either
    end, which makes it look like another name that differs only in what cannot be seen."""
    if not text.isprintable():
        return "holds a control or invisible character"
    if text != text.strip():
        return "begins or ends with white space"
    return None


NAME_RULE = "printable text without white space at either end (spaces inside are fine)"


def check_job_structure(settings: Any) -> list[str]:
    """A job needs a name and tasks; task/cluster keys must be unique and line up; no dependency cycle."""
    if not isinstance(settings, dict):
        return []
    problems = []
    name = settings.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name: required: a non-empty job name")
    elif text_problem(name):
        problems.append(f"name: {shown(name)} {text_problem(name)}; a job name is {NAME_RULE}")
    tasks = _dicts(settings.get("tasks"))
    if not settings.get("tasks"):
        problems.append("tasks: a job needs at least one task")
    cluster_keys: list[str] = []
    for index, cluster in enumerate(_dicts(settings.get("job_clusters"))):
        key = cluster.get("job_cluster_key")
        if not isinstance(key, str):
            continue  # a missing or non-text key is reported by the schema check
        if key in cluster_keys:
            problems.append(f"job_clusters[{index}].job_cluster_key: duplicate {shown(key)}")
        cluster_keys.append(key)
    task_indexes: dict[str, int] = {}
    for index, task in enumerate(tasks):
        key = task.get("task_key")
        if not isinstance(key, str):
            continue
        if key in task_indexes:
            problems.append(f"tasks[{index}].task_key: duplicate {shown(key)}, also tasks[{task_indexes[key]}]; "
                            "task keys must be unique in a job")
        else:
            task_indexes[key] = index
    graph: dict[str, set[str]] = {}
    for index, task in enumerate(tasks):
        key = task.get("task_key")
        cluster_key = task.get("job_cluster_key")
        if isinstance(cluster_key, str) and cluster_key not in cluster_keys:
            problems.append(f"tasks[{index}].job_cluster_key: {shown(cluster_key)} is not defined in "
                            f"job_clusters; defined: {_names(cluster_keys)}")
        upstream = {dependency.get("task_key") for dependency in _dicts(task.get("depends_ons"))
                    if isinstance(dependency.get("task_key"), str)}
        for missing in sorted(upstream - set(task_indexes)):
            problems.append(f"tasks[{index}] ({shown_name(key) if isinstance(key, str) else index}): depends on "
                            f"{shown(missing)}, which is not a task of this job; tasks: {_names(task_indexes)}")
        if isinstance(key, str):
            graph.setdefault(key, set()).update(upstream & set(task_indexes))
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        problems.append(f"tasks: dependencies form a cycle: {' → '.join(map(str, error.args[1]))}")
    return problems


def check_provider_limits(settings: Any) -> list[str]:
    """Limits Databricks documents and would only enforce at `pulumi up` (or, for some, at run time)."""
    if not isinstance(settings, dict):
        return []
    problems: list[str] = []
    name = settings.get("name")
    if isinstance(name, str) and len(name.encode("utf-8", "surrogatepass")) > MAX_JOB_NAME_BYTES:
        problems.append(f"name: longer than {MAX_JOB_NAME_BYTES} bytes (got {shown(name)})")
    _text_limit(settings, "description", "", MAX_DESCRIPTION_CHARACTERS, problems)
    _range(settings, "max_concurrent_runs", "", 0, MAX_CONCURRENT_RUNS, problems)
    _range(settings, "timeout_seconds", "", 0, None, problems)
    _tags(settings.get("tags"), "tags", MAX_JOB_TAGS, problems)
    for index, parameter in enumerate(_dicts(settings.get("parameters"))):
        name = parameter.get("name")
        if isinstance(name, str) and not PARAMETER_NAME_PATTERN.fullmatch(name):
            problems.append(f"parameters[{index}].name: {shown(name)} may hold only letters, digits, _, - and .")
    tasks = settings.get("tasks")
    if isinstance(tasks, list) and len(tasks) > MAX_TASKS:
        problems.append(f"tasks: {len(tasks)} tasks; a job holds at most {MAX_TASKS}")
    for index, cluster in enumerate(_dicts(settings.get("job_clusters"))):
        _key(cluster, "job_cluster_key", f"job_clusters[{index}]", problems)
        _cluster_limits(cluster.get("new_cluster"), f"job_clusters[{index}].new_cluster", problems)
    for index, task in enumerate(_dicts(tasks)):
        path = f"tasks[{index}]"
        _key(task, "task_key", path, problems)
        _text_limit(task, "description", path, MAX_DESCRIPTION_CHARACTERS, problems)
        _range(task, "timeout_seconds", path, 0, None, problems)
        _range(task, "max_retries", path, -1, None, problems)  # -1: retry indefinitely
        _range(task, "min_retry_interval_millis", path, 0, None, problems)
        _cluster_limits(task.get("new_cluster"), f"{path}.new_cluster", problems)
        notebook = task.get("notebook_task")
        parameters = notebook.get("base_parameters") if isinstance(notebook, dict) else None
        for name in parameters if isinstance(parameters, dict) else ():
            if isinstance(name, str) and (not name or text_problem(name)):
                problems.append(f"{path}.notebook_task.base_parameters: parameter name {shown(name)} "
                                f"{text_problem(name) or 'is empty'}; a parameter name is {NAME_RULE}")
        if isinstance(parameters, dict):
            size = len(json.dumps(parameters, ensure_ascii=False).encode("utf-8", "surrogatepass"))
            if size > MAX_NOTEBOOK_PARAMETERS_BYTES:
                problems.append(f"{path}.notebook_task.base_parameters: {size:,} bytes as JSON; Databricks "
                                f"accepts at most {MAX_NOTEBOOK_PARAMETERS_BYTES:,}")
    return problems


def check_reserved_tags(settings: Any, reserved: Mapping[str, str]) -> list[str]:
    """Job tags and cluster custom tags that would override a reserved tag (``reserved``: name → the value the
    program gives it in this stage). The same name with the same value is fine (the shipped templates write
    them); another value, or the name in another case or with spaces, is not: Azure compares tag names
    regardless of case, and a cluster on a pool carries the pool's tags, the reserved ones included."""
    if not isinstance(settings, dict):
        return []
    problems: list[str] = []
    _reserved_tags(settings.get("tags"), "tags", "the job's \"tags\"", reserved, problems)
    for declared in declared_clusters(settings):
        _reserved_tags(declared.spec.get("custom_tags"), f"{declared.path}.custom_tags", "this cluster's custom_tags",
                       reserved, problems)
    return problems


def _reserved_tags(tags: Any, path: str, where: str, reserved: Mapping[str, str], problems: list[str]) -> None:
    if not isinstance(tags, dict):
        return
    for name, value in tags.items():
        canonical = name.strip().lower() if isinstance(name, str) else None
        if canonical not in reserved:
            continue
        expected = reserved[canonical]
        if name == canonical and value == expected:
            continue
        tag = f"{path}.{shown(name)}" if name != canonical else f"{path}.{name}"
        if name != canonical:
            why = (f"{shown(name)} is the reserved tag {canonical} written differently (Azure compares tag names "
                   "regardless of case, so the two would clash)")
        else:
            why = f"{shown(value)} would override the reserved tag {canonical}"
        # The stage differs per stack: a template writes it from the context, never as text.
        exactly = '"stage": {{ stage | tojson }}' if canonical == "stage" else json.dumps({canonical: expected})[1:-1]
        problems.append(
            f"{tag}: {why}, which the program sets to {expected!r} on every resource of this stage; remove it from "
            f"{where} (in the definition or its template), or write it exactly as {exactly}")


def _cluster_limits(cluster: Any, path: str, problems: list[str]) -> None:
    if not isinstance(cluster, dict):
        return
    _range(cluster, "num_workers", path, 0, None, problems)
    autoscale = cluster.get("autoscale")
    if isinstance(autoscale, dict):
        _range(autoscale, "min_workers", f"{path}.autoscale", 0, None, problems)
        low, high = autoscale.get("min_workers"), autoscale.get("max_workers")
        if _is_int(high) and high < 1:
            problems.append(f"{path}.autoscale.max_workers: must be at least 1 (got {high})")
        elif _is_int(low) and _is_int(high) and high <= low:
            problems.append(f"{path}.autoscale: max_workers ({high}) must be greater than min_workers ({low})")
        if "num_workers" in cluster:
            problems.append(f"{path}: set num_workers or autoscale, not both")
    _tags(cluster.get("custom_tags"), f"{path}.custom_tags", MAX_CLUSTER_TAGS, problems)


def _tags(tags: Any, path: str, most: int, problems: list[str]) -> None:
    if not isinstance(tags, dict):
        return
    if len(tags) > most:
        problems.append(f"{path}: {len(tags)} tags; Databricks accepts at most {most}")
    for name, value in tags.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        if not name or len(name) > 512 or _TAG_NAME_FORBIDDEN & set(name) or not name.isprintable():
            problems.append(f"{path}: tag name {shown(name)} must be 1-512 characters without any of "
                            "<>%&\\?/ or control characters (the tags reach Azure)")
        if len(value) > 256 or not value.isprintable():
            problems.append(f"{path}.{shown(name)}: a tag value is at most 256 printable characters "
                            f"(got {shown(value)})")


def _key(item: dict, field: str, path: str, problems: list[str]) -> None:
    key = item.get(field)
    if isinstance(key, str) and not KEY_PATTERN.fullmatch(key):
        problems.append(f"{path}.{field}: {shown(key)} must be 1-100 letters, digits, _ or -")


def _text_limit(item: dict, field: str, path: str, most: int, problems: list[str]) -> None:
    text = item.get(field)
    if isinstance(text, str) and len(text) > most:
        problems.append(f"{_join(path, field)}: longer than {most:,} characters (got {shown(text)})")


def _range(item: dict, field: str, path: str, low: int, high: int | None, problems: list[str]) -> None:
    value = item.get(field)
    if not _is_int(value):
        return
    if value < low or (high is not None and value > high):
        allowed = f"{low}-{high}" if high is not None else f"at least {low}"
        problems.append(f"{_join(path, field)}: must be {allowed} (got {value})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


@dataclass(frozen=True)
class DeclaredCluster:
    """A cluster as rendered settings declare it."""

    path: str  # e.g. "job_clusters[1] ('etl').new_cluster"
    spec: dict  # the new_cluster object
    job_cluster_key: str | None  # for a job cluster: its key
    task: int | None  # for a task's own cluster: the task's index in tasks
    at_once: int = 1  # copies up together: a for-each task's concurrency


def declared_clusters(settings: Any) -> Iterator[DeclaredCluster]:
    """Every cluster a job declares: job clusters, tasks' own, for-each tasks' nested ones."""
    if not isinstance(settings, dict):
        return
    for index, cluster in enumerate(_dicts(settings.get("job_clusters"))):
        key = cluster.get("job_cluster_key")
        label = f" ({shown(key)})" if isinstance(key, str) else ""
        if isinstance(cluster.get("new_cluster"), dict):
            yield DeclaredCluster(f"job_clusters[{index}]{label}.new_cluster", cluster["new_cluster"],
                                  key if isinstance(key, str) else None, None)
    for index, task in enumerate(_dicts(settings.get("tasks"))):
        if isinstance(task.get("new_cluster"), dict):
            yield DeclaredCluster(f"tasks[{index}].new_cluster", task["new_cluster"], None, index)
        nested = nested_task(task)
        if isinstance(nested.get("new_cluster"), dict):
            concurrency = task["for_each_task"].get("concurrency", 1)
            concurrency = concurrency if _is_int(concurrency) and concurrency >= 1 else 1
            yield DeclaredCluster(f"tasks[{index}].for_each_task.task.new_cluster", nested["new_cluster"], None,
                                  index, concurrency)


def nested_task(task: dict) -> dict:
    """The task a for-each task runs for each input ({} for other tasks)."""
    for_each = task.get("for_each_task")
    nested = for_each.get("task") if isinstance(for_each, dict) else None
    return nested if isinstance(nested, dict) else {}


def pool_name(value: Any) -> str | None:
    """The pool a ``pool()`` reference names; None for anything else."""
    if isinstance(value, str) and value.startswith(POOL_REF_PREFIX):
        return value.removeprefix(POOL_REF_PREFIX)
    return None


def collect_pool_refs(value: Any, path: str, pool_names: frozenset[str] | None, found: set[str],
                      problems: list[str]) -> None:
    """Record the pools the settings reference; a literal sentinel must still name a configured pool
    (``pool_names`` None: the pools' config is invalid and reported, so any name is taken as is)."""
    _pool_refs(value, (path,) if path else (), pool_names, found, problems)


def _pool_refs(value: Any, parts: tuple, pool_names: frozenset[str] | None, found: set[str],
               problems: list[str]) -> None:
    # The path is formatted only for a problem: this runs over every value of every job.
    if isinstance(value, str):
        if value.startswith(POOL_REF_PREFIX):
            name = value.removeprefix(POOL_REF_PREFIX)
            if pool_names is None or name in pool_names:
                found.add(name)
            else:
                problems.append(f"{_path(parts)}: unknown pool {shown(name)}; configured pools: "
                                f"{_names(pool_names)}")
        elif POOL_REF_PREFIX in value:
            problems.append(f"{_path(parts)}: a pool reference must be the whole value, not part of a string")
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str | dict | list):
                _pool_refs(item, (*parts, key), pool_names, found, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str | dict | list):
                _pool_refs(item, (*parts, index), pool_names, found, problems)


def _path(parts: tuple) -> str:
    path = ""
    for part in parts:
        path = key_path(path, part)
    return path


def _dicts(value: Any) -> list[dict]:
    """The objects of a list that may have failed its type check (already reported)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _names(names: Any, most: int = 20) -> str:
    listed = sorted(shown_name(str(name)) for name in names)
    more = f" and {len(listed) - most} more" if len(listed) > most else ""
    return ", ".join(listed[:most]) + more or "none"
