"""Whether a job's clusters fit their instance pools, counting everything a job can have up at once.

A pool never lends more than ``maxCapacity`` instances: a cluster that cannot get its instances fails to
start (INSTANCE_POOL_MAX_CAPACITY_REACHED), and with it the run; an autoscaling one that cannot grow stays
smaller. Job queueing does not help here: it holds runs back at max_concurrent_runs and the workspace's
limits, not at a pool's capacity. The plan sees how many instances one job can ask for at one time:

- a cluster takes its workers (``num_workers``, or ``autoscale.max_workers``: it may grow that far) from the
  pool of ``instance_pool_id``, and its driver from ``driver_instance_pool_id`` (the workers' pool when unset);
- in one run, a job cluster (``job_clusters``) is up from the start of the first task that uses it to the
  end of the last; a task's own ``new_cluster`` while that task runs, and a for-each task's nested
  ``new_cluster`` once per iteration running at the same time (``for_each_task.concurrency``, default 1);
- two clusters can be up together unless every task of one waits, through ``depends_on``, for every task of
  the other: the most a run needs of a pool is the heaviest set of clusters no two of which wait so;
- up to ``max_concurrent_runs`` runs of the job run at once, each with its own clusters. This is counted
  too: a job allowed more runs than its pool holds fails the extra ones, where a max_concurrent_runs the pool
  can hold makes them wait in the queue (jobsQueue) instead. The shipped stacks allow 1 run per job
  (jobsMaxConcurrentRuns), which every shipped job fits.

Other jobs and Data Factory's activities on the same pool are not added: whether they overlap depends on
schedules and triggers the plan cannot see (Data Factory's own clusters, dataFactoryDatabricksWorkers, are
checked against the pool by the config checks).

Pure logic; problems are ``<json path>: <what is wrong>`` like the other checks of ``core.job_checks``.
"""

from __future__ import annotations

import graphlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.job_checks import MAX_CONCURRENT_RUNS, declared_clusters, nested_task, pool_name


@dataclass(frozen=True)
class _Cluster:
    """One cluster a run may start: where it is declared, the tasks using it, instances per pool."""

    path: str
    tasks: int  # bit i set: task i (in the job's tasks list) runs on this cluster
    instances: Mapping[str, int]  # pool name → instances one copy takes from it at most
    at_once: int = 1  # copies up together (a for-each task's concurrency)

    def of(self, pool: str) -> int:
        return self.instances.get(pool, 0) * self.at_once

    def shown(self, pool: str) -> str:
        each = self.instances.get(pool, 0)
        if self.at_once == 1:
            return f"{self.path} {each}"
        return f"{self.path} {each} × {self.at_once} at once (for_each_task.concurrency)"


def check_pool_capacity(settings: Any, capacities: Mapping[str, int], default_max_concurrent_runs: int = 1
                        ) -> list[str]:
    """Clusters, runs and jobs that would ask a pool for more than its maxCapacity (see the module docstring).

    ``default_max_concurrent_runs``: what the job gets when its settings leave max_concurrent_runs unset (the
    stage's jobsMaxConcurrentRuns; Databricks' own default is 1)."""
    problems = _single_clusters(settings, capacities)
    if problems or not isinstance(settings, dict):
        return problems  # a cluster that never fits is the first thing to fix
    if "max_concurrent_runs" in settings:
        runs, runs_from = settings["max_concurrent_runs"], "max_concurrent_runs"
    else:
        runs, runs_from = default_max_concurrent_runs, "the stage's jobsMaxConcurrentRuns"
    if not _is_int(runs) or not 0 <= runs <= MAX_CONCURRENT_RUNS:
        runs = 1  # a wrong value is reported by the limit checks; count one run
    found = _run_clusters(settings)
    if found is None or runs == 0:  # dependencies unreadable (reported elsewhere); 0: every run is skipped
        return problems
    clusters, ancestors = found
    for pool in sorted({pool for cluster in clusters for pool in cluster.instances} & set(capacities)):
        weighted = [cluster for cluster in clusters if cluster.of(pool)]
        together = _heaviest_unordered_set(weighted, pool, ancestors)
        per_run = sum(cluster.of(pool) for cluster in together)
        capacity = capacities[pool]
        if per_run * runs <= capacity:
            continue
        parts = " + ".join(cluster.shown(pool) for cluster in together)
        if len(together) > 1:
            need = (f"one run can have {per_run} instances up at once ({parts}; a cluster is up from the start of "
                    "its first task to the end of its last, and two overlap unless every task of one waits, "
                    "through depends_on, for every task of the other)")
        else:
            need = f"one run needs {per_run} instances ({parts})"
        if per_run > capacity:
            runs_too = f" ({per_run * runs} for the {runs} runs {runs_from} lets go at once)" if runs > 1 else ""
            fix = ("chain the tasks with depends_on, use fewer or smaller clusters (or a lower for-each concurrency), "
                   f"or raise the maxCapacity of pool {pool!r} in instancePools to {per_run}{runs_too}")
        else:
            need += f", and {runs_from} lets {runs} runs go at once: {per_run} × {runs} = {per_run * runs}"
            where = ("max_concurrent_runs in the definition" if runs_from == "max_concurrent_runs"
                     else "max_concurrent_runs in the definition (or jobsMaxConcurrentRuns in the stack file)")
            fix = (f"set {where} to at most {capacity // per_run} (with queueing on, jobsQueue, further runs wait "
                   f"instead of failing), or raise the maxCapacity of pool {pool!r} in instancePools to "
                   f"{per_run * runs}")
        problems.append(
            f"pool {pool!r}: {need}, but the pool's maxCapacity is {capacity}: a cluster that cannot get its "
            f"instances fails to start (INSTANCE_POOL_MAX_CAPACITY_REACHED) and fails its run; {fix}")
    return problems


