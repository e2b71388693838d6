"""The pipeline's scripts, run as the agent runs them, with fake `az` and `pulumi` on PATH.

Each test builds a copy of the repository's `.azure-pipelines/` beside stack files made with the Key Vault
secrets provider, and fakes of the two CLIs the scripts call: `az` answers the sign-in questions,
`pulumi` is scripted per stage (FAKE_PULUMI_<stage>: ok, fail, backticks) and records every call. Comment
posting runs the real `python -m ops pr-comment` against the loopback Azure DevOps fake.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ops.comment_body import parse
from ops.comment_markdown import is_well_formed
from tests.conftest import REPO
from tests.fakes.azure_devops import FakeAzureDevOps

SCRIPTS = REPO / ".azure-pipelines"
STAGES = ("dev", "test", "prod")
STACK_FILE = "secretsprovider: azurekeyvault://kv-state.vault.azure.net/keys/pulumi-secrets\nencryptedkey: ZmFrZQ==\n"

FAKE_AZ = """#!/usr/bin/env bash
echo "az $*" >> "$FAKE_LOG"
case "$1 $2" in
  "account show") echo 00000000-0000-0000-0000-000000000000 ;;
  "cloud show") echo .vault.azure.net ;;
  "account get-access-token") ;;
  *) echo "fake az: unexpected: $*" >&2; exit 2 ;;
