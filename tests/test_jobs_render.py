"""Rendering job definitions (jobs/) through templates/ into pulumi_databricks.Job settings."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pulumi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import UserError
from core.job_schema import check_job_settings
from core.jobs import POOL_REF_PREFIX, RenderedJob, render_jobs, resolve_pool_refs
from tests.fakes.tls import throwaway_private_key_pem

REPO = Path(__file__).resolve().parent.parent
VARIABLES = {"spark_version": "15.4.x-scala2.12", "schedule_pause_status": "PAUSED"}
GENERAL = POOL_REF_PREFIX + "general"


def render(root: Path, **overrides) -> list[RenderedJob]:
    arguments = {"stage": "dev", "variables": VARIABLES, "pool_names": {"general"}, "default_pool": "general",
                 "relative_to": root}
    arguments.update(overrides)
    return render_jobs(root / "jobs", root / "templates", **arguments)


def write(root: Path, files: dict[str, str]) -> Path:
    """Files under root, with the shipped templates in root/templates unless overwritten."""
    shutil.copytree(REPO / "templates", root / "templates", dirs_exist_ok=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def problems(root: Path, files: dict[str, str], **overrides) -> list[str]:
    with pytest.raises(UserError) as raised:
        render(write(root, files), **overrides)
    return raised.value.problems


def one_problem(root: Path, files: dict[str, str], **overrides) -> str:
    found = problems(root, files, **overrides)
    assert len(found) == 1, found
    return found[0]


def db_dsc(**keys) -> str:
    definition = {"name": "daily-ingest", "workers": 2, "notebookpath": "/Shared/ingest/daily"}
    definition.update(keys)
    return json.dumps(definition, indent=2)


def custom(template: str, name: str = "custom-job") -> dict[str, str]:
    """A definition rendered by its own template, templates/custom.json.j2."""
    return {"jobs/custom.yaml": f"template: custom.json.j2\nname: {name}\n",
            "templates/custom.json.j2": template}


def task(key: str, extra: str = "") -> str:
    """A notebook task in template text; ``extra`` adds fields, e.g. ', "max_retries": 1'."""
    return '{"task_key": "' + key + '", "notebook_task": {"notebook_path": "/Shared/x"}' + extra + "}"


def job_json(*tasks: str, extra: str = "") -> str:
    """A custom template rendering a job with these tasks; ``extra`` adds top-level fields."""
    return '{"name": {{ job.name | tojson }}, ' + extra + '"tasks": [' + ", ".join(tasks) + "]}"


@pytest.fixture(scope="module")
def shipped() -> dict[str, RenderedJob]:
    return {job.source: job for job in render(REPO)}


# --- the shipped examples ----------------------------------------------------------------------------


def test_db_dsc_par_pairs_become_the_notebook_base_parameters(shipped):
    task = shipped["jobs/daily_ingest.json"].settings["tasks"][0]
    assert task["notebook_task"]["base_parameters"] == {"source": "sap-erp", "target_layer": "bronze"}
    assert task["notebook_task"]["notebook_path"] == "/Shared/ingest/daily_erp_extract"


def test_db_dsc_name_description_and_workers_reach_the_job(shipped):
    job = shipped["jobs/daily_ingest.json"]
    assert job.settings["name"] == "daily-ingest"
    assert job.settings["description"].startswith("Loads the daily SAP ERP extract")
    assert job.settings["job_clusters"][0]["new_cluster"]["num_workers"] == 2


def test_default_template_runs_the_notebook_on_a_job_cluster_on_the_default_pool(shipped):
    job = shipped["jobs/daily_ingest.json"]
    (cluster,) = job.settings["job_clusters"]
    assert cluster["new_cluster"]["instance_pool_id"] == GENERAL
    assert cluster["new_cluster"]["driver_instance_pool_id"] == GENERAL
    assert cluster["new_cluster"]["spark_version"] == "15.4.x-scala2.12"
    assert job.settings["tasks"][0]["job_cluster_key"] == cluster["job_cluster_key"]
    assert job.pools == frozenset({"general"})


def test_sales_pipeline_runs_ingest_then_transform_then_publish_on_one_pooled_cluster(shipped):
    settings = shipped["jobs/sales_pipeline.yaml"].settings
    upstream = {task["task_key"]: [dependency["task_key"] for dependency in task.get("depends_ons", [])]
                for task in settings["tasks"]}
    assert upstream == {"ingest": [], "transform": ["ingest"], "publish": ["transform"]}
    (cluster,) = settings["job_clusters"]
    assert {task["job_cluster_key"] for task in settings["tasks"]} == {cluster["job_cluster_key"]}
    assert cluster["new_cluster"]["instance_pool_id"] == GENERAL


@pytest.mark.parametrize("pause_status", ["PAUSED", "UNPAUSED"])
def test_nightly_report_schedule_pause_status_comes_from_stack_variables(pause_status):
    jobs = render(REPO, variables={**VARIABLES, "schedule_pause_status": pause_status})
    schedule = next(job for job in jobs if job.source == "jobs/nightly_report.yaml").settings["schedule"]
    assert schedule == {"quartz_cron_expression": "0 30 2 * * ?", "timezone_id": "Europe/Amsterdam",
                        "pause_status": pause_status}


def test_stage_tags_the_job_and_leaves_the_job_name_as_written():
    jobs = render(REPO, stage="test")
    names = {job.settings["name"] for job in jobs}
    assert names == {"daily-ingest", "sales-pipeline", "nightly-sales-report"}
    assert {job.settings["tags"]["stage"] for job in jobs} == {"test"}


def test_shipped_examples_have_stable_logical_names_in_order(shipped):
    assert [job.resource_name for job in render(REPO)] == ["job-daily-ingest", "job-nightly-report",
                                                           "job-sales-pipeline"]
    assert shipped["jobs/sales_pipeline.yaml"].resource_name == "job-sales-pipeline"


def test_rendered_settings_are_accepted_by_pulumi_databricks_job_with_pool_ids_resolved():
    received: dict[str, dict] = {}

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            received[args.name] = args.inputs
            return f"{args.name}-id", args.inputs

        def call(self, args):
            return {}

    pulumi.runtime.set_mocks(Mocks(), preview=False)
    import pulumi_databricks as databricks

    @pulumi.runtime.test
    def declare_jobs():
        pool_ids = {"general": pulumi.Output.from_input("0101-120000-pool0123")}
        created = [databricks.Job(job.resource_name, **resolve_pool_refs(job.settings, pool_ids))
                   for job in render(REPO)]
        return pulumi.Output.all(*[job.id for job in created])

    declare_jobs()
    pipeline = received["job-sales-pipeline"]
    assert pipeline["jobClusters"][0]["newCluster"]["instancePoolId"] == "0101-120000-pool0123"
    assert pipeline["tasks"][2]["dependsOns"] == [{"taskKey": "transform"}]
    assert received["job-daily-ingest"]["tasks"][0]["notebookTask"]["baseParameters"]["source"] == "sap-erp"


# --- pools --------------------------------------------------------------------------------------------


def test_resolve_pool_refs_substitutes_the_pool_id_object_itself_and_copies_the_rest():
    pool_id = object()  # stands for a pulumi Output: it must be passed through, never str()-ed
    settings = {"job_clusters": [{"new_cluster": {"instance_pool_id": GENERAL, "num_workers": 2}}]}
    resolved = resolve_pool_refs(settings, {"general": pool_id})
    assert resolved["job_clusters"][0]["new_cluster"]["instance_pool_id"] is pool_id
    assert resolved["job_clusters"][0]["new_cluster"]["num_workers"] == 2
    assert settings["job_clusters"][0]["new_cluster"]["instance_pool_id"] == GENERAL


def test_resolve_pool_refs_names_a_pool_that_is_not_deployed():
    with pytest.raises(UserError, match="'general', which is not deployed; deployed pools: etl"):
        resolve_pool_refs({"instance_pool_id": GENERAL}, {"etl": "id"})


def test_definition_pool_key_overrides_the_default_pool(tmp_path):
    (job,) = render(write(tmp_path, {"jobs/a.json": db_dsc(pool="etl")}), pool_names={"general", "etl"})
    assert job.settings["job_clusters"][0]["new_cluster"]["instance_pool_id"] == POOL_REF_PREFIX + "etl"
    assert job.pools == frozenset({"etl"})


def test_unknown_pool_is_reported_with_file_template_line_and_configured_pools(tmp_path):
    problem = one_problem(tmp_path, {"jobs/a.json": db_dsc(pool="gpu")}, pool_names={"general", "etl"})
    assert re.fullmatch(r"jobs/a\.json: templates/notebook_job\.json\.j2:\d+: unknown pool 'gpu' .*"
                        r"configured pools: etl, general", problem)


def test_default_template_without_any_configured_pool_fails_instead_of_leaving_the_pool(tmp_path):
    problem = one_problem(tmp_path, {"jobs/a.json": db_dsc()}, pool_names=set(), default_pool=None)
    assert problem.startswith("jobs/a.json: templates/notebook_job.json.j2:")
    assert "no default pool configured" in problem


def test_template_names_any_configured_pool_by_name(tmp_path):
    cluster = ('"job_clusters": [{"job_cluster_key": "c", '
               '"new_cluster": {"instance_pool_id": {{ pool("etl") | tojson }}}}], ')
    template = job_json(task("a", ', "job_cluster_key": "c"'), extra=cluster)
    (job,) = render(write(tmp_path, custom(template)), pool_names={"general", "etl"})
    assert job.settings["job_clusters"][0]["new_cluster"]["instance_pool_id"] == POOL_REF_PREFIX + "etl"
    assert job.pools == frozenset({"etl"})


def test_pool_reference_inside_a_longer_string_is_rejected(tmp_path):
    template = job_json(task("a", ', "description": "on {{ pool() }}"'))
    assert "a pool reference must be the whole value" in one_problem(tmp_path, custom(template))


# --- logical names, discovery, order -----------------------------------------------------------------


def test_logical_names_come_from_the_path_relative_to_jobs(tmp_path):
    root = write(tmp_path, {"jobs/etl/daily.yaml": "name: etl-daily\nworkers: 1\nnotebookpath: /x\n",
                            "jobs/Finance Team/Month_End.Close.json": db_dsc(name="month-end")})
    names = {job.source: job.resource_name for job in render(root)}
    assert names == {"jobs/etl/daily.yaml": "job-etl-daily",
                     "jobs/Finance Team/Month_End.Close.json": "job-finance-team-month-end-close"}


def test_jobs_come_back_sorted_by_logical_name_whatever_the_file_order(tmp_path):
    root = write(tmp_path, {"jobs/zeta.json": db_dsc(name="z"), "jobs/alpha/b.yaml": "name: b\nworkers: 1\n"
                            "notebookpath: /b\n", "jobs/alpha.json": db_dsc(name="a")})
    assert [job.resource_name for job in render(root)] == ["job-alpha", "job-alpha-b", "job-zeta"]


def test_readme_and_hidden_files_in_jobs_are_not_definitions(tmp_path):
    root = write(tmp_path, {"jobs/a.json": db_dsc(), "jobs/README.md": "# {not json",
                            "jobs/.draft.json": "{", "jobs/.git/x.json": "{", "jobs/notes.txt": "x"})
    assert [job.source for job in render(root)] == ["jobs/a.json"]


def test_missing_or_empty_jobs_dir_renders_no_jobs(tmp_path):
    assert render(tmp_path) == []
    (tmp_path / "jobs").mkdir()
    assert render(tmp_path) == []


def test_without_relative_to_sources_start_at_the_jobs_dir_name(tmp_path):
    root = write(tmp_path, {"jobs/etl/a.json": db_dsc()})
    (job,) = render(root, relative_to=None)
    assert job.source == "jobs/etl/a.json"


# --- bad definitions -----------------------------------------------------------------------------------


def test_invalid_json_definition_is_reported_with_line_and_column(tmp_path):
    definition = '{\n  "name": "x",\n  "workers": 1\n  "notebookpath": "/x"\n}'
    problem = one_problem(tmp_path, {"jobs/a.json": definition})
    assert problem == "jobs/a.json:4:3: invalid JSON: Expecting ',' delimiter"


def test_invalid_yaml_definition_is_reported_with_line(tmp_path):
    problem = one_problem(tmp_path, {"jobs/a.yaml": "name: x\nworkers: [1\nnotebookpath: /x\n"})
    assert re.fullmatch(r"jobs/a\.yaml:3:\d+: invalid YAML: .*", problem)


@pytest.mark.parametrize(("name", "text", "line"), [
    ("a.json", '{"name": "x",\n "par_a": "a", "par_a_val": "1",\n "par_a": "b"}', ""),
    ("a.yaml", "name: x\npar_a: a\npar_a_val: '1'\npar_a: b\n", ":4:1"),
])
def test_duplicate_key_in_a_definition_is_an_error_not_a_silent_override(tmp_path, name, text, line):
    assert one_problem(tmp_path, {f"jobs/{name}": text}).startswith(f"jobs/{name}{line}: invalid")


def test_definition_that_is_not_a_mapping_is_rejected(tmp_path):
    assert "must be a mapping of keys" in one_problem(tmp_path, {"jobs/a.yaml": "- name: x\n"})
    assert "got an empty file" in one_problem(tmp_path / "2", {"jobs/b.yaml": ""})


@pytest.mark.parametrize(("keys", "message"), [
    ({"par_source": "source"}, "par_source has no matching par_source_val"),
    ({"par_source_val": "sap"}, "par_source_val has no matching par_source;"),
])
def test_unmatched_par_pair_is_an_error_naming_the_missing_key(tmp_path, keys, message):
    problem = one_problem(tmp_path, {"jobs/a.json": db_dsc(**keys)})
    assert problem.startswith("jobs/a.json: ") and message in problem


def test_two_par_pairs_setting_the_same_parameter_are_rejected(tmp_path):
    definition = db_dsc(par_a="day", par_a_val="1", par_b="day", par_b_val="2")
    problem = one_problem(tmp_path, {"jobs/a.json": definition})
    assert "par_b sets parameter 'day', already set by par_a" in problem


def test_par_value_that_is_not_text_or_number_is_rejected(tmp_path):
    assert "par_a_val must be a string or a number" in one_problem(
        tmp_path, {"jobs/a.json": db_dsc(par_a="full_load", par_a_val=True)})


def test_numeric_par_values_become_text_as_in_db_dsc_jobs(tmp_path):
    (job,) = render(write(tmp_path, {"jobs/a.json": db_dsc(par_a="streams", par_a_val=4)}))
    assert job.settings["tasks"][0]["notebook_task"]["base_parameters"] == {"streams": "4"}


def test_unknown_key_in_default_template_definition_suggests_and_lists_allowed_keys(tmp_path):
    problem = one_problem(tmp_path, {"jobs/a.json": db_dsc(notebook_path="/typo")})
    assert problem.startswith("jobs/a.json: unknown key 'notebook_path'; did you mean 'notebookpath'?")
    assert "accepts name, workers, notebookpath, description, pool, template" in problem


@pytest.mark.parametrize(("drop", "set_", "message"), [
    ("workers", {}, "workers is required"),
    ("notebookpath", {}, "notebookpath is required"),
    (None, {"workers": "2"}, "workers is required: a whole number ≥ 0 of worker nodes, got '2'"),
])
def test_default_template_definition_needs_name_workers_and_notebookpath(tmp_path, drop, set_, message):
    definition = json.loads(db_dsc(**set_))
    definition.pop(drop, None)
    assert message in one_problem(tmp_path, {"jobs/a.json": json.dumps(definition)})


# --- templates -----------------------------------------------------------------------------------------


def test_missing_template_is_reported_with_a_suggestion(tmp_path):
    problem = one_problem(tmp_path, {"jobs/a.yaml": "template: multi_tsk_job.json.j2\nname: x\n"})
    assert problem.startswith("jobs/a.yaml: template 'multi_tsk_job.json.j2' not found in templates/; "
                              "did you mean 'multi_task_job.json.j2'?")


@pytest.mark.parametrize("template", ["../secrets.json.j2", "/etc/passwd", "sub/../../x.j2"])
def test_template_path_escaping_templates_dir_is_rejected(tmp_path, template):
    assert "must be a relative path inside templates/" in one_problem(
        tmp_path, {"jobs/a.yaml": f"template: {template}\nname: x\n"})


def test_missing_templates_dir_is_an_error_when_a_definition_needs_it(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "a.json").write_text(db_dsc())
    with pytest.raises(UserError) as raised:
        render(tmp_path)
    assert raised.value.problems == ["jobs/a.json: template 'notebook_job.json.j2' not found: templates/ "
                                     "does not exist"]


def test_jinja_syntax_error_is_reported_once_with_template_line_and_its_users(tmp_path):
    files = {"templates/broken.json.j2": '{\n  "name": {{ job.name | tojson }},\n  {% if %}\n}\n'}
    files.update({f"jobs/{n}.yaml": f"template: broken.json.j2\nname: {n}\n" for n in "abcde"})
    problem = one_problem(tmp_path, files)
    assert problem.startswith("jobs/a.yaml, jobs/b.yaml, jobs/c.yaml and 2 more: templates/broken.json.j2:3: "
                              "Jinja syntax error: ")


def test_undefined_definition_key_is_reported_with_template_line_and_available_keys(tmp_path):
    template = '{\n  "name": {{ job.name | tojson }},\n  "max_retries": {{ job.retries | tojson }}\n}\n'
    assert one_problem(tmp_path, custom(template)) == (
        "jobs/custom.yaml: templates/custom.json.j2:3: undefined: job has no key 'retries' "
        "(it has: name, template)")


def test_undefined_stack_variable_is_reported_not_rendered_as_empty(tmp_path):
    problem = one_problem(tmp_path, {"jobs/a.json": db_dsc()}, variables={})
    assert re.fullmatch(r"jobs/a\.json: templates/notebook_job\.json\.j2:\d+: undefined: vars has no key "
                        r"'spark_version' \(it has: none\)", problem)


def test_failure_inside_a_template_is_a_user_error_not_a_traceback(tmp_path):
    template = '{"name": {{ job.name | tojson }}, "x": {{ 1 // 0 }}}'
    assert "templates/custom.json.j2:1: ZeroDivisionError" in one_problem(tmp_path, custom(template))


def test_rendered_output_that_is_not_json_is_reported_with_output_line(tmp_path):
    problem = one_problem(tmp_path, custom('{\n  "name": {{ job.name }}\n}\n'))
    assert problem == ("jobs/custom.yaml: templates/custom.json.j2 rendered invalid JSON at output line 2, "
                       "column 11: Expecting value (near `\"name\": custom-job`)")


# --- rendered settings against pulumi_databricks.Job ----------------------------------------------------


def test_unknown_field_is_reported_with_json_path_and_suggestion(tmp_path):
    template = job_json('{"task_key": "a", "notebook_task": {"notebook_path": "/x", "base_parameter": {}}}')
    assert one_problem(tmp_path, custom(template)) == (
        "jobs/custom.yaml: tasks[0].notebook_task.base_parameter: unknown field; "
        "did you mean 'base_parameters'?")


def test_unknown_field_without_close_match_lists_allowed_fields(tmp_path):
    template = job_json(task("a"), extra='"schedule": {"quartz_cron_expression": "0 0 1 * * ?", '
                        '"timezone_id": "UTC", "zzz": 1}, ')
    assert one_problem(tmp_path, custom(template)).endswith(
        "schedule.zzz: unknown field; allowed here: pause_status, quartz_cron_expression, sql_condition, "
        "timezone_id")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_retries", '"3"', "tasks[0].max_retries: expected an integer, got string '3'"),
    ("retry_on_timeout", '"yes"', "tasks[0].retry_on_timeout: expected true or false, got string 'yes'"),
    ("libraries", "{}", "tasks[0].libraries: expected a list of objects, got an object"),
    ("max_retries", "true", "tasks[0].max_retries: expected an integer, got boolean true"),
])
def test_wrong_type_is_reported_with_json_path(tmp_path, field, value, message):
    template = job_json(task("a", f', "{field}": {value}'))
    assert one_problem(tmp_path, custom(template)) == f"jobs/custom.yaml: {message}"


def test_base_parameter_values_must_be_text(tmp_path):
    template = job_json(task("a", ', "spark_python_task": {"python_file": "/x.py", "parameters": [4]}'))
    assert one_problem(tmp_path, custom(template)).endswith(
        "tasks[0].spark_python_task.parameters[0]: expected a string, got integer 4")


def test_missing_task_key_is_reported(tmp_path):
    template = job_json('{"notebook_task": {"notebook_path": "/x"}}')
    assert one_problem(tmp_path, custom(template)) == (
        "jobs/custom.yaml: tasks[0].task_key: required field missing")


def test_duplicate_task_key_is_reported(tmp_path):
    template = job_json(task("load"), task("load"))
    assert "tasks[1].task_key: duplicate 'load', also tasks[0]" in one_problem(tmp_path, custom(template))


def test_depends_on_a_task_outside_the_job_is_reported(tmp_path):
    template = job_json(task("ingest"),
                        task("publish", ', "depends_on": [{"task_key": "transfrom"}]'))
    assert one_problem(tmp_path, custom(template)) == (
        "jobs/custom.yaml: tasks[1] (publish): depends on 'transfrom', which is not a task of this job; "
        "tasks: ingest, publish")


def test_dependency_cycle_is_reported(tmp_path):
    template = job_json(task("a", ', "depends_on": [{"task_key": "b"}]'),
                        task("b", ', "depends_on": [{"task_key": "a"}]'))
    assert "tasks: dependencies form a cycle" in one_problem(tmp_path, custom(template))


def test_job_cluster_key_without_that_job_cluster_is_reported(tmp_path):
    template = job_json(task("a", ', "job_cluster_key": "main"'),
                        extra='"job_clusters": [{"job_cluster_key": "shared"}], ')
    assert one_problem(tmp_path, custom(template)) == (
        "jobs/custom.yaml: tasks[0].job_cluster_key: 'main' is not defined in job_clusters; defined: shared")


def test_job_without_tasks_is_reported(tmp_path):
    assert one_problem(tmp_path, custom(job_json())) == (
        "jobs/custom.yaml: tasks: a job needs at least one task")


def test_jobs_api_spellings_are_accepted_and_renamed_to_provider_arguments():
    checked, found = check_job_settings({
        "name": "x",
        "git_source": {"git_url": "https://dev.azure.com/org/project/_git/notebooks",
                       "git_provider": "azureDevOpsServices", "git_branch": "main"},
        "email_notifications": {"on_failure": ["data-platform@example.com"]},
        "tasks": [{"task_key": "b", "depends_on": [{"task_key": "a"}]}],
    })
    assert found == []
    assert checked["git_source"] == {"url": "https://dev.azure.com/org/project/_git/notebooks",
                                     "provider": "azureDevOpsServices", "branch": "main"}
    assert checked["email_notifications"] == {"on_failures": ["data-platform@example.com"]}
    assert checked["tasks"][0]["depends_ons"] == [{"task_key": "a"}]


# --- across files ---------------------------------------------------------------------------------------


def test_duplicate_job_names_across_files_name_both_files(tmp_path):
    problem = one_problem(tmp_path, {"jobs/a.json": db_dsc(name="ingest"), "jobs/b.yaml": "name: ingest\n"
                                     "workers: 1\nnotebookpath: /b\n"})
    assert problem == ("jobs/b.yaml: job name 'ingest' is also used by jobs/a.json; "
                       "job names must be unique in a workspace")


def test_files_with_the_same_logical_name_are_both_named(tmp_path):
    problem = one_problem(tmp_path, {"jobs/daily_ingest.json": db_dsc(name="a"),
                                     "jobs/daily-ingest.yaml": "name: b\nworkers: 1\nnotebookpath: /b\n"})
    assert problem == ("jobs/daily_ingest.json: logical name 'job-daily-ingest' is also derived from "
                       "jobs/daily-ingest.yaml; rename one of the files")


def test_every_bad_file_is_reported_in_one_error(tmp_path):
    found = problems(tmp_path, {
        "jobs/good.json": db_dsc(name="good"),
        "jobs/bad_json.json": "{",
        "jobs/bad_yaml.yaml": "name: [x\n",
        "jobs/unpaired.json": db_dsc(name="unpaired", par_a="a"),
        "jobs/typo.json": db_dsc(name="typo", worker=1),
        "jobs/no_template.yaml": "template: nope.j2\nname: x\n",
        "jobs/etl/undefined.yaml": "template: scheduled_notebook_job.json.j2\nname: y\n",
    })
    files = sorted({re.match(r"[^:]+", problem).group() for problem in found})
    assert files == ["jobs/bad_json.json", "jobs/bad_yaml.yaml", "jobs/etl/undefined.yaml",
                     "jobs/no_template.yaml", "jobs/typo.json", "jobs/unpaired.json"]


# --- properties -----------------------------------------------------------------------------------------

file_stems = st.from_regex(r"[a-z][a-z0-9]{0,10}(_[a-z0-9]{1,6})?", fullmatch=True)
par_suffixes = st.from_regex(r"[a-z][a-z0-9]{0,11}", fullmatch=True)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
# A parameter name is printable text without white space at either end (one that is not is refused, below).
parameter_names = text.filter(lambda name: name and name.isprintable() and name == name.strip())
par_pairs = st.dictionaries(par_suffixes, st.tuples(parameter_names, text | st.integers()), max_size=5)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(definitions=st.dictionaries(file_stems, par_pairs, min_size=1, max_size=6))
def test_valid_db_dsc_definitions_get_unique_stable_names_and_their_par_pairs(tmp_path_factory, definitions):
    root = tmp_path_factory.mktemp("jobs")
    files = {}
    for stem, pairs in definitions.items():
        keys = {f"par_{suffix}": name for suffix, (name, _) in pairs.items()}
        keys.update({f"par_{suffix}_val": value for suffix, (_, value) in pairs.items()})
        files[f"jobs/{stem}.json"] = db_dsc(name=f"job {stem}", **keys)
    parameter_names = [[name for name, _ in pairs.values()] for pairs in definitions.values()]
    slugs = [stem.replace("_", "-") for stem in definitions]
    if any(len(set(names)) < len(names) for names in parameter_names) or len(set(slugs)) < len(slugs):
        return  # duplicate parameter names and colliding file names are errors, tested above
    first = render(write(root, files))
    assert [job.resource_name for job in first] == sorted(f"job-{slug}" for slug in slugs)
    assert [job.resource_name for job in render(root)] == [job.resource_name for job in first]
    for job in first:
        stem = Path(job.source).stem
        expected = {name: str(value) for name, value in definitions[stem].values()}
        assert job.settings["tasks"][0]["notebook_task"]["base_parameters"] == expected, job.source


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
definition_keys = text | st.sampled_from(
    ["name", "workers", "notebookpath", "pool", "template", "par_a", "par_a_val", "description", "tasks"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(definition=st.dictionaries(definition_keys, json_values, max_size=6))
def test_any_definition_content_is_reported_as_a_user_error_never_a_traceback(tmp_path_factory, definition):
    root = write(tmp_path_factory.mktemp("fuzz"), {"jobs/a.json": json.dumps(definition),
                                                   "jobs/b.yaml": json.dumps(definition)})
    with pytest.raises(UserError) as raised:  # the same job name twice is never valid, so this always fails
        render(root)
    assert all(problem.startswith(("jobs/a.json", "jobs/b.yaml")) for problem in raised.value.problems)


# --- hostile files (issue 9, item 7) --------------------------------------------------------------------


def test_a_fifo_in_jobs_is_refused_without_hanging(tmp_path):
    root = write(tmp_path, {"jobs/a.json": db_dsc()})
    os.mkfifo(root / "jobs" / "pipe.json")
    assert one_problem(tmp_path, {}) == "jobs/pipe.json: is a FIFO (named pipe), not a regular file; it is not read"


def test_dev_zero_linked_into_jobs_is_refused_without_reading_forever(tmp_path):
    root = write(tmp_path, {"jobs/a.json": db_dsc()})
    (root / "jobs" / "zero.json").symlink_to("/dev/zero")
    assert "jobs/zero.json: is (or passes through) a symbolic link to a path outside jobs/" in one_problem(tmp_path, {})


def test_a_definition_linked_from_outside_jobs_is_refused_and_its_content_never_printed(tmp_path):
    secret = tmp_path / "outside" / "credentials.yaml"
    secret.parent.mkdir()
    secret.write_text("password: hunter2-PRIVATE\n  not: [valid\n")
    root = write(tmp_path / "repo", {"jobs/a.json": db_dsc()})
    (root / "jobs" / "creds.yaml").symlink_to(secret)
    problem = one_problem(tmp_path / "repo", {})
    assert problem.startswith("jobs/creds.yaml: is (or passes through) a symbolic link to a path outside jobs/")
    assert "hunter2" not in problem and "credentials" not in problem


def test_a_template_linked_from_outside_templates_is_refused_and_its_content_never_printed(tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text(throwaway_private_key_pem())
    root = write(tmp_path / "repo", {"jobs/a.yaml": "template: key.json.j2\nname: a\n"})
    (root / "templates" / "key.json.j2").symlink_to(secret)
    problem = one_problem(tmp_path / "repo", {})
    assert "templates/key.json.j2: is (or passes through) a symbolic link to a path outside templates/" in problem
    assert "PRIVATE" not in problem


def test_an_include_that_leaves_templates_is_refused_too(tmp_path):
    (tmp_path / "secret.txt").write_text("TOKEN-VALUE")
    root = write(tmp_path / "repo", {"jobs/a.yaml": "template: inc.json.j2\nname: a\n",
                                     "templates/inc.json.j2": '{% include "leak.txt" %}'})
    (root / "templates" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    problem = one_problem(tmp_path / "repo", {})
    assert "templates/inc.json.j2:1: templates/leak.txt: is (or passes through) a symbolic link" in problem
    assert "TOKEN" not in problem


def test_a_directory_linked_out_of_jobs_is_named_and_not_read(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.json").write_text(db_dsc(name="elsewhere"))
    root = write(tmp_path / "repo", {"jobs/a.json": db_dsc()})
    (root / "jobs" / "shared").symlink_to(tmp_path / "elsewhere")
    assert one_problem(tmp_path / "repo", {}) == ("jobs/shared/: is a symbolic link to a directory outside jobs/; "
                                                  "its files are not read")


def test_a_directory_linked_inside_jobs_is_read_once_even_when_it_loops(tmp_path):
    root = write(tmp_path, {"jobs/etl/a.json": db_dsc()})
    (root / "jobs" / "etl" / "again").symlink_to(root / "jobs")
    assert [job.source for job in render(root)] == ["jobs/etl/a.json"]


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("d.yaml", "name: d\nworkers: !!binary aGVsbG8=\nnotebookpath: /x\n",
     "jobs/d.yaml:2:10: workers: the tag !!binary"),
    ("d.yaml", "name: d\n1: x\n", "jobs/d.yaml:2:1: the key '1', which YAML reads as a number"),
    ("d.yaml", "name: d\n? [a]\n: x\n", "jobs/d.yaml:2:3: a key must be text"),
    ("d.yaml", "name: &n [*n]\n", "jobs/d.yaml:1:11: name[0]: the alias *n refers to the value that contains it"),
    ("d.yaml", "[" * 100_000 + "]" * 100_000, "jobs/d.yaml:1:65: "),
    ("d.json", "[" * 100_000 + "]" * 100_000, "jobs/d.json:1: invalid JSON: nested deeper than 64 levels"),
    ("d.json", '{"name": "d", "workers": NaN, "notebookpath": "/x"}', "jobs/d.json: invalid JSON: workers: NaN"),
    ("d.yaml", "name: d\nworkers: .nan\nnotebookpath: /x\n", "jobs/d.yaml:2:10: workers: '.nan' is not a finite"),
])
def test_hostile_definitions_end_in_one_problem_naming_file_and_key(tmp_path, name, text, expected):
    assert one_problem(tmp_path, {f"jobs/{name}": text}).startswith(expected)


def test_a_non_utf8_definition_names_the_byte_and_its_place(tmp_path):
    root = write(tmp_path, {})
    (root / "jobs").mkdir()
    (root / "jobs" / "a.json").write_bytes(b'{"name":\n "\xff"}')
    assert one_problem(tmp_path, {}) == "jobs/a.json:2:3: not UTF-8 text (byte 0xff); save the file as UTF-8"


def test_a_yaml_date_in_a_definition_is_the_text_written(tmp_path):
    (job,) = render(write(tmp_path, {"jobs/a.yaml": "name: a\nworkers: 1\nnotebookpath: /x\ndescription: 2026-01-01\n"
                                                    "par_day: day\npar_day_val: 2026-01-01\n"}))
    assert job.settings["description"] == "2026-01-01"
    assert job.settings["tasks"][0]["notebook_task"]["base_parameters"] == {"day": "2026-01-01"}


@pytest.mark.parametrize(("output", "kind"), [("null", "null"), ("[1, 2]", "a list"), ("12", "the number 12"),
                                              ('"job"', "the string 'job'"), ("true", "the boolean true")])
def test_a_template_that_renders_something_other_than_an_object_is_refused(tmp_path, output, kind):
    assert one_problem(tmp_path, custom(output)) == (
        f"jobs/custom.yaml: templates/custom.json.j2 rendered {kind}, not a job (a JSON object of "
        "pulumi_databricks.Job arguments)")


@pytest.mark.parametrize(("output", "message"), [
    ('{"name": "x", "name": "y"}', "rendered invalid JSON: duplicate key 'name'"),
    ('{"name": "x", "max_concurrent_runs": NaN}', "max_concurrent_runs: NaN is not a JSON number"),
    ("[" * 1000 + "]" * 1000, "rendered invalid JSON at output line 1: nested deeper than 64 levels"),
])
def test_template_output_is_parsed_strictly(tmp_path, output, message):
    assert message in one_problem(tmp_path, custom(output))


def test_list_valued_task_keys_are_reported_not_a_crash(tmp_path):
    template = job_json('{"task_key": ["a"], "notebook_task": {"notebook_path": "/x"}}',
                        '{"task_key": "b", "job_cluster_key": ["c"], "depends_on": [{"task_key": {"x": 1}}], '
                        '"notebook_task": {"notebook_path": "/x"}}')
    found = problems(tmp_path, custom(template))
    assert "jobs/custom.yaml: tasks[0].task_key: expected a string, got a list" in found
    assert "jobs/custom.yaml: tasks[1].depends_on[0].task_key: expected a string, got an object" in found


@pytest.mark.parametrize(("template", "message"), [
    ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
    ('{% for i in range(100000) %}{{ "x" * 100 }}{% endfor %}', "renders more than 4 MiB for one job"),
    ("{% for i in range(100000) %}{% for j in range(100) %}xxxxxxxxxx{% endfor %}{% endfor %}",
     "runs more than 250,000 steps"),
    ('{% include "custom.json.j2" %}', "the template calls or includes itself without end"),
])
def test_a_runaway_template_fails_promptly(tmp_path, template, message):
    assert message in one_problem(tmp_path, custom(template))


def test_a_2mb_value_is_never_echoed_whole(tmp_path):
    big = "v" * 2_000_000
    found = problems(tmp_path, {"jobs/a.json": db_dsc(workers=big), "jobs/b.json": db_dsc(par_a="a", par_a_val=[big]),
                                "jobs/c.json": db_dsc(**{big: 1}), "jobs/d.yaml": f"template: {big}\nname: b\n",
                                "jobs/e.json": db_dsc(name=big, pool="p" * 2_000_000)})
    assert len(found) >= 5 and all(len(problem) < 600 for problem in found), [len(p) for p in found]


# --- run-time failures the plan can see (item 9) and provider limits (item 8) ---------------------------


def cluster_job(new_cluster: str, extra: str = "") -> dict[str, str]:
    cluster = '"job_clusters": [{"job_cluster_key": "c", "new_cluster": ' + new_cluster + "}], "
    return custom(job_json(task("a", ', "job_cluster_key": "c"'), extra=cluster + extra))


GENERAL_JSON = json.dumps(GENERAL)
ETL_JSON = json.dumps(POOL_REF_PREFIX + "etl")


@pytest.mark.parametrize(("new_cluster", "needed"), [
    ('{"instance_pool_id": ' + GENERAL_JSON + ', "num_workers": 4}', "needs 5 instances of pool 'general' "
                                                                     "(4 workers (num_workers) + the driver)"),
    ('{"instance_pool_id": ' + GENERAL_JSON + ', "driver_instance_pool_id": ' + GENERAL_JSON + ', "num_workers": 4}',
     "needs 5 instances"),
    ('{"instance_pool_id": ' + GENERAL_JSON + ', "autoscale": {"min_workers": 1, "max_workers": 4}}',
     "may grow to 5 instances of pool 'general' (4 workers (autoscale.max_workers) + the driver)"),
    ('{"instance_pool_id": ' + GENERAL_JSON + ', "driver_instance_pool_id": ' + ETL_JSON + ', "num_workers": 5}',
     "needs 5 instances of pool 'general' (5 workers (num_workers))"),
])
def test_a_cluster_bigger_than_its_pool_is_refused_naming_file_cluster_and_pool(tmp_path, new_cluster, needed):
    problem = one_problem(tmp_path, cluster_job(new_cluster), pool_names={"general", "etl"},
                          pool_capacities={"general": 4, "etl": 1})
    assert problem.startswith("jobs/custom.yaml: job_clusters[0] ('c').new_cluster: " + needed)
    assert "maxCapacity is 4" in problem


def test_the_driver_on_another_pool_is_not_counted_against_the_workers_pool(tmp_path):
    new_cluster = '{"instance_pool_id": ' + GENERAL_JSON + ', "driver_instance_pool_id": ' + ETL_JSON + \
                  ', "num_workers": 4}'
    render(write(tmp_path, cluster_job(new_cluster)), pool_names={"general", "etl"},
           pool_capacities={"general": 4, "etl": 1})


def test_a_task_cluster_bigger_than_its_pool_is_refused(tmp_path):
    template = job_json(task("a", ', "new_cluster": {"instance_pool_id": ' + GENERAL_JSON + ', "num_workers": 9}'))
    problem = one_problem(tmp_path, custom(template), pool_capacities={"general": 4})
    assert problem.startswith("jobs/custom.yaml: tasks[0].new_cluster: needs 10 instances of pool 'general'")


def test_the_shipped_jobs_fit_the_shipped_pools():
    render(REPO, pool_capacities={"general": 4})


def test_pool_names_unknown_accepts_any_pool_so_a_config_error_is_not_repeated_per_job(tmp_path):
    (job,) = render(write(tmp_path, {"jobs/a.json": db_dsc(pool="gpu")}), pool_names=None, default_pool=None)
    assert job.pools == frozenset({"gpu"})


def test_collecting_mode_appends_problems_and_returns_the_clean_jobs(tmp_path):
    found: list[str] = []
    jobs = render(write(tmp_path, {"jobs/a.json": db_dsc(), "jobs/b.json": "{"}), problems=found)
    assert [job.source for job in jobs] == ["jobs/a.json"] and len(found) == 1 and found[0].startswith("jobs/b.json")


@pytest.mark.parametrize(("extra", "tasks", "message"), [
    ('"name": "' + "n" * 4097 + '", ', None, "name: longer than 4096 bytes"),
    ('"description": "' + "d" * 27_701 + '", ', None, "description: longer than 27,700 characters"),
    ('"max_concurrent_runs": 1001, ', None, "max_concurrent_runs: must be 0-1000 (got 1001)"),
    ('"timeout_seconds": -1, ', None, "timeout_seconds: must be at least 0 (got -1)"),
    ('"tags": {' + ", ".join(f'"t{i}": "x"' for i in range(26)) + "}, ", None, "tags: 26 tags; Databricks accepts "
                                                                               "at most 25"),
    ('"tags": {"a/b": "x"}, ', None, "tag name 'a/b' must be 1-512 characters"),
    ('"parameters": [{"name": "a b", "default": "x"}], ', None, "parameters[0].name: 'a b' may hold only"),
    ("", [task("a b")], "tasks[0].task_key: 'a b' must be 1-100 letters, digits, _ or -"),
    ("", [task("k" * 101)], "must be 1-100 letters, digits, _ or -"),
    ("", [task("a", ', "max_retries": -2')], "tasks[0].max_retries: must be at least -1 (got -2)"),
    ("", [task("a", ', "timeout_seconds": -5')], "tasks[0].timeout_seconds: must be at least 0"),
    ("", [task("a", ', "new_cluster": {"num_workers": -1}')], "tasks[0].new_cluster.num_workers: must be at least 0"),
    ("", [task("a", ', "new_cluster": {"autoscale": {"min_workers": 3, "max_workers": 3}}')],
     "max_workers (3) must be greater than min_workers (3)"),
    ("", [task("a", ', "new_cluster": {"custom_tags": {' + ", ".join(f'"t{i}": "x"' for i in range(46)) + "}}")],
     "custom_tags: 46 tags; Databricks accepts at most 45"),
    ("", ['{"task_key": "a", "notebook_task": {"notebook_path": "/x", "base_parameters": {"p": "'
          + "v" * 10_000 + '"}}}'], "base_parameters: 10,009 bytes as JSON; Databricks accepts at most 10,000"),
    ("", [task("a", ', "max_retries": 99999999999999999999')], "does not fit in 64 bits"),
])
def test_documented_databricks_limits_fail_at_render_time_not_at_up(tmp_path, extra, tasks, message):
    template = job_json(*(tasks or [task("a")]), extra=extra)
    if extra.startswith('"name"'):
        template = template.replace('"name": {{ job.name | tojson }}, ', "", 1)
    assert message in one_problem(tmp_path, custom(template))


def test_a_file_name_with_a_newline_is_quoted_so_each_problem_stays_one_line(tmp_path):
    problem = one_problem(tmp_path, {"jobs/bad\nname.json": "{"})
    assert problem.startswith("'jobs/bad\\nname.json':1:2: invalid JSON") and "\n" not in problem


# --- names a user must type or find: printable, no white space at either end -----------------------------


@pytest.mark.parametrize(("name", "what"), [
    ("daily-ingest\n", "holds a control or invisible character"),
    ("daily\x00ingest", "holds a control or invisible character"),
    ("daily\u200bingest", "holds a control or invisible character"),  # a zero-width space
    (" daily-ingest", "begins or ends with white space"),
    ("daily-ingest ", "begins or ends with white space"),
])
def test_a_job_name_with_a_control_character_or_outer_space_is_refused_saying_what_is_allowed(tmp_path, name, what):
    found = problems(tmp_path, {"jobs/a.json": db_dsc(), "jobs/b.json": db_dsc(name=name),
                                "jobs/c.yaml": f"template: custom.json.j2\nname: {json.dumps(name)}\n",
                                "templates/custom.json.j2": job_json(task("a"))})
    for source in ("jobs/b.json", "jobs/c.yaml"):
        (problem,) = [problem for problem in found if problem.startswith(source)]
        assert problem == f"{source}: name: {name!r} {what}; a job name is printable text without white space at " \
                          "either end (spaces inside are fine)"
    assert len(found) == 2, found  # not also "the same name as jobs/a.json": it is refused for itself


def test_job_names_that_differ_only_in_case_are_the_same_name_as_databricks_finds_jobs(tmp_path):
    found = problems(tmp_path, {"jobs/a.json": db_dsc(name="daily-ingest"), "jobs/b.json": db_dsc(name="Daily-Ingest")})
    assert found == ["jobs/b.json: job name 'Daily-Ingest' is also used by jobs/a.json (as 'daily-ingest'; Databricks "
                     "compares job names regardless of case); job names must be unique in a workspace"]


def test_a_job_name_with_inner_spaces_and_any_printable_letters_is_fine(tmp_path):
    (job,) = render(write(tmp_path, {"jobs/a.json": db_dsc(name="Tägliche Übernahme – ERP")}))
    assert job.settings["name"] == "Tägliche Übernahme – ERP"


@pytest.mark.parametrize(("name", "what"), [
    ("x\x00", "holds a control or invisible character"),
    ("region\n", "holds a control or invisible character"),
    (" region", "begins or ends with white space"),
])
def test_a_parameter_name_with_a_control_character_or_outer_space_is_refused(tmp_path, name, what):
    definition = problems(tmp_path / "a", {"jobs/a.json": db_dsc(par_x=name, par_x_val="v")})
    assert definition == [f"jobs/a.json: par_x: parameter name {name!r} {what}; a parameter name is printable text "
                          "without white space at either end (spaces inside are fine)"]
    # A template writing base_parameters itself is held to the same rule.
    template = job_json('{"task_key": "a", "notebook_task": {"notebook_path": "/x", "base_parameters": {'
                        + json.dumps(name) + ': "v"}}}')
    (rendered,) = problems(tmp_path / "b", custom(template))
    assert rendered.startswith(f"jobs/custom.yaml: tasks[0].notebook_task.base_parameters: parameter name {name!r} "
                               f"{what}")