def _single_clusters(settings: Any, capacities: Mapping[str, int]) -> list[str]:
    """Clusters that need more instances than their workers' pool holds: they never start, or never grow."""
    problems = []
    for declared in declared_clusters(settings):
        path, cluster = declared.path, declared.spec
        workers_pool = pool_name(cluster.get("instance_pool_id"))
        if workers_pool not in capacities:
            continue  # not on a pool of this stage (unknown pools are reported elsewhere)
        capacity = capacities[workers_pool]
        driver = 1 if _driver_pool(cluster, workers_pool) == workers_pool else 0
        with_driver = " + the driver" if driver else ""
        autoscale = cluster.get("autoscale")
        if isinstance(autoscale, dict):
            low, high = autoscale.get("min_workers", 0), autoscale.get("max_workers")
            if _is_int(low) and low >= 0 and low + driver > capacity:
                problems.append(
                    f"{path}: starts with {low + driver} instances of pool {workers_pool!r} ({low} workers "
                    f"(autoscale.min_workers){with_driver}), but the pool's maxCapacity is {capacity}: every run "
                    "would fail to start the cluster; lower min_workers or raise maxCapacity in instancePools")
            elif _is_int(high) and high >= 0 and high + driver > capacity:
                problems.append(
                    f"{path}: may grow to {high + driver} instances of pool {workers_pool!r} ({high} workers "
                    f"(autoscale.max_workers){with_driver}), but the pool's maxCapacity is {capacity}: the pool "
                    "refuses the upscale (INSTANCE_POOL_MAX_CAPACITY_FAILURE) and the cluster never reaches it; "
                    + (f"lower max_workers to {capacity - driver} or " if capacity - driver >= 1 else "")
                    + "raise maxCapacity in instancePools")
            continue
        workers = cluster.get("num_workers", 0)
        if _is_int(workers) and workers >= 0 and workers + driver > capacity:
            problems.append(
                f"{path}: needs {workers + driver} instances of pool {workers_pool!r} ({workers} workers "
                f"(num_workers){with_driver}), but the pool's maxCapacity is {capacity}: every run would fail to "
                "start the cluster; lower the workers or raise maxCapacity in instancePools")
    return problems


def _workers(cluster: dict) -> tuple[int | None, str]:
    autoscale = cluster.get("autoscale")
    if isinstance(autoscale, dict):
        workers, how = autoscale.get("max_workers"), "autoscale.max_workers"
    else:
        workers, how = cluster.get("num_workers", 0), "num_workers"
    return (workers, how) if _is_int(workers) and workers >= 0 else (None, how)


def _driver_pool(cluster: dict, workers_pool: str | None) -> str | None:
    # Without driver_instance_pool_id, Databricks takes the driver from the workers' pool too.
    driver = cluster.get("driver_instance_pool_id")
    return workers_pool if driver is None else pool_name(driver)


def _instances(cluster: dict) -> dict[str, int]:
    """Instances a cluster takes from each pool at most: workers from one, the driver from (maybe) another."""
    workers_pool = pool_name(cluster.get("instance_pool_id"))
    workers, _ = _workers(cluster)
    result: dict[str, int] = {}
    if workers_pool is not None and workers:
        result[workers_pool] = workers
    driver_pool = _driver_pool(cluster, workers_pool)
    if driver_pool is not None:
        result[driver_pool] = result.get(driver_pool, 0) + 1
    return result