esac
"""

FAKE_PULUMI = r"""#!/usr/bin/env bash
echo "pulumi $*" >> "$FAKE_LOG"
if [ -n "${SYSTEM_ACCESSTOKEN:-}" ]; then echo "pulumi saw SYSTEM_ACCESSTOKEN" >> "$FAKE_LOG"; fi
case $1 in
  login) exit 0 ;;
  stack)
    if [ "${FAKE_MISSING_STACK:-}" = "$3" ]; then echo "error: no stack named '$3' found" >&2; exit 255; fi
    exit 0 ;;
  preview)
    stage=$3
    behaviour=FAKE_PULUMI_$stage
    echo "Previewing update ($stage):"
    case ${!behaviour:-ok} in
      fail) echo "error: AuthorizationFailed: the client may not perform action 'read' on $stage"; exit 255 ;;
      backticks) printf '    ~ notebook: "```python"\n```\nnot the end of the block\n' ;;
    esac
    echo "    ~ azure-native:databricks:Workspace ws-$stage update [diff: ~tags]"
    echo "Resources:"
    echo "    ~ 1 to update"
    echo "    7 unchanged"
    exit 0 ;;
  *) echo "fake pulumi: unexpected: $*" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A copy of the scripts with stack files made by `pulumi stack init --secrets-provider azurekeyvault://…`."""
    root = tmp_path / "repo"
    shutil.copytree(SCRIPTS, root / ".azure-pipelines")
    for stage in STAGES:
        (root / f"Pulumi.{stage}.yaml").write_text(STACK_FILE + "config: {}\n")
    # pr-comment runs as `.venv/bin/python -m ops` from the repository root.
    for name in (".venv", "ops", "core"):
        (root / name).symlink_to(REPO / name)
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, text in (("az", FAKE_AZ), ("pulumi", FAKE_PULUMI)):
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    return root


def environment(sandbox: Path, **extra: str) -> dict[str, str]:
    """What an AzureCLI@2 step with addSpnToEnvironment gives the script (the token is made up per test)."""
    return {
        "PATH": f"{sandbox.parent / 'bin'}:/usr/bin:/bin",
        "FAKE_LOG": str(sandbox.parent / "calls.log"),
        "PULUMI_BACKEND_URL": "azblob://pulumi-state?storage_account=state",
        "idToken": os.urandom(8).hex(),
        "servicePrincipalId": "11111111-1111-1111-1111-111111111111",
        "tenantId": "22222222-2222-2222-2222-222222222222",
        **extra,
    }


def calls(sandbox: Path) -> str:
    log = sandbox.parent / "calls.log"
    return log.read_text() if log.exists() else ""


def preview_stages(sandbox: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(sandbox / ".azure-pipelines" / "preview-stages.sh"), str(sandbox / "out"), *STAGES],
                          env=environment(sandbox, **extra), capture_output=True, text=True, timeout=60, check=False)


def section(sandbox: Path, stage: str) -> str:
    return (sandbox / "out" / f"preview-{stage}.md").read_text()


# -- preview-stages.sh --------------------------------------------------------------------------------


def test_every_stage_is_previewed_even_after_one_fails_and_the_step_fails_with_the_worst_status(sandbox):
    result = preview_stages(sandbox, FAKE_PULUMI_test="fail")
    assert result.returncode == 255, result.stdout[-2000:]
    previewed = [line.split()[3] for line in calls(sandbox).splitlines() if line.startswith("pulumi preview")]
    assert previewed == list(STAGES)
    assert "FAILED (exit 255)" in section(sandbox, "test") and "AuthorizationFailed" in section(sandbox, "test")
    for stage in ("dev", "prod"):
        assert "FAILED" not in section(sandbox, stage) and f"ws-{stage}" in section(sandbox, stage)


def test_a_stage_that_stops_before_its_preview_still_gets_a_section_saying_why(sandbox):
    result = preview_stages(sandbox, FAKE_MISSING_STACK="test")
    assert result.returncode == 1
    text = section(sandbox, "test")
    assert "FAILED (exit 1) before the preview ran" in text and "stack test does not exist" in text
    assert is_well_formed(text)
    assert "pulumi preview --stack prod" in calls(sandbox), "the stage after it was still previewed"


def test_every_preview_goes_to_the_build_summary_and_to_an_artifact(sandbox):
    result = preview_stages(sandbox, FAKE_PULUMI_dev="fail", SYSTEM_JOBATTEMPT="2")
    for stage in STAGES:
        markdown = sandbox / "out" / f"preview-{stage}.md"
        assert f"##vso[task.uploadsummary]{markdown}" in result.stdout
        assert (f"##vso[artifact.upload containerfolder=pr-comment-previews-2;artifactname=pr-comment-previews-2]"
                f"{markdown}") in result.stdout


def test_the_pull_requests_program_never_sees_the_build_token(sandbox):
    preview_stages(sandbox, SYSTEM_ACCESSTOKEN=os.urandom(8).hex())
    assert "pulumi preview" in calls(sandbox) and "pulumi saw SYSTEM_ACCESSTOKEN" not in calls(sandbox)


def test_preview_output_holding_a_fence_cannot_end_the_sections_code_block(sandbox):
    assert preview_stages(sandbox, FAKE_PULUMI_dev="backticks").returncode == 0
    text = section(sandbox, "dev")
    assert is_well_formed(text)
    assert "````" in text and "\n```\nnot the end of the block" in text


def test_the_preview_summary_is_shown_before_the_whole_output(sandbox):
    preview_stages(sandbox)
    text = section(sandbox, "prod")
    assert text.index("~ 1 to update") < text.index("<details>") < text.rindex("~ 1 to update")
    assert "not refreshed" in text


@pytest.mark.parametrize(("value", "refreshed"), [(None, False), ("false", False), ("True", True), ("true", True)])
def test_the_preview_refreshes_only_when_the_pipeline_asks(sandbox, value, refreshed):
    extra = {"PREVIEW_REFRESH": value} if value is not None else {}
    assert preview_stages(sandbox, **extra).returncode == 0
    previews = [line for line in calls(sandbox).splitlines() if line.startswith("pulumi preview")]
    assert len(previews) == 3 and all(("--refresh" in line) == refreshed for line in previews)
    assert ("refreshed from Azure first" in section(sandbox, "dev")) == refreshed


def test_a_misspelt_refresh_setting_fails_every_stage_instead_of_guessing(sandbox):
    result = preview_stages(sandbox, PREVIEW_REFRESH="yes")
    assert result.returncode == 2 and "PREVIEW_REFRESH must be true or false" in section(sandbox, "dev")
    assert "pulumi preview" not in calls(sandbox)


# -- pulumi-stage.sh ----------------------------------------------------------------------------------


def stage_script(sandbox: Path, *arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(sandbox / ".azure-pipelines" / "pulumi-stage.sh"), *arguments],
                          env=environment(sandbox, **extra), capture_output=True, text=True, timeout=60, check=False)


def test_a_stack_file_without_the_key_vault_secrets_provider_is_refused_before_signing_in(sandbox):
    (sandbox / "Pulumi.dev.yaml").write_text("config: {}\n")
    result = stage_script(sandbox, "up", "dev", str(sandbox / "outputs.json"))
    assert result.returncode == 1 and "secretsprovider" in result.stderr and "pulumi stack init dev" in result.stderr
    assert calls(sandbox) == "", "nothing was signed in or run"


def test_the_stage_script_needs_the_federated_token_of_the_azure_cli_step(sandbox):
    env = environment(sandbox)
    del env["idToken"]
    result = subprocess.run([str(sandbox / ".azure-pipelines" / "pulumi-stage.sh"), "up", "dev", "x"], env=env,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0 and "addSpnToEnvironment" in result.stderr and calls(sandbox) == ""


# -- post-comment.sh, against the Azure DevOps fake -----------------------------------------------------


@pytest.fixture
def devops(tls_material):
    with FakeAzureDevOps(tls_material) as fake:
        yield fake


def post(sandbox: Path, devops: FakeAzureDevOps, *arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "REQUESTS_CA_BUNDLE": str(devops.ca_bundle), "NO_PROXY": "127.0.0.1",
           **devops.environ(**extra)}
    return subprocess.run([str(sandbox / ".azure-pipelines" / "post-comment.sh"), *arguments], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def the_comment(devops: FakeAzureDevOps):
    [thread] = devops.threads
    return parse(thread.comments[0].content)


def test_a_failed_offline_plan_is_posted_and_the_header_says_the_plan_failed(sandbox, devops):
    plan = sandbox / "offline-plan.md"
    plan.write_text("## Offline plan against `origin/main`\n\n| test | – | – | – | ❌ could not be planned |\n")
    result = post(sandbox, devops, "validation", "Failed", str(plan))
    assert result.returncode == 0, result.stderr
    comment = the_comment(devops)
    assert "could not be planned" in comment.sections["offline-plan"].text
    assert comment.status.startswith("the offline plan failed")


def test_when_the_tests_fail_the_previous_commits_plan_is_marked_out_of_date(sandbox, devops):
    plan = sandbox / "offline-plan.md"
    plan.write_text("plan of the first push")
    first = {"SYSTEM_PULLREQUEST_SOURCECOMMITID": "a" * 40, "BUILD_BUILDID": "100"}
    second = {"SYSTEM_PULLREQUEST_SOURCECOMMITID": "b" * 40, "BUILD_BUILDID": "101"}
    assert post(sandbox, devops, "validation", "Succeeded", str(plan), **first).returncode == 0
    assert post(sandbox, devops, "start", **second).returncode == 0
    result = post(sandbox, devops, "validation", "Failed", str(sandbox / "never-written.md"), **second)
    assert result.returncode == 0, result.stderr
    comment = the_comment(devops)
    assert comment.run.commit == "b" * 40 and comment.status.startswith("tests or guard rails failed")
    assert "**Out of date**: made from `aaaaaaa`" in devops.threads[0].comments[0].content


def test_every_stages_preview_is_posted_whatever_its_status(sandbox, devops):
    assert preview_stages(sandbox, FAKE_PULUMI_dev="fail", FAKE_MISSING_STACK="prod").returncode != 0
    result = post(sandbox, devops, "previews", "Failed", str(sandbox / "out"), *STAGES)
    assert result.returncode == 0, result.stderr
    comment = the_comment(devops)
    assert list(comment.sections) == [f"preview-{stage}" for stage in STAGES]
    assert "FAILED (exit 255)" in comment.sections["preview-dev"].text
    assert "before the preview ran" in comment.sections["preview-prod"].text
    assert comment.status.startswith("pulumi preview failed")


# -- offline-plan-comment.sh ----------------------------------------------------------------------------

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG"
echo "## Offline plan"
exit "${FAKE_PLAN_STATUS:-0}"
"""


