"""A job is refused when what it can have up at once does not fit its pool: clusters of tasks that run side by
side, autoscale's maximum, for-each concurrency and concurrent runs all count."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import PROJECT, parse_stage_config
from core.errors import UserError
from core.job_capacity import _heaviest_unordered_set, _run_clusters, _waits_for, check_pool_capacity
from core.workspace_content import load_workspace_content
from tests.test_jobs_render import GENERAL, POOL_REF_PREFIX, REPO, custom, one_problem, render, write

ETL = POOL_REF_PREFIX + "etl"


def cluster(workers: int = 3, pool: str = GENERAL, **extra) -> dict:
    return {"spark_version": "15.4.x-scala2.12", "instance_pool_id": pool, "num_workers": workers, **extra}


def job(*tasks: dict, clusters: dict[str, dict] | None = None, **extra) -> dict:
    job_clusters = [{"job_cluster_key": key, "new_cluster": spec} for key, spec in (clusters or {}).items()]
    return {"name": "j", "job_clusters": job_clusters, "tasks": list(tasks), **extra}


def task(key: str, on: str | None = None, after: tuple[str, ...] = (), **extra) -> dict:
    result = {"task_key": key, "notebook_task": {"notebook_path": "/Shared/x"}, **extra}
    if on is not None:
        result["job_cluster_key"] = on
    if after:
        result["depends_ons"] = [{"task_key": upstream} for upstream in after]
    return result


def test_two_job_clusters_of_independent_tasks_are_counted_together(tmp_path):
    """The review's case: 2 × (3 workers + driver) on pool general (maxCapacity 4), tasks independent."""
    settings = job(task("a", "one"), task("b", "two"), clusters={"one": cluster(), "two": cluster()},
                   max_concurrent_runs=5)
    template = json.dumps(settings).replace(json.dumps(GENERAL), "{{ pool() | tojson }}")
    problem = one_problem(tmp_path, custom(template), pool_capacities={"general": 4})
    assert problem.startswith(
        "jobs/custom.yaml: pool 'general': one run can have 8 instances up at once (job_clusters[0] ('one')"
        ".new_cluster 4 + job_clusters[1] ('two').new_cluster 4; a cluster is up from the start of its first task "
        "to the end of its last, and two overlap unless every task of one waits, through depends_on, for every task "
        "of the other), but the pool's maxCapacity is 4: a cluster that cannot get its instances fails to start")
    assert problem.endswith("chain the tasks with depends_on, use fewer or smaller clusters (or a lower for-each "
                            "concurrency), or raise the maxCapacity of pool 'general' in instancePools to 8 (40 for "
                            "the 5 runs max_concurrent_runs lets go at once)")


def test_clusters_whose_tasks_wait_for_each_other_are_never_up_together():
    settings = job(task("a", "one"), task("b", "two", after=("a",)), task("c", "one", after=()),
                   task("d", "three", after=("b", "c")), clusters={"one": cluster(), "two": cluster(),
                                                                   "three": cluster()})
    # 'two' waits for 'a' but not for 'c' (both on 'one'), so 'one' and 'two' overlap; 'three' waits for all.
    problems = check_pool_capacity(settings, {"general": 8})
    assert problems == []
    (problem,) = check_pool_capacity(settings, {"general": 7})
    assert "one run can have 8 instances up at once (job_clusters[0] ('one').new_cluster 4 + " \
           "job_clusters[1] ('two').new_cluster 4;" in problem


def test_a_chain_of_tasks_each_on_its_own_cluster_needs_only_the_largest():
    settings = job(task("a", new_cluster=cluster(3)), task("b", after=("a",), new_cluster=cluster(2)),
                   task("c", after=("b",), new_cluster=cluster(1)))
    assert check_pool_capacity(settings, {"general": 4}) == []


