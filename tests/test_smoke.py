"""`python -m ops smoke` against loopback HTTPS fakes of Entra ID, the Jobs API and ARM.

The command runs as a user runs it (a subprocess) for the contract: the URL first, timestamped state lines,
exit codes 0/1/2/3, one line for usage problems, an end by the timeout whatever the servers do. The finer
cases (every terminal state in both shapes of a run's state) call its main() in-process; neither way patches
azure-identity, databricks-sdk or azure-mgmt-datafactory.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.arm import ActivityStep, FakeArm, PipelineStep
from tests.fakes.faults import Fault
from tests.fakes.jobs import RunStep, TaskStep, ended, queued, running
from tests.fakes.tls import TlsMaterial
from tests.smoke_harness import (
    FAST,
    JOB_ID,
    REPO,
    STAMPED,
    SmokeCloud,
    running_smoke_cloud,
    smoke,
    smoke_in_process,
)


@pytest.fixture
def cloud(tls_material: TlsMaterial, tmp_path: Path) -> Iterator[SmokeCloud]:
    with running_smoke_cloud(tls_material, tmp_path) as smoke_cloud:
        yield smoke_cloud


def task_failure(key: str = "ingest", *, lines: int = 30) -> TaskStep:
    trace = "\n".join(f"trace line {n}" for n in range(1, lines + 1))
    return TaskStep(key, "TERMINATED", "FAILED", "Workload failed", error=f"ValueError: bad row in {key}",
                    error_trace=trace)


# -- the contract, as a user runs it ----------------------------------------------------------------


def test_successful_job_prints_its_url_first_then_one_timestamped_line_per_state_change(cloud):
    cloud.jobs.add_job(
        JOB_ID, queued(), queued(), running(TaskStep("ingest")), running(TaskStep("ingest")),
        ended("SUCCESS", "", TaskStep("ingest", "TERMINATED", "SUCCESS")),
    )
    result = smoke(cloud, "--job", "smoke", *FAST)
    assert result.code == 0, result.text
    [run_id] = cloud.jobs.runs
    assert result.lines[0] == f"Run URL: {cloud.jobs.run_page_url(JOB_ID, run_id)}"
    states = [line for line in result.lines[1:-1]]
    assert states and all(STAMPED.match(line) for line in states), result.stdout
    # Two readings of each state, one line each.
    assert [line[21:].split(":")[0].split(" (")[0] for line in states if " task " not in line] == [
        "QUEUED", "RUNNING", "TERMINATED SUCCESS"
    ]
    assert "ACTIVE_RUNS_LIMIT_REACHED" in result.stdout and "waiting, not failed" in result.stdout
    assert result.stderr == ""


def test_failed_job_exits_1_with_the_failing_tasks_own_error_and_the_end_of_its_trace(cloud):
    cloud.jobs.add_job(
        JOB_ID, running(TaskStep("ingest"), TaskStep("publish", "BLOCKED")),
        ended("FAILED", "Workload failed, see run output for details", task_failure("ingest"),
              TaskStep("publish", "TERMINATED", "UPSTREAM_FAILED", "Upstream task failed")),
    )
    result = smoke(cloud, "--job", "smoke", *FAST)
    assert result.code == 1
    assert "ended FAILED" in result.stderr
    assert "task ingest FAILED" in result.stderr and "ValueError: bad row in ingest" in result.stderr
    assert "trace line 30" in result.stderr and "trace line 21" in result.stderr
    assert "trace line 20\n" not in result.stderr, "only the last lines of the trace"
    assert "not run: publish (UPSTREAM_FAILED" in result.stderr
    # runs/get-output was asked for the failed task run, never the multi-task job run.
    [output_call] = cloud.jobs.calls("get-output")
    assert output_call.status == 200


def test_own_timeout_exits_3_and_leaves_the_run_going_without_the_cancel_flag(cloud):
    cloud.jobs.add_job(JOB_ID, running())
    result = smoke(cloud, "--job", "smoke", "--poll-interval", "0.05", "--timeout", "1")
    assert result.code == 3
    assert "timed out after 1s" in result.stderr and "last state: RUNNING" in result.stderr
    assert "--cancel-on-timeout cancels it" in result.stderr
    assert cloud.jobs.calls("cancel") == []


def test_cancel_on_timeout_cancels_the_run_and_says_so(cloud):
    cloud.jobs.add_job(JOB_ID, queued())
    result = smoke(cloud, "--job", "smoke", "--poll-interval", "0.05", "--timeout", "1", "--cancel-on-timeout")
    assert result.code == 3
    [run_id] = cloud.jobs.runs
    assert [call.body for call in cloud.jobs.calls("cancel")] == [{"run_id": run_id}]
    assert cloud.jobs.runs[run_id].cancelled
    assert f"cancelled run {run_id}" in result.stderr and "last state: QUEUED" in result.stderr


@pytest.mark.parametrize("where", ["run-now", "get", "entra"])
def test_a_stalled_server_cannot_hold_the_command_past_its_timeout(cloud, where):
    cloud.jobs.add_job(JOB_ID, running())
    if where == "entra":
        cloud.entra.token_delay = 600
    else:
        cloud.jobs.inject(where, Fault(stall=600))
    # Unbounded, the command would wait 600 s for the stalled answer and the 90 s guard would fail the test.
    result = smoke(cloud, "--job", "smoke", "--poll-interval", "0.05", "--timeout", "2", limit=90)
    assert result.code == 3, result.text
    assert "timed out after 2s" in result.stderr


def test_a_stalled_cancel_still_ends_the_command(cloud):
    cloud.jobs.add_job(JOB_ID, running())
    cloud.jobs.inject("cancel", Fault(stall=600))
    result = smoke(cloud, "--job", "smoke", "--poll-interval", "0.05", "--timeout", "1", "--cancel-on-timeout",
                   limit=90)
    assert result.code == 3
    assert "could not cancel run" in result.stderr and "no answer" in result.stderr


def test_throttling_and_server_errors_are_survived_and_start_exactly_one_run(cloud):
    cloud.jobs.add_job(JOB_ID, running(), ended("SUCCESS"))
    cloud.jobs.inject(
        "run-now",
        Fault(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests", retry_after="1"),
        # Served, then lost behind a gateway error: the retry must not start a second run.
        Fault(500, "INTERNAL_ERROR", "Internal error", process=True),
    )
    cloud.jobs.inject(
        "get",
        Fault(503, retry_after="1"),
        Fault(500, "INTERNAL_ERROR", "Internal error"),
        Fault(502, body=b"<html><body>502 Bad Gateway</body></html>"),
        Fault(504, "DEADLINE_EXCEEDED", "Gateway timeout"),
    )
    result = smoke(cloud, "--job", "smoke", *FAST)
    assert result.code == 0, result.text
    assert len(cloud.jobs.runs) == 1, "a retried run-now started a second run"
    tokens = {call.body["idempotency_token"] for call in cloud.jobs.calls("run-now")}
    assert len(tokens) == 1 and len(cloud.jobs.calls("run-now")) == 3
    assert "warning" in result.stdout and "trying again" in result.stdout


def test_retry_after_beyond_the_timeout_ends_the_command_at_its_timeout(cloud):
    cloud.jobs.add_job(JOB_ID, running())
    cloud.jobs.inject("get", Fault(429, "REQUEST_LIMIT_EXCEEDED", "Slow down", retry_after="3600"))
    result = smoke(cloud, "--job", "smoke", "--poll-interval", "0.05", "--timeout", "2")
    assert result.code == 3


def test_a_refused_start_exits_1_with_the_apis_message(cloud, monkeypatch, capsys):
    # job_ids names a job this workspace does not have (deleted out of band).
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "nightly", *FAST)
    assert result.code == 1
    assert "could not start job 'nightly' (id 99)" in result.stderr and "Job 99 does not exist" in result.stderr
    assert result.stdout == ""


def test_a_wrong_client_secret_fails_with_entra_ids_message_and_never_prints_the_secret(cloud, monkeypatch, capsys):
    cloud.jobs.add_job(JOB_ID, ended("SUCCESS"))
    wrong = secrets.token_urlsafe(30)
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST,
                              env=cloud.environ(AZURE_CLIENT_SECRET=wrong))
    assert result.code == 1
    assert "AADSTS7000215" in result.stderr
    assert wrong not in result.text
    assert cloud.jobs.calls("run-now") == []


def test_a_principal_that_is_not_a_workspace_user_is_admitted_through_the_workspace_resource_id(
    cloud, monkeypatch, capsys
):
    cloud.jobs.add_job(JOB_ID, ended("SUCCESS"))
    without_id = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST,
                                  outputs=cloud.outputs_file(workspace_resource_id=None))
    assert without_id.code == 1 and "is not a user of this workspace" in without_id.stderr
    assert smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST).code == 0


def test_the_authority_host_comes_from_the_environment_when_the_outputs_do_not_name_one(cloud, monkeypatch, capsys):
    cloud.jobs.add_job(JOB_ID, ended("SUCCESS"))
    outputs = cloud.outputs_file(azure_authority_host="")
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST, outputs=outputs,
                              env=cloud.environ(AZURE_AUTHORITY_HOST=cloud.entra.authority))
    assert result.code == 0, result.text
    assert cloud.entra.token_requests(), "tokens came from the authority named by AZURE_AUTHORITY_HOST"


def test_the_azure_cli_credential_kind_is_chosen_by_the_environment(cloud, tmp_path, monkeypatch, capsys):
    from tests.fakes.az import install_fake_az

    cloud.jobs.add_job(JOB_ID, ended("SUCCESS"))
    bin_dir = tmp_path / "bin"
    install_fake_az(bin_dir, token_endpoint=f"{cloud.entra.authority}/{cloud.tenant_id}/oauth2/v2.0/token",
                    tenant_id=cloud.tenant_id, client_id=cloud.client_id, client_secret=cloud.client_secret)
    env = cloud.environ(AZURE_CLIENT_SECRET=None, AZURE_CLIENT_ID=None, DEPLOYER_CREDENTIAL="azure_cli",
                        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST, env=env)
    # Without AZURE_CLIENT_SECRET the 'environment' kind could not have been set up (exit 2).
    assert result.code == 0, result.text


def test_the_managed_identity_credential_kind_runs_a_pipeline(cloud, monkeypatch, capsys):
    cloud.entra.register_managed_identity(cloud.client_id)
    cloud.factory.pipelines["smoke"] = [PipelineStep("Succeeded")]
    env = cloud.environ(AZURE_CLIENT_SECRET=None, AZURE_TENANT_ID=None,
                        IDENTITY_ENDPOINT=cloud.entra.managed_identity_endpoint,
                        IDENTITY_HEADER=cloud.entra.managed_identity_header)
    result = smoke_in_process(cloud, monkeypatch, capsys, "--pipeline", "smoke", "--credential", "managed_identity",
                              *FAST, env=env)
    assert result.code == 0, result.text
    assert {r.kind for r in cloud.entra.token_requests()} == {"managed_identity"}


def test_a_databricks_pat_in_the_environment_is_never_used(cloud, monkeypatch, capsys):
    cloud.jobs.add_job(JOB_ID, ended("SUCCESS"))
    pat = f"dapi{secrets.token_hex(16)}"
    # Also other Databricks credentials: the SDK would refuse "more than one authorization method" unless told
    # which one this client uses.
    env = cloud.environ(DATABRICKS_TOKEN=pat, DATABRICKS_CLIENT_ID="someone", DATABRICKS_CLIENT_SECRET="x" * 20)
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST, env=env)
    # The fake workspace accepts only Entra ID tokens: a PAT in any call would have been refused (401).
    assert result.code == 0, result.text
    assert all(call.status == 200 for call in cloud.jobs.requests if call.endpoint)
    assert pat not in result.text


def test_an_interrupt_exits_130_without_a_traceback(cloud):
    cloud.jobs.add_job(JOB_ID, running())
    argv = [sys.executable, "-m", "ops", "smoke", "--outputs", str(cloud.outputs_file()), "--job", "smoke",
            "--poll-interval", "0.05", "--timeout", "60"]
    process = subprocess.Popen(argv, cwd=REPO, env=cloud.environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("Run URL: "), first
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr


# -- usage and outputs-file problems: exit 2, one line ------------------------------------------------


def test_a_missing_outputs_file_exits_2_in_one_line(cloud, tmp_path):
    result = smoke(cloud, "--job", "smoke", outputs=tmp_path / "nowhere.json")
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "no such file" in result.stderr and "nowhere.json" in result.stderr
    assert result.stdout == ""
    directory = smoke(cloud, "--job", "smoke", outputs=tmp_path)
    assert directory.code == 2 and "is a directory, not a regular file" in directory.stderr
    binary = tmp_path / "outputs.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    unreadable = smoke(cloud, "--job", "smoke", outputs=binary)
    assert unreadable.code == 2 and unreadable.stderr.count("\n") == 1 and "invalid JSON" in unreadable.stderr


def test_an_outputs_file_written_by_powershell_in_utf16_is_read(cloud, monkeypatch, capsys):
    cloud.jobs.add_job(JOB_ID, ended("SUCCESS"))
    path = cloud.directory / "outputs-utf16.json"
    path.write_bytes(json.dumps(cloud.outputs()).encode("utf-16"))  # with a BOM, as PowerShell 5 writes
    assert smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST, outputs=path).code == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object of stack outputs"),
        ('"outputs"', "got a string"),
        ("[" * 100_000, "nested deeper than 64 levels"),
    ],
)
def test_an_outputs_file_that_is_not_a_json_object_exits_2(cloud, tmp_path, content, expected):
    path = tmp_path / "outputs.json"
    path.write_text(content)
    result = smoke(cloud, "--job", "smoke", outputs=path)
    assert result.code == 2 and result.stderr.count("\n") == 1
    assert expected in result.stderr and str(path) in result.stderr


@pytest.mark.parametrize(
    ("what", "overrides", "expected"),
    [
        ("--job", {"workspace_url": None}, "missing key 'workspace_url'"),
        ("--job", {"workspace_url": "http://adb.example"}, "'workspace_url' must be an https URL"),
        ("--job", {"job_ids": ["smoke"]}, "'job_ids' must be an object of job name -> job id, got a list"),
        ("--job", {"job_ids": {"smoke": "abc"}}, "job_ids.smoke must be a Databricks job id, got 'abc'"),
        ("--job", {"job_ids": {"smoke": True}}, "job_ids.smoke must be a Databricks job id, got a boolean"),
        ("--job", {"job_ids": "[secret]"}, "'job_ids' is a secret output"),
        ("--job", {"azure_authority_host": 5}, "'azure_authority_host' must be a string"),
        ("--pipeline", {"data_factory_id": None}, "missing key 'data_factory_id'"),
        ("--pipeline", {"data_factory_id": "/subscriptions/x/resourceGroups/g"}, "expected a Data Factory resource id"),
        ("--pipeline", {"data_factory_pipelines": None}, "missing key 'data_factory_pipelines'"),
        ("--pipeline", {"data_factory_pipelines": "smoke"}, "'data_factory_pipelines' must be a list of pipeline"),
    ],
)
def test_a_missing_or_mistyped_output_exits_2_naming_the_key(cloud, what, overrides, expected):
    result = smoke(cloud, what, "smoke", outputs=cloud.outputs_file(**overrides))
    assert result.code == 2, result.text
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert cloud.jobs.requests == [] and cloud.arm.requests == []


def test_every_problem_with_the_outputs_is_reported_in_the_same_line(cloud):
    result = smoke(cloud, "--job", "smoke", outputs=cloud.outputs_file(workspace_url=None, job_ids=[1]))
    assert result.code == 2 and result.stderr.count("\n") == 1
    assert "missing key 'workspace_url'" in result.stderr and "'job_ids' must be an object" in result.stderr


def test_an_unknown_job_name_lists_the_known_jobs(cloud):
    result = smoke(cloud, "--job", "nightyl")
    assert result.code == 2
    assert "no job 'nightyl' in job_ids; known jobs: nightly, smoke" in result.stderr


def test_an_unknown_pipeline_name_lists_the_published_pipelines(cloud):
    result = smoke(cloud, "--pipeline", "smokee", outputs=cloud.outputs_file(data_factory_pipelines=["smoke", "load"]))
    assert result.code == 2
    assert "no pipeline 'smokee' in data_factory_pipelines; known pipelines: load, smoke" in result.stderr
    empty = smoke(cloud, "--pipeline", "smoke", outputs=cloud.outputs_file(data_factory_pipelines=[]))
    assert empty.code == 2 and "this stage publishes no pipelines" in empty.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "one of the arguments --job --pipeline is required"),
        (("--job", "smoke", "--pipeline", "smoke"), "not allowed with argument"),
        (("--job", "smoke", "--timeout", "0"), "greater than 0"),
        (("--job", "smoke", "--timeout", "nan"), "greater than 0"),
        (("--job", "smoke", "--timeout", "1e12"), "at most 604800"),
        (("--job", "smoke", "--poll-interval", "soon"), "expected a number of seconds"),
        (("--job", "smoke", "--credential", "password"), "invalid choice: 'password'"),
        (("--job", "smoke", "--colour"), "unrecognized arguments: --colour"),
    ],
)
def test_a_usage_problem_exits_2_in_one_line(cloud, args, expected):
    result = smoke(cloud, *args)
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert "usage:" not in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEPLOYER_CREDENTIAL": "keyring"}, "DEPLOYER_CREDENTIAL='keyring' is not a credential kind"),
        ({"AZURE_TENANT_ID": None}, "needs the deploying identity's --tenant-id or AZURE_TENANT_ID"),
        ({"AZURE_CLIENT_SECRET": None}, "needs AZURE_CLIENT_SECRET, or AZURE_CLIENT_CERTIFICATE_PATH"),
    ],
)
def test_a_credential_that_cannot_be_set_up_exits_2_before_anything_starts(cloud, env, expected):
    cloud.jobs.add_job(JOB_ID, ended("SUCCESS"))
    result = smoke(cloud, "--job", "smoke", env=cloud.environ(**env))
    assert result.code == 2 and result.stderr.count("\n") == 1
    assert expected in result.stderr
    assert cloud.jobs.requests == []


def test_ops_lists_its_commands_and_refuses_an_unknown_one():
    listed = subprocess.run([sys.executable, "-m", "ops", "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=60, check=False)
    assert listed.returncode == 0 and "smoke" in listed.stdout
    unknown = subprocess.run([sys.executable, "-m", "ops", "smok"], cwd=REPO, capture_output=True, text=True,
                             timeout=60, check=False)
    assert unknown.returncode == 2 and "unknown command 'smok'; known commands: smoke" in unknown.stderr


# -- Data Factory pipelines ---------------------------------------------------------------------------

NOTEBOOK_FAILED = ActivityStep(
    "transform", "Failed", error_code="3204", failure_type="UserError",
    message="Notebook failed: ZeroDivisionError in cell 4",
    output={"runPageUrl": "https://adb-1.2.azuredatabricks.net/?o=1#job/5/run/6"},
)


def test_successful_pipeline_prints_the_studio_url_first_and_exits_0(cloud):
    cloud.factory.pipelines["smoke"] = [
        PipelineStep("Queued"),
        PipelineStep("InProgress", activities=(ActivityStep("ingest"),)),
        PipelineStep("Succeeded", activities=(ActivityStep("ingest", "Succeeded"),)),
    ]
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 0, result.text
    [run_id] = cloud.factory.runs
    assert result.lines[0].startswith(f"Run URL: https://adf.azure.com/en/monitoring/pipelineruns/{run_id}?factory=")
    assert "%2Ffactories%2Fadf-dp-test" in result.lines[0]
    assert all(STAMPED.match(line) for line in result.lines[1:-1])
    assert "Queued (waiting, not failed)" in result.stdout and "activity ingest: Succeeded" in result.stdout


def test_failed_pipeline_exits_1_with_the_failing_activitys_error_and_its_databricks_run(cloud):
    cloud.factory.pipelines["smoke"] = [
        PipelineStep("InProgress", activities=(ActivityStep("ingest", "Succeeded"), ActivityStep("transform"))),
        PipelineStep("Failed", "Operation on target transform failed",
                     (ActivityStep("ingest", "Succeeded"), NOTEBOOK_FAILED)),
    ]
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 1
    assert "ended Failed" in result.stderr and "Operation on target transform failed" in result.stderr
    assert "activity transform (DatabricksNotebook) Failed [3204, UserError]: Notebook failed: ZeroDivision" in (
        result.stderr
    )
    assert "https://adb-1.2.azuredatabricks.net/?o=1#job/5/run/6" in result.stderr
    assert "activity ingest" not in result.stderr


def test_pipeline_timeout_with_the_cancel_flag_cancels_the_pipeline_run(cloud):
    cloud.factory.pipelines["smoke"] = [PipelineStep("InProgress", activities=(ActivityStep("ingest"),))]
    result = smoke(cloud, "--pipeline", "smoke", "--poll-interval", "0.05", "--timeout", "1", "--cancel-on-timeout")
    assert result.code == 3
    [run] = cloud.factory.runs.values()
    assert run.cancelled and f"cancelled run {run.run_id}" in result.stderr


def test_pipeline_runs_survive_arm_throttling_server_errors_and_a_run_not_visible_yet(cloud):
    cloud.factory.pipelines["smoke"] = [PipelineStep("InProgress"), PipelineStep("Succeeded")]
    cloud.arm.inject("createRun", Fault(429, "TooManyRequests", "Throttled", retry_after="1"))
    cloud.arm.inject("pipelineruns.get", Fault(404, "PipelineRunNotFound", "Not replicated yet"),
                     Fault(500, "InternalServerError", "Oops"),
                     Fault(503, "ServiceUnavailable", "Busy", retry_after="1"))
    cloud.arm.inject("queryActivityruns", Fault(502, body=b"<html>Bad Gateway</html>"))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 0, result.text
    assert len(cloud.factory.runs) == 1


def test_a_stalled_arm_cannot_hold_a_pipeline_smoke_run_past_its_timeout(cloud):
    cloud.factory.pipelines["smoke"] = [PipelineStep("InProgress")]
    cloud.arm.inject("pipelineruns.get", Fault(stall=600))
    result = smoke(cloud, "--pipeline", "smoke", "--poll-interval", "0.05", "--timeout", "2")
    assert result.code == 3


def test_the_arm_endpoint_flag_points_the_client_at_another_arm(cloud, tls_material):
    cloud.factory.pipelines["smoke"] = [PipelineStep("Succeeded")]
    with FakeArm(tls_material, cloud.entra) as other:
        other_factory = other.add_factory("rg-dp-test", "adf-dp-test", subscription=cloud.factory.subscription)
        other_factory.pipelines["smoke"] = [PipelineStep("Succeeded")]
        result = smoke(cloud, "--pipeline", "smoke", "--arm-endpoint", other.url, *FAST)
        assert result.code == 0, result.text
        assert len(other_factory.runs) == 1 and cloud.factory.runs == {}


def test_an_unknown_pipeline_in_the_factory_fails_with_arms_message(cloud):
    result = smoke(cloud, "--pipeline", "smoke", *FAST)  # listed in the outputs, never published
    assert result.code == 1
    assert "could not start pipeline 'smoke'" in result.stderr and "PipelineNotFound" in result.stderr


# -- every terminal state, in both shapes of a run's state (in-process) -------------------------------

FAILING_RESULTS = [
    "FAILED", "TIMEDOUT", "CANCELED", "SKIPPED", "INTERNAL_ERROR", "UPSTREAM_FAILED", "UPSTREAM_CANCELED",
    "MAXIMUM_CONCURRENT_RUNS_REACHED", "EXCLUDED", "DISABLED",
]


@pytest.mark.parametrize("shape", ["state", "both"])
@pytest.mark.parametrize("result_state", FAILING_RESULTS)
def test_every_failing_result_exits_1_with_its_name_and_message(cloud, monkeypatch, capsys, result_state, shape):
    message = f"the run ended {result_state.lower()} for a reason"
    cloud.jobs.add_job(JOB_ID, running(shape=shape), ended(result_state, message, shape=shape))
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST)
    assert result.code == 1, result.text
    assert f"ended {result_state}" in result.stderr and message in result.stderr


@pytest.mark.parametrize(
    "code",
    ["RUN_EXECUTION_ERROR", "CANCELED", "USER_CANCELED", "SKIPPED", "INTERNAL_ERROR", "DISABLED",
     "MAX_CONCURRENT_RUNS_EXCEEDED", "WORKSPACE_RUN_LIMIT_EXCEEDED", "CLUSTER_ERROR", "DRIVER_ERROR"],
)
def test_every_failing_termination_code_of_the_status_shape_exits_1(cloud, monkeypatch, capsys, code):
    cloud.jobs.add_job(JOB_ID, ended("FAILED", f"terminated with {code}", termination_code=code, shape="status"))
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST)
    assert result.code == 1
    assert f"ended {code}" in result.stderr and f"terminated with {code}" in result.stderr


@pytest.mark.parametrize("shape", ["state", "status", "both"])
def test_success_exits_0_in_every_shape(cloud, monkeypatch, capsys, shape):
    cloud.jobs.add_job(JOB_ID, running(shape=shape), ended("SUCCESS", shape=shape))
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST)
    assert result.code == 0, result.text
    assert "succeeded (SUCCESS)" in result.stdout


@pytest.mark.parametrize("shape", ["state", "status", "both"])
def test_success_with_failures_fails_unless_allowed(cloud, monkeypatch, capsys, shape):
    tasks = (TaskStep("main", "TERMINATED", "SUCCESS"), task_failure("optional", lines=2))
    cloud.jobs.add_job(JOB_ID, ended("SUCCESS_WITH_FAILURES", "1 task failed", *tasks, shape=shape))
    refused = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST)
    assert refused.code == 1
    assert "SUCCESS_WITH_FAILURES" in refused.stderr and "--allow-success-with-failures" in refused.stderr
    assert "task optional" in refused.stderr and "ValueError: bad row in optional" in refused.stderr
    allowed = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", "--allow-success-with-failures", *FAST)
    assert allowed.code == 0 and "accepted by --allow-success-with-failures" in allowed.stdout


def test_a_run_is_not_a_success_when_one_shape_says_it_failed(cloud, monkeypatch, capsys):
    cloud.jobs.add_job(JOB_ID, RunStep("TERMINATED", "SUCCESS", "odd", termination_code="RUN_EXECUTION_ERROR"))
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST)
    assert result.code == 1 and "SUCCESS (RUN_EXECUTION_ERROR)" in result.stderr


def test_a_result_this_client_does_not_know_is_not_a_success(cloud, monkeypatch, capsys):
    cloud.jobs.add_job(JOB_ID, RunStep("TERMINATED", "SOMETHING_NEW", "a result from the future", shape="state"))
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST)
    assert result.code == 1 and "ended UNKNOWN" in result.stderr


def test_a_run_queued_by_the_deprecated_shape_only_is_reported_as_queued(cloud, monkeypatch, capsys):
    cloud.jobs.add_job(
        JOB_ID, queued("MAX_CONCURRENT_RUNS_REACHED", "Queued due to reaching maximum concurrent runs", shape="state"),
        ended("SUCCESS", shape="state"),
    )
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST)
    assert result.code == 0
    assert re.search(r"Z QUEUED \(waiting, not failed\): Queued due to reaching maximum concurrent runs", result.stdout)


def test_a_task_failure_without_output_still_names_the_task_and_its_message(cloud, monkeypatch, capsys):
    cloud.jobs.add_job(JOB_ID, ended("FAILED", "Workload failed",
                                     TaskStep("ingest", "TERMINATED", "FAILED", "Cluster terminated: spot loss")))
    cloud.jobs.inject("get-output", Fault(404, "RESOURCE_DOES_NOT_EXIST", "Run was removed"))
    result = smoke_in_process(cloud, monkeypatch, capsys, "--job", "smoke", *FAST)
    assert result.code == 1
    assert "task ingest FAILED" in result.stderr and "Cluster terminated: spot loss" in result.stderr
    assert "Run was removed" in result.stderr


@pytest.mark.parametrize(("status", "code"), [("Succeeded", 0), ("Failed", 1), ("Cancelled", 1)])
def test_every_pipeline_result_maps_to_its_exit_code(cloud, monkeypatch, capsys, status, code):
    cloud.factory.pipelines["smoke"] = [PipelineStep("InProgress"), PipelineStep(status, f"pipeline {status}")]
    result = smoke_in_process(cloud, monkeypatch, capsys, "--pipeline", "smoke", *FAST)
    assert result.code == code, result.text
    if code:
        assert f"ended {status} after" in result.stderr and f": pipeline {status}" in result.stderr


def test_the_failing_activity_is_found_on_a_later_page_of_activity_runs(cloud, monkeypatch, capsys):
    cloud.arm.activity_page_size = 1
    activities = (ActivityStep("ingest", "Succeeded"), ActivityStep("clean", "Succeeded"), NOTEBOOK_FAILED)
    cloud.factory.pipelines["smoke"] = [PipelineStep("Failed", "Operation on target transform failed", activities)]
    result = smoke_in_process(cloud, monkeypatch, capsys, "--pipeline", "smoke", *FAST)
    assert result.code == 1 and "activity transform (DatabricksNotebook) Failed" in result.stderr
    assert len(cloud.arm.calls("queryActivityruns")) == 3


# -- the mapping itself, over every combination the two shapes can report ----------------------------

LIFE_CYCLES = ["QUEUED", "PENDING", "BLOCKED", "RUNNING", "WAITING_FOR_RETRY", "TERMINATING", "TERMINATED",
               "SKIPPED", "INTERNAL_ERROR", "SOMETHING_NEW"]
RESULTS = [None, "SUCCESS", "SUCCESS_WITH_FAILURES", *FAILING_RESULTS, "SOMETHING_NEW"]
STATUS_STATES = ["QUEUED", "PENDING", "BLOCKED", "RUNNING", "WAITING", "TERMINATING", "TERMINATED"]
CODES = [None, "SUCCESS", "SUCCESS_WITH_FAILURES", "RUN_EXECUTION_ERROR", "USER_CANCELED", "SKIPPED",
         "INTERNAL_ERROR", "MAX_CONCURRENT_RUNS_EXCEEDED", "SOMETHING_NEW"]


def test_a_run_counts_as_success_only_when_every_shape_that_ended_says_so():
    from databricks.sdk.service.jobs import Run
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ops.job_run import observe_run
    from ops.watch import Outcome

    @settings(max_examples=400, deadline=None)
    @given(
        legacy=st.none() | st.tuples(st.sampled_from(LIFE_CYCLES), st.sampled_from(RESULTS)),
        status=st.none() | st.tuples(st.sampled_from(STATUS_STATES), st.sampled_from(CODES)),
    )
    def check(legacy, status):
        raw: dict[str, Any] = {"run_id": 1}
        said = []  # what each shape that says the run ended says
        if legacy:
            life_cycle, result = legacy
            raw["state"] = {"life_cycle_state": life_cycle, **({"result_state": result} if result else {})}
            if life_cycle == "TERMINATED":
                said.append(result if result in RESULTS[1:-1] else None)
            elif life_cycle in ("SKIPPED", "INTERNAL_ERROR"):
                said.append(life_cycle)
        if status:
            state, code = status
            raw["status"] = {"state": state, **({"termination_details": {"code": code}} if code else {})}
            if state == "TERMINATED":
                said.append(code if code in CODES[1:-1] else None)
        observation = observe_run(Run.from_dict(raw))
        readable = [value for value in said if value]
        if not said:
            assert observation.outcome is None, "a run that has not ended must be followed, not concluded"
        elif readable and set(readable) == {"SUCCESS"}:
            assert observation.outcome is Outcome.SUCCESS
        elif readable and set(readable) <= {"SUCCESS", "SUCCESS_WITH_FAILURES"}:
            assert observation.outcome is Outcome.SUCCESS_WITH_FAILURES
        else:
            assert observation.outcome is Outcome.FAILURE, (raw, observation)

    check()
