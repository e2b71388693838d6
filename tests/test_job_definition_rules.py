"""Job definitions may not override the reserved tags, and a depends_on in the wrong shape is one clear problem
naming the file and key (never a traceback, never silently read as something else)."""

from __future__ import annotations

import json

import pytest

from core.config_rules import RESERVED_TAGS
from tests.test_jobs_render import REPO, job_json, one_problem, problems, render, task, write

SALES = (REPO / "jobs" / "sales_pipeline.yaml").read_text(encoding="utf-8")


def tagged(tags: dict, cluster_tags: dict | None = None) -> dict[str, str]:
    """A definition whose own template renders these job tags (and a task cluster with these custom tags)."""
    cluster = ', "new_cluster": {"num_workers": 1, "custom_tags": ' + json.dumps(cluster_tags) + "}" \
        if cluster_tags is not None else ""
    template = job_json(task("a", cluster), extra='"tags": ' + json.dumps(tags) + ", ")
    return {"jobs/tagged.yaml": "template: tagged.json.j2\nname: tagged\n", "templates/tagged.json.j2": template}


PROGRAM_TAGS = {"project": "databricks-platform", "stage": "dev", "managed-by": "pulumi"}


# --- reserved tags ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["dev", "test", "prod"])
def test_the_shipped_templates_write_the_reserved_tags_as_the_program_sets_them_in_every_stage(stage):
    jobs = render(REPO, stage=stage)
    assert len(jobs) == 3
    assert all(job.settings["tags"] == {**PROGRAM_TAGS, "stage": stage} for job in jobs)


def test_a_job_tag_overriding_the_stage_is_refused_naming_file_key_and_what_to_write(tmp_path):
    problem = one_problem(tmp_path, tagged({**PROGRAM_TAGS, "stage": "prod"}))
    assert problem == (
        "jobs/tagged.yaml: tags.stage: 'prod' would override the reserved tag stage, which the program sets to 'dev' "
        "on every resource of this stage; remove it from the job's \"tags\" (in the definition or its template), or "
        'write it exactly as "stage": {{ stage | tojson }}')


@pytest.mark.parametrize("name", RESERVED_TAGS)
def test_every_reserved_tag_with_another_value_is_refused(tmp_path, name):
    problem = one_problem(tmp_path, tagged({**PROGRAM_TAGS, name: "someone-else"}))
    assert problem.startswith(f"jobs/tagged.yaml: tags.{name}: 'someone-else' would override the reserved tag {name}")


@pytest.mark.parametrize("name", ["Stage", "STAGE", " stage", "Managed-By"])
def test_a_reserved_tag_in_another_case_or_with_spaces_is_refused_even_with_the_right_value(tmp_path, name):
    canonical = name.strip().lower()
    problem = one_problem(tmp_path, tagged({"project": "databricks-platform", name: PROGRAM_TAGS[canonical]}))
    assert problem.startswith(f"jobs/tagged.yaml: tags.{name!r}: {name!r} is the reserved tag {canonical} written "
                              "differently (Azure compares tag names regardless of case")


def test_cluster_custom_tags_may_not_override_the_reserved_tags_the_pool_gives_them(tmp_path):
    found = problems(tmp_path, tagged(PROGRAM_TAGS, {"stage": "test", "team": "sales", "project": "other"}))
    assert found == [
        "jobs/tagged.yaml: tasks[0].new_cluster.custom_tags.stage: 'test' would override the reserved tag stage, "
        "which the program sets to 'dev' on every resource of this stage; remove it from this cluster's custom_tags "
        '(in the definition or its template), or write it exactly as "stage": {{ stage | tojson }}',
        "jobs/tagged.yaml: tasks[0].new_cluster.custom_tags.project: 'other' would override the reserved tag "
        "project, which the program sets to 'databricks-platform' on every resource of this stage; remove it from "
        'this cluster\'s custom_tags (in the definition or its template), or write it exactly as '
        '"project": "databricks-platform"']