def test_concurrent_runs_multiply_what_one_run_needs_and_the_stage_default_counts_when_unset():
    settings = job(task("a", "one"), clusters={"one": cluster(1)})  # 2 instances per run
    assert check_pool_capacity(settings, {"general": 4}) == []
    assert check_pool_capacity(settings, {"general": 4}, default_max_concurrent_runs=2) == []
    (problem,) = check_pool_capacity(settings, {"general": 4}, default_max_concurrent_runs=3)
    assert problem.startswith(
        "pool 'general': one run needs 2 instances (job_clusters[0] ('one').new_cluster 2), and the stage's "
        "jobsMaxConcurrentRuns lets 3 runs go at once: 2 × 3 = 6, but the pool's maxCapacity is 4")
    assert problem.endswith(
        "set max_concurrent_runs in the definition (or jobsMaxConcurrentRuns in the stack file) to at most 2 (with "
        "queueing on, jobsQueue, further runs wait instead of failing), or raise the maxCapacity of pool 'general' "
        "in instancePools to 6")
    (problem,) = check_pool_capacity({**settings, "max_concurrent_runs": 3}, {"general": 5})
    assert "and max_concurrent_runs lets 3 runs go at once" in problem
    assert "set max_concurrent_runs in the definition to at most 2 " in problem
    assert check_pool_capacity({**settings, "max_concurrent_runs": 2}, {"general": 4},
                               default_max_concurrent_runs=3) == [], "the job's own setting wins"
    assert check_pool_capacity({**settings, "max_concurrent_runs": 0}, {"general": 2},
                               default_max_concurrent_runs=3) == [], "0: every run is skipped, none runs at once"


@pytest.mark.parametrize("wrong", [5000, -1, "3", True, None])
def test_a_max_concurrent_runs_out_of_range_counts_one_run_and_is_left_to_its_own_check(wrong):
    settings = job(task("a", "one"), clusters={"one": cluster(1)}, max_concurrent_runs=wrong)
    assert check_pool_capacity(settings, {"general": 2}) == []
    assert check_pool_capacity(settings, {"general": 1})[0].startswith("job_clusters[0] ('one').new_cluster: needs 2")


def test_an_autoscaling_cluster_that_cannot_start_or_cannot_grow_is_refused_saying_which():
    def scaled(low: int, high: int) -> dict:
        spec = cluster(0, autoscale={"min_workers": low, "max_workers": high})
        del spec["num_workers"]
        return job(task("a", "one"), clusters={"one": spec})

    assert check_pool_capacity(scaled(1, 3), {"general": 4}) == []
    (problem,) = check_pool_capacity(scaled(1, 5), {"general": 4})
    assert problem == (
        "job_clusters[0] ('one').new_cluster: may grow to 6 instances of pool 'general' (5 workers "
        "(autoscale.max_workers) + the driver), but the pool's maxCapacity is 4: the pool refuses the upscale "
        "(INSTANCE_POOL_MAX_CAPACITY_FAILURE) and the cluster never reaches it; lower max_workers to 3 or raise "
        "maxCapacity in instancePools")
    (problem,) = check_pool_capacity(scaled(4, 6), {"general": 4})
    assert problem.startswith("job_clusters[0] ('one').new_cluster: starts with 5 instances of pool 'general' (4 "
                              "workers (autoscale.min_workers) + the driver), but the pool's maxCapacity is 4: every "
                              "run would fail to start the cluster")


def test_autoscale_counts_at_its_maximum_and_a_driver_counts_on_its_own_pool():
    scaled = cluster(0, autoscale={"min_workers": 1, "max_workers": 2})
    del scaled["num_workers"]
    settings = job(task("a", "one"), task("b", "two"),
                   clusters={"one": scaled, "two": cluster(2, driver_instance_pool_id=ETL)})
    # general: 2 + 1 (one's driver) + 2 = 5; etl: two's driver.
    (problem,) = check_pool_capacity(settings, {"general": 4, "etl": 1})
    assert problem.startswith("pool 'general': one run can have 5 instances up at once")
    (problem,) = check_pool_capacity({**settings, "max_concurrent_runs": 2}, {"general": 10, "etl": 1})
    assert problem.startswith("pool 'etl': one run needs 1 instances (job_clusters[1] ('two').new_cluster 1), and "
                              "max_concurrent_runs lets 2 runs go")


def test_a_for_each_task_runs_its_concurrency_of_clusters_at_once():
    nested = task("inner", new_cluster=cluster(1))
    settings = job(task("each", for_each_task={"inputs": "[1, 2, 3]", "task": nested, "concurrency": 3}))
    (problem,) = check_pool_capacity(settings, {"general": 5})
    assert "one run needs 6 instances (tasks[0].for_each_task.task.new_cluster 2 × 3 at once " \
           "(for_each_task.concurrency))" in problem


def test_a_job_cluster_no_task_uses_never_starts():
    settings = job(task("a", "one"), clusters={"one": cluster(1), "unused": cluster(3)})
    assert check_pool_capacity(settings, {"general": 4}) == []


