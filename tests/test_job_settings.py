"""Job settings per stage: queueing, concurrency, timeout, failure e-mails and the UI lock, from config."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.config import PROJECT, parse_stage_config
from core.errors import UserError
from core.job_settings import JobDefaults, apply_job_defaults, with_job_defaults
from core.jobs import render_jobs
from tests.conftest import REPO, STAGES, resources_of

JOB = "databricks:index/job:Job"
STAGE_DEFAULTS = JobDefaults(queue=True, max_concurrent_runs=2, timeout_seconds=3600,
                             failure_emails=("oncall@example.com",), edit_mode="UI_LOCKED")


def test_stage_defaults_fill_only_what_the_job_leaves_unset():
    bare = with_job_defaults({"name": "a", "tasks": []}, STAGE_DEFAULTS)
    assert bare["queue"] == {"enabled": True}
    assert (bare["max_concurrent_runs"], bare["timeout_seconds"]) == (2, 3600)
    assert bare["email_notifications"] == {"on_failures": ["oncall@example.com"]}
    assert bare["edit_mode"] == "UI_LOCKED"

    own = {"name": "b", "tasks": [], "queue": {"enabled": False}, "max_concurrent_runs": 5, "timeout_seconds": 0,
           "email_notifications": {"on_starts": ["team@example.com"]}}
    kept = with_job_defaults(own, STAGE_DEFAULTS)
    assert kept["queue"] == {"enabled": False} and kept["max_concurrent_runs"] == 5 and kept["timeout_seconds"] == 0
    # A job that names its own start e-mails still tells the stage's on-call about failures.
    assert kept["email_notifications"] == {"on_starts": ["team@example.com"], "on_failures": ["oncall@example.com"]}
    opted_out = with_job_defaults({**own, "email_notifications": {"on_failures": []}}, STAGE_DEFAULTS)
    assert opted_out["email_notifications"] == {"on_failures": []}
    # A stage without failure addresses adds no notifications at all.
    quiet = JobDefaults(queue=True, max_concurrent_runs=1, timeout_seconds=0, failure_emails=(), edit_mode="EDITABLE")
    assert "email_notifications" not in with_job_defaults({"name": "c"}, quiet)


def _render(tmp_path: Path, definitions: dict[str, dict]) -> list:
    jobs_dir = tmp_path / "jobs"
    jobs_dir.mkdir()
    for name, definition in definitions.items():
        (jobs_dir / name).write_text(json.dumps(definition))
    return render_jobs(jobs_dir, REPO / "templates", stage="test", variables={"spark_version": "15.4.x-scala2.12",
                       "schedule_pause_status": "PAUSED"}, pool_names=["general"], default_pool="general")


def test_db_dsc_definitions_may_override_concurrency_and_timeout(tmp_path):
    base = {"workers": 1, "notebookpath": "/Shared/x"}
    jobs = _render(tmp_path, {"plain.json": {"name": "plain", **base},
                              "own.json": {"name": "own", "max_concurrent_runs": 4, "timeout_seconds": 600, **base}})
    settings = {job.settings["name"]: job.settings for job in apply_job_defaults(jobs, STAGE_DEFAULTS)}
    assert (settings["plain"]["max_concurrent_runs"], settings["plain"]["timeout_seconds"]) == (2, 3600)
    assert (settings["own"]["max_concurrent_runs"], settings["own"]["timeout_seconds"]) == (4, 600)


def test_a_definition_cannot_unlock_a_job_the_stage_locks(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "open.json.j2").write_text(
        '{"name": {{ job.name | tojson }}, "edit_mode": "EDITABLE", "tasks": [{"task_key": "t", '
        '"notebook_task": {"notebook_path": "/Shared/x"}, "existing_cluster_id": "c"}]}'
    )
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "open.yaml").write_text("template: open.json.j2\nname: open\n")
    jobs = render_jobs(tmp_path / "jobs", templates, stage="test", variables={}, pool_names=[], default_pool=None,
                       relative_to=tmp_path)
    with pytest.raises(UserError) as caught:
        apply_job_defaults(jobs, STAGE_DEFAULTS)
    [problem] = caught.value.problems
    assert problem.startswith("jobs/open.yaml: edit_mode 'EDITABLE' differs from this stage's jobsEditMode")
    # The stage's own value is no conflict.
    [same] = apply_job_defaults(jobs, replace(STAGE_DEFAULTS, edit_mode="EDITABLE"))
    assert same.settings["edit_mode"] == "EDITABLE"


@pytest.mark.parametrize("stage", STAGES)
def test_every_shipped_job_queues_and_gets_its_stages_settings(deployed_plans, stage):
    expected_lock = {"dev": "EDITABLE", "test": "UI_LOCKED", "prod": "UI_LOCKED"}[stage]
    expected_emails = {"prod": ["data-platform-oncall@contoso.com"]}.get(stage)
    jobs = resources_of(deployed_plans[stage], JOB)
    assert jobs
    for job in jobs:
        inputs = job["inputs"]
        where = f"Pulumi.{stage}.yaml: {job['name']}"
        assert inputs["queue"] == {"enabled": True}, where
        assert inputs["editMode"] == expected_lock, where
        assert inputs["maxConcurrentRuns"] == 1 and inputs["timeoutSeconds"] == 14400, where
        assert inputs.get("emailNotifications", {}).get("onFailures") == expected_emails, where


def test_job_settings_out_of_range_are_config_errors_naming_the_key():
    with pytest.raises(UserError) as caught:
        parse_stage_config({f"{PROJECT}:jobsMaxConcurrentRuns": "0", f"{PROJECT}:jobsTimeoutSeconds": "-1",
                            f"{PROJECT}:jobsFailureEmails": '["oncall"]', f"{PROJECT}:jobsEditMode": "LOCKED"},
                           stack="prod")
    problems = "\n".join(caught.value.problems)
    assert len(caught.value.problems) == 4, problems
    for key in ("jobsMaxConcurrentRuns", "jobsTimeoutSeconds", "jobsFailureEmails[0]", "jobsEditMode"):
        assert f"Pulumi.prod.yaml: {PROJECT}:{key}: " in problems
    assert "'oncall' is not an e-mail address" in problems and "'UI_LOCKED' or 'EDITABLE'" in problems


@pytest.mark.parametrize("runner", ["schedule", "continuous", "trigger"])
def test_a_schedule_the_template_leaves_without_pause_status_gets_the_stages(runner):
    """Databricks takes a missing pause_status as UNPAUSED: a template that forgets it would run in test."""
    paused = replace(STAGE_DEFAULTS, schedule_pause_status="PAUSED")
    settings = {"name": "a", runner: {"quartz_cron_expression": "0 0 3 * * ?", "timezone_id": "UTC"}}
    assert with_job_defaults(settings, paused)[runner]["pause_status"] == "PAUSED"
    assert settings[runner].get("pause_status") is None, "the rendered settings are not changed in place"
    own = {"name": "b", runner: {"pause_status": "UNPAUSED"}}
    assert with_job_defaults(own, paused)[runner]["pause_status"] == "UNPAUSED", "a template's own value is kept"
    assert runner not in with_job_defaults({"name": "c"}, paused), "no schedule is added to a job without one"


@pytest.mark.parametrize(("stack", "expected"), [("test", "PAUSED"), ("prod", "UNPAUSED")])
def test_the_stages_job_schedule_pause_status_is_the_default_pause_status(stack, expected):
    config = parse_stage_config({f"{PROJECT}:jobSchedulePauseStatus": expected}, stack=stack)
    assert config.job_defaults.schedule_pause_status == expected