def test_job_and_cluster_tags_of_ones_own_and_reserved_tags_with_their_values_are_accepted(tmp_path):
    (job,) = render(write(tmp_path, tagged({**PROGRAM_TAGS, "team": "sales"}, {**PROGRAM_TAGS, "Team": "x"})))
    assert job.settings["tags"]["team"] == "sales"


def test_a_for_each_tasks_cluster_is_checked_too(tmp_path):
    nested = task("inner", ', "new_cluster": {"num_workers": 1, "custom_tags": {"managed-by": "hand"}}')
    template = job_json(task("each", ', "for_each_task": {"inputs": "[1]", "task": ' + nested + "}"))
    files = {"jobs/each.yaml": "template: each.json.j2\nname: each\n", "templates/each.json.j2": template}
    assert one_problem(tmp_path, files).startswith(
        "jobs/each.yaml: tasks[0].for_each_task.task.new_cluster.custom_tags.managed-by: 'hand' would override")


# --- depends_on in the wrong shape ----------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "got"), [
    ("depends_on: ingest", "got string 'ingest'"),
    ("depends_on: {task_key: ingest}", "got an object"),
    ("depends_on: 3", "got integer 3"),
    ("depends_on:", "got null"),
])
def test_a_multi_task_definitions_depends_on_that_is_not_a_list_is_one_problem_naming_the_key(tmp_path, written, got):
    files = {"jobs/sales.yaml": SALES.replace("depends_on: [ingest]", written)}
    problem = one_problem(tmp_path, files, pool_capacities={"general": 4})
    assert problem.startswith("jobs/sales.yaml: templates/multi_task_job.json.j2:")
    assert problem.endswith("tasks[1].depends_on: a list of the keys of the tasks this one waits for, e.g. [ingest], "
                            + got)


def test_a_multi_task_definitions_depends_on_with_api_objects_names_the_item(tmp_path):
    files = {"jobs/sales.yaml": SALES.replace("depends_on: [ingest]", "depends_on: [{task_key: ingest}]")}
    assert one_problem(tmp_path, files).endswith(
        "tasks[1].depends_on[0]: a task key (depends_on lists the keys of the tasks this one waits for, e.g. "
        "[ingest]), got an object")


@pytest.mark.parametrize("tasks", ["tasks: ingest", "tasks: {key: ingest}", "tasks: [ingest]"])
def test_a_multi_task_definition_whose_tasks_are_not_a_list_of_tasks_is_one_problem(tmp_path, tasks):
    text = SALES[:SALES.index("tasks:")] + tasks + "\n"
    problem = one_problem(tmp_path, {"jobs/sales.yaml": text})
    assert "multi_task_job.json.j2:" in problem and ("tasks: a list of tasks" in problem
                                                     or "tasks[0]: a task, {key, notebook" in problem)


@pytest.mark.parametrize(("depends_on", "message"), [
    ('"a"', 'tasks[1].depends_on: expected a list of objects like [{"task_key": …}], got string \'a\''),
    ('["a"]', 'tasks[1].depends_on[0]: expected an object like {"task_key": …}, got string \'a\''),
    ('{"task_key": "a"}', 'tasks[1].depends_on: expected a list of objects like [{"task_key": …}], got an object'),
])
def test_rendered_depends_on_in_the_wrong_shape_is_one_problem_showing_the_right_shape(tmp_path, depends_on, message):
    """One problem, and no capacity problem on top: a and b would overlap only if b's dependency were ignored."""
    cluster = ', "new_cluster": {"num_workers": 3, "instance_pool_id": {{ pool() | tojson }}}'
    template = job_json(task("a", cluster), task("b", cluster + ', "depends_on": ' + depends_on))
    files = {"jobs/pair.yaml": "template: pair.json.j2\nname: pair\n", "templates/pair.json.j2": template}
    assert one_problem(tmp_path, files, pool_capacities={"general": 4}) == f"jobs/pair.yaml: {message}"