def test_the_shipped_jobs_fit_the_shipped_pool_with_the_stage_default_of_one_run_and_not_with_two():
    assert len(render(REPO, pool_capacities={"general": 4}, default_max_concurrent_runs=1)) == 3
    with pytest.raises(UserError) as raised:
        render(REPO, pool_capacities={"general": 4}, default_max_concurrent_runs=2)
    assert len(raised.value.problems) == 3  # each shipped job needs 3 or 4 instances per run


def test_the_plan_refuses_a_definition_whose_runs_do_not_fit(tmp_path):
    files = {"jobs/a.json": json.dumps({"name": "a", "workers": 1, "notebookpath": "/Shared/x",
                                        "max_concurrent_runs": 3})}
    problem = one_problem(write(tmp_path, files), {}, pool_capacities={"general": 4})
    assert problem.startswith("jobs/a.json: pool 'general': one run needs 2 instances") and "2 × 3 = 6" in problem


# --- the heaviest set of clusters up together, against its definition -----------------------------------------


@st.composite
def jobs_with_clusters(draw):
    count = draw(st.integers(1, 6))
    tasks = []
    for number in range(count):
        upstream = draw(st.sets(st.integers(0, number - 1), max_size=number)) if number else set()
        tasks.append(task(f"t{number}", f"c{draw(st.integers(0, 3))}", after=tuple(f"t{u}" for u in sorted(upstream))))
    clusters = {f"c{number}": cluster(draw(st.integers(0, 5))) for number in range(4)}
    return job(*tasks, clusters=clusters)


@settings(max_examples=200, deadline=None)
@given(settings_=jobs_with_clusters())
def test_the_peak_is_the_heaviest_set_of_clusters_none_of_which_waits_for_another(settings_):
    clusters, ancestors = _run_clusters(settings_)
    weight = {id(c): c.of("general") for c in clusters}
    best = 0
    for size in range(len(clusters) + 1):
        for subset in itertools.combinations(clusters, size):
            if all(not _waits_for(a, b, ancestors) and not _waits_for(b, a, ancestors)
                   for a, b in itertools.combinations(subset, 2)):
                best = max(best, sum(weight[id(c)] for c in subset))
    found = _heaviest_unordered_set(clusters, "general", ancestors)
    assert sum(weight[id(c)] for c in found) == best
    assert all(not _waits_for(a, b, ancestors) for a in found for b in found if a is not b)


@pytest.mark.parametrize("runs", [1, 2])
def test_a_single_cluster_bigger_than_its_pool_is_reported_once_not_again_per_run(runs):
    settings = job(task("a", "one"), clusters={"one": cluster(4)}, max_concurrent_runs=runs)
    (problem,) = check_pool_capacity(settings, {"general": 4})
    assert problem.startswith("job_clusters[0] ('one').new_cluster: needs 5 instances of pool 'general'")


@pytest.mark.parametrize("depends_on", ["a", ["a"], {"task_key": "a"}, [{"task_key": 1}], [{"task_key": "zz"}]])
def test_unreadable_dependencies_add_no_capacity_problem_of_their_own(depends_on):
    """b really waits for a, so one cluster at a time fits; a depends_on the other checks refuse must not be
    read as 'b waits for nothing' and add an overlap problem on top."""
    settings = job(task("a", "one"), task("b", "two"), clusters={"one": cluster(), "two": cluster()})
    settings["tasks"][1]["depends_ons"] = depends_on
    assert check_pool_capacity(settings, {"general": 4}) == []
    settings["tasks"][1]["depends_ons"] = [{"task_key": "a"}]
    assert check_pool_capacity(settings, {"general": 4}) == []
    del settings["tasks"][1]["depends_ons"]
    assert len(check_pool_capacity(settings, {"general": 4})) == 1


@pytest.mark.parametrize(("runs", "refused"), [("1", []), ("2", ["jobs/daily_ingest.json", "jobs/nightly_report.yaml",
                                                                  "jobs/sales_pipeline.yaml"])])
def test_the_stages_jobs_max_concurrent_runs_reaches_the_capacity_check(runs, refused):
    config = parse_stage_config({f"{PROJECT}:jobsMaxConcurrentRuns": runs}, stack="test")
    problems: list[str] = []
    load_workspace_content(jobs_dir=REPO / "jobs", templates_dir=REPO / "templates",
                           notebooks_dir=REPO / "notebooks", config=config, problems=problems, relative_to=REPO)
    assert [problem.split(":", 1)[0] for problem in problems] == refused, problems
    assert all("the stage's jobsMaxConcurrentRuns lets 2 runs go at once" in problem for problem in problems)
