"""`python -m ops smoke --pipeline` starts exactly one Data Factory pipeline run, whatever ARM answers createRun.

createRun has no idempotency key: a resent request starts a second run. These tests answer createRun with
each error a gateway or ARM gives — after the run was created (`process=True`) and before — and with a
connection lost mid-request, and count the runs the fake factory holds and the one the command follows. They
run the command as a user runs it, with the real azure-identity and azure-mgmt-datafactory clients.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ops.watch import LOOKUPS_AFTER_A_FAILED_START
from tests.fakes.arm import FakePipelineRun, PipelineStep
from tests.fakes.faults import Fault
from tests.fakes.tls import TlsMaterial
from tests.smoke_harness import FAST, SmokeCloud, running_smoke_cloud, smoke

STATUSES = [500, 502, 503, 504, 429]
SUCCEEDS = [PipelineStep("InProgress"), PipelineStep("Succeeded")]


@pytest.fixture
def cloud(tls_material: TlsMaterial, tmp_path: Path) -> Iterator[SmokeCloud]:
    with running_smoke_cloud(tls_material, tmp_path) as smoke_cloud:
        smoke_cloud.factory.pipelines["smoke"] = SUCCEEDS
        yield smoke_cloud


def followed_run(cloud: SmokeCloud, stdout: str) -> str:
    """The run the command followed: the one its `Run URL:` line names (after any warning about starting)."""
    [url] = [line for line in stdout.splitlines() if line.startswith("Run URL: ")]
    [run_id] = [run_id for run_id in cloud.factory.runs if f"/pipelineruns/{run_id}?" in url]
    return run_id


def other_run(cloud: SmokeCloud, *, started: datetime, invoked_by: str = "Manual") -> str:
    """A run of pipeline 'smoke' that someone (or a trigger) started, not this command."""
    run_id = str(uuid.uuid4())
    cloud.factory.runs[run_id] = FakePipelineRun(run_id, "smoke", list(SUCCEEDS),
                                                 started.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), invoked_by=invoked_by)
    return run_id


@pytest.mark.parametrize("status", STATUSES)
def test_an_error_after_createrun_started_the_run_follows_that_run_and_starts_no_second(cloud, status):
    # What a gateway does when ADF created the run but the answer was lost: azure-core would resend the POST.
    cloud.arm.inject("createRun", Fault(status, "GatewayError", "Bad gateway", process=True, retry_after="1"))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 0, result.text
    [run_id] = cloud.factory.runs
    assert len(cloud.arm.calls("createRun")) == 1, "createRun was sent again after it had started a run"
    assert followed_run(cloud, result.stdout) == run_id
    assert f"HTTP {status}" in result.stdout and f"but run {run_id} of it started at" in result.stdout
    assert "following it, not starting another" in result.stdout


@pytest.mark.parametrize("status", STATUSES)
def test_an_error_before_createrun_started_anything_is_retried_once_the_run_list_shows_none(cloud, status):
    cloud.arm.inject("createRun", Fault(status, "ServerBusy", "Try again", retry_after="1"))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 0, result.text
    [run_id] = cloud.factory.runs
    assert [call.status for call in cloud.arm.calls("createRun")] == [status, 200]
    assert followed_run(cloud, result.stdout) == run_id
    # The run list was read (as often as a new run may take to show) before createRun was sent again.
    assert len(cloud.arm.calls("queryPipelineRuns")) >= LOOKUPS_AFTER_A_FAILED_START
    assert "trying again" in result.stdout


@pytest.mark.parametrize("process", [True, False], ids=["after-the-run-started", "before"])
def test_a_connection_lost_during_createrun_leaves_exactly_one_run_followed(cloud, process):
    cloud.arm.inject("createRun", Fault(drop=True, process=process))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 0, result.text
    [run_id] = cloud.factory.runs
    assert followed_run(cloud, result.stdout) == run_id
    assert len(cloud.arm.calls("createRun")) == (1 if process else 2)


def test_a_run_that_the_list_shows_late_is_still_found_before_another_attempt(cloud):
    cloud.arm.listing_lag = LOOKUPS_AFTER_A_FAILED_START - 1
    cloud.arm.inject("createRun", Fault(502, process=True))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 0, result.text
    assert len(cloud.factory.runs) == 1 and len(cloud.arm.calls("createRun")) == 1


def test_a_run_the_list_shows_too_late_is_named_in_a_warning_next_to_the_run_followed(cloud):
    # Past every reading, a retry is sent: two runs exist, and the user is told of the one not followed.
    cloud.arm.listing_lag = LOOKUPS_AFTER_A_FAILED_START
    cloud.arm.inject("createRun", Fault(502, process=True))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 0, result.text
    followed = followed_run(cloud, result.stdout)
    [earlier] = [run_id for run_id in cloud.factory.runs if run_id != followed]
    assert f"warning: run {earlier} (started at" in result.stdout
    assert f"this command follows run {followed} only" in result.stdout


def test_two_runs_that_may_be_ours_are_listed_and_neither_is_followed_nor_a_third_started(cloud):
    theirs = other_run(cloud, started=datetime.now(UTC))  # someone's run by hand, seconds before ours
    cloud.arm.inject("createRun", Fault(503, process=True))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 1, result.text
    assert len(cloud.factory.runs) == 2 and len(cloud.arm.calls("createRun")) == 1
    [ours] = [run_id for run_id in cloud.factory.runs if run_id != theirs]
    assert "2 runs of it started since this command began" in result.stderr
    assert f"run {theirs} started at" in result.stderr and f"run {ours} started at" in result.stderr
    assert cloud.arm.calls("pipelineruns.get") == [], "no run was followed"


def test_runs_of_triggers_and_earlier_runs_are_not_taken_for_the_one_a_failed_createrun_started(cloud):
    trigger_run = other_run(cloud, started=datetime.now(UTC), invoked_by="ScheduleTrigger")
    yesterdays = other_run(cloud, started=datetime.now(UTC) - timedelta(days=1))
    cloud.arm.inject("createRun", Fault(503))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 0, result.text
    followed = followed_run(cloud, result.stdout)
    assert followed not in (trigger_run, yesterdays) and len(cloud.factory.runs) == 3
    assert len(cloud.arm.calls("createRun")) == 2


def test_without_the_run_list_a_failed_createrun_is_not_sent_again(cloud):
    cloud.arm.inject("createRun", Fault(502, process=True))
    cloud.arm.inject("queryPipelineRuns", Fault(403, "AuthorizationFailed", "No permission to query runs"))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 1
    assert len(cloud.arm.calls("createRun")) == 1 and len(cloud.factory.runs) == 1
    assert "HTTP 502" in result.stderr and "AuthorizationFailed" in result.stderr
    assert "may have started a run anyway" in result.stderr and "not starting another" in result.stderr


def test_a_run_list_that_fails_for_a_moment_is_read_again(cloud):
    cloud.arm.inject("createRun", Fault(500, process=True))
    cloud.arm.inject("queryPipelineRuns", Fault(503, retry_after="0"), Fault(500))
    result = smoke(cloud, "--pipeline", "smoke", *FAST)
    assert result.code == 0, result.text
    assert len(cloud.factory.runs) == 1 and len(cloud.arm.calls("createRun")) == 1


def test_a_createrun_that_never_answers_ends_at_the_timeout_naming_the_run_it_started(cloud):
    # The run is created, then its answer comes one byte every 5 s: the call outlasts the command's timeout.
    cloud.arm.inject("createRun", Fault(trickle=5))
    result = smoke(cloud, "--pipeline", "smoke", "--poll-interval", "0.05", "--timeout", "2")
    assert result.code == 3
    assert "timed out after 2s starting pipeline 'smoke'" in result.stderr
    [run_id] = cloud.factory.runs
    assert f"run {run_id} started at" in result.stderr