def git(cwd: Path, *arguments: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *arguments], cwd=cwd,
                          capture_output=True, text=True, check=True, timeout=30).stdout.strip()


@pytest.fixture
def plan_sandbox(tmp_path: Path) -> Path:
    """A repository whose target branch (origin/main) has a stack `uat` and whose change adds a stack `qa`."""
    root = tmp_path / "repo"
    shutil.copytree(SCRIPTS, root / ".azure-pipelines")
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").write_text(FAKE_PYTHON)
    (root / ".venv" / "bin" / "python").chmod(0o755)
    git(root, "init", "-q")
    for stage in ("prod", "test", "dev", "uat"):
        (root / f"Pulumi.{stage}.yaml").write_text("config: {}\n")
    git(root, "add", "Pulumi.dev.yaml", "Pulumi.test.yaml", "Pulumi.prod.yaml", "Pulumi.uat.yaml")
    git(root, "commit", "-q", "-m", "target")
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    (root / "Pulumi.uat.yaml").unlink()
    (root / "Pulumi.qa.yaml").write_text("config: {}\n")
    return root


def offline_plan(root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "FAKE_LOG": str(root.parent / "calls.log"), **extra}
    return subprocess.run([str(root / ".azure-pipelines" / "offline-plan-comment.sh"), "refs/heads/main",
                           str(root.parent / "out" / "offline-plan.md"), *STAGES], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_the_offline_plan_lists_the_release_stages_in_release_order_then_every_other_stack(plan_sandbox):
    result = offline_plan(plan_sandbox)
    assert result.returncode == 0, result.stderr
    [arguments] = (plan_sandbox.parent / "calls.log").read_text().splitlines()
    assert "--stack dev,test,prod,qa,uat --against origin/main --format markdown" in arguments


def test_a_failed_offline_plan_is_still_written_and_published_and_the_step_fails(plan_sandbox):
    result = offline_plan(plan_sandbox, FAKE_PLAN_STATUS="1")
    output = plan_sandbox.parent / "out" / "offline-plan.md"
    assert result.returncode == 1 and output.read_text().startswith("## Offline plan")
    assert f"##vso[task.uploadsummary]{output}" in result.stdout
    assert "##vso[artifact.upload containerfolder=pr-comment-offline-plan-1;" in result.stdout