def _run_clusters(settings: dict) -> tuple[list[_Cluster], dict[int, int]] | None:
    """Every cluster one run may start, with the tasks that use it, and each task's ancestors (bits of the
    tasks it waits for, directly or not); None when the dependencies cannot be read: a ``depends_on`` that is
    not a list of ``{"task_key": <a task of this job>}`` objects, or a cycle (both reported by the other
    checks). Counting such a job as if its tasks waited for nothing would add a capacity problem that is not one.
    """
    tasks = _dicts(settings.get("tasks"))
    index = {task["task_key"]: number for number, task in enumerate(tasks) if isinstance(task.get("task_key"), str)}
    upstream: dict[int, set[int]] = {}
    for number, task in enumerate(tasks):
        dependencies = task.get("depends_ons")
        if dependencies is None:
            dependencies = []
        if not isinstance(dependencies, list):
            return None
        upstream[number] = set()
        for dependency in dependencies:
            key = dependency.get("task_key") if isinstance(dependency, dict) else None
            if not isinstance(key, str) or key not in index:
                return None
            upstream[number].add(index[key])
    uses: dict[str, int] = {}  # job_cluster_key → tasks (bits) that run on it
    for number, task in enumerate(tasks):
        for runner in (task, nested_task(task)):
            key = runner.get("job_cluster_key")
            if isinstance(key, str):
                uses[key] = uses.get(key, 0) | 1 << number
    clusters: list[_Cluster] = []
    for declared in declared_clusters(settings):
        if declared.task is None:  # a job cluster: started only if some task names its key
            task_bits = uses.get(declared.job_cluster_key, 0) if declared.job_cluster_key is not None else 0
        else:
            task_bits = 1 << declared.task
        instances = _instances(declared.spec)
        if task_bits and instances:
            clusters.append(_Cluster(declared.path, task_bits, instances, declared.at_once))
    try:
        order = list(graphlib.TopologicalSorter(upstream).static_order())
    except graphlib.CycleError:
        return None
    ancestors: dict[int, int] = {}
    for number in order:
        bits = 0
        for dependency in upstream.get(number, ()):
            bits |= 1 << dependency | ancestors[dependency]
        ancestors[number] = bits
    return clusters, ancestors


def _waits_for(later: _Cluster, earlier: _Cluster, ancestors: Mapping[int, int]) -> bool:
    """Whether every task of ``later`` waits (through depends_on) for every task of ``earlier``."""
    bits, number = later.tasks, 0
    while bits:
        if bits & 1 and earlier.tasks & ~ancestors.get(number, 0):
            return False
        bits >>= 1
        number += 1
    return True


def _heaviest_unordered_set(clusters: list[_Cluster], pool: str, ancestors: Mapping[int, int]) -> list[_Cluster]:
    """The heaviest set of clusters (weight: instances of ``pool``) no two of which wait for each other.

    A maximum-weight antichain: weighted Dilworth, by a minimum cut in the network source → out(u) (weight u),
    out(u) → in(v) (unbounded) when v waits for u, in(v) → sink (weight v); the antichain is the clusters
    whose out side is on the source side of the cut and whose in side is not."""
    if len(clusters) <= 1:
        return list(clusters)
    count = len(clusters)
    source, sink = 2 * count, 2 * count + 1
    capacity: dict[tuple[int, int], float] = {}
    neighbours: dict[int, set[int]] = {node: set() for node in range(2 * count + 2)}

    def edge(start: int, end: int, amount: float) -> None:
        capacity[start, end] = capacity.get((start, end), 0) + amount
        capacity.setdefault((end, start), 0)
        neighbours[start].add(end)
        neighbours[end].add(start)

    for number, cluster in enumerate(clusters):
        weight = cluster.of(pool)
        edge(source, number, weight)
        edge(count + number, sink, weight)
        for other, later in enumerate(clusters):
            if other != number and _waits_for(later, cluster, ancestors):
                edge(number, count + other, float("inf"))
    while True:  # Edmonds-Karp: the graphs here have a handful of clusters
        parent = {source: source}
        queue = deque([source])
        while queue and sink not in parent:
            node = queue.popleft()
            for following in neighbours[node]:
                if following not in parent and capacity[node, following] > 0:
                    parent[following] = node
                    queue.append(following)
        if sink not in parent:
            break
        path, node = [], sink
        while node != source:
            path.append((parent[node], node))
            node = parent[node]
        pushed = min(capacity[step] for step in path)
        for start, end in path:
            capacity[start, end] -= pushed
            capacity[end, start] += pushed
    reached = set(parent)
    return [cluster for number, cluster in enumerate(clusters)
            if number in reached and count + number not in reached]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
