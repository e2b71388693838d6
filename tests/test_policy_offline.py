"""`python -m offline_plan --stack <s> --policy`: the pack's rules on the real program's plan, no credentials.

The shipped stages pass; scratch copies of the program, each breaking one rule through the input a user
would change (a stack file key, a job definition, a template), fail with that rule's line naming the
resource and what to change. key-vault-rbac cannot be broken through any input (components/key_vault.py
always sets RBAC mode) and, like the Data Factory half of compute-on-pools, is covered by hand-built
arguments only (tests/test_policy_rules.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

from offline_plan.policy import PolicyConfigError, check_plan, load_policy_config
from tests.conftest import STAGES, copy_program, run_plan
from tests.policy_helpers import databricks_pat

VIOLATION = re.compile(r"^\[(mandatory|advisory)\] ([a-z-]+): (\S+) (\S+): (.+)$")


def violation_lines(stdout: str) -> list[tuple[str, str, str, str, str]]:
    return [match.groups() for line in stdout.splitlines() if (match := VIOLATION.match(line))]


@pytest.mark.parametrize("stage", STAGES)
def test_shipped_stages_pass_every_guard_rail(stage):
    result = run_plan("--stack", stage, "--policy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert violation_lines(result.stdout) == []
    assert re.search(r"stack " + stage + r": 10 rules on \d+ resources: 0 mandatory and 0 advisory", result.stdout)
    assert f"Stack {stage} passes every guard rail." in result.stdout


def _stack_file(program: Path, stage: str, extra: str) -> None:
    path = program / f"Pulumi.{stage}.yaml"
    path.write_text(path.read_text() + extra)


SPARK = '"spark_version": {{ vars.spark_version | tojson }}'
TAGS = '"tags": {"project": "databricks-platform", "stage": {{ stage | tojson }}, "managed-by": "pulumi"}'


def _own_template(program: Path, *, cluster: str, tags: bool) -> None:
    """A job definition on a template of the user's own (the way a team adds job shapes)."""
    (program / "templates" / "own_job.json.j2").write_text(
        '{"name": {{ job.name | tojson }},\n'
        f' "job_clusters": [{{"job_cluster_key": "main", "new_cluster": {{{SPARK}, {cluster}, "num_workers": 1}}}}],\n'
        ' "tasks": [{"task_key": "export", "job_cluster_key": "main",'
        ' "notebook_task": {"notebook_path": {{ job.notebookpath | tojson }}}}]'
        + (f",\n {TAGS}" if tags else "") + "}\n")
    (program / "jobs" / "adhoc_export.yaml").write_text(
        "template: own_job.json.j2\nname: adhoc-export\nnotebookpath: /Shared/adhoc/export\n")


def _adhoc_notebook(program: Path) -> None:
    """The notebook the scratch jobs run: every job's notebook must be deployed (or external)."""
    notebook = program / "notebooks" / "adhoc" / "export.py"
    notebook.parent.mkdir(parents=True, exist_ok=True)
    notebook.write_text("# Databricks notebook source\nprint('export')\n")


def _break_pat(program: Path) -> None:
    # The workspace's own cap is raised too: otherwise config validation refuses the lifetime first.
    _stack_file(program, "test", "  databricks-platform:patLifetimeDays: 180\n"
                "  databricks-platform:workspaceMaxTokenLifetimeDays: 365\n")


def _break_purge_protection(program: Path) -> None:
    # What dev may do (its stack file says the same), test may not.
    _stack_file(program, "test", "  databricks-platform:keyVaultPurgeProtection: false\n")


def _break_public_ip(program: Path) -> None:
    _stack_file(program, "test", "  databricks-platform:workspaceNoPublicIp: false\n")


def _break_idle_pool(program: Path) -> None:
    _stack_file(program, "test", "  databricks-platform:instancePools:\n    - name: general\n"
                "      nodeType: Standard_DS3_v2\n      maxCapacity: 6\n      minIdle: 1\n")


def _break_schedule(program: Path) -> None:
    path = program / "Pulumi.test.yaml"
    path.write_text(path.read_text().replace("jobSchedulePauseStatus: PAUSED", "jobSchedulePauseStatus: UNPAUSED"))


def _break_triggers(program: Path) -> None:
    _stack_file(program, "test", "  databricks-platform:dataFactoryTriggersStarted: true\n")


def _schedule_without_pause_status(program: Path) -> None:
    """Not a break: a template that writes no pause_status gets the stage's (PAUSED in test), so no rule fires."""
    (program / "templates" / "own_schedule.json.j2").write_text(
        '{"name": {{ job.name | tojson }},\n'
        ' "schedule": {"quartz_cron_expression": "0 0 3 * * ?", "timezone_id": "UTC"},\n'
        f' "job_clusters": [{{"job_cluster_key": "main", "new_cluster": {{{SPARK}, '
        '"instance_pool_id": {{ pool() | tojson }}, "num_workers": 1}}],\n'
        ' "tasks": [{"task_key": "export", "job_cluster_key": "main",'
        ' "notebook_task": {"notebook_path": "/Shared/adhoc/export"}}],\n'
        f" {TAGS}}}\n")
    (program / "jobs" / "nightly_export.yaml").write_text("template: own_schedule.json.j2\nname: nightly-export\n")


def _break_pool(program: Path) -> None:
    _own_template(program, cluster='"node_type_id": "Standard_DS3_v2"', tags=True)


def _break_tags(program: Path) -> None:
    _own_template(program, cluster='"instance_pool_id": {{ pool() | tojson }}', tags=False)


def _break_secret(program: Path) -> str:
    token = databricks_pat()
    (program / "jobs" / "export_with_token.json").write_text(json.dumps({
        "name": "export-with-token", "workers": 1, "notebookpath": "/Shared/adhoc/export",
        "par_token": "token", "par_token_val": token}))
    return token


# Three scratch stages (three plans, not eight: the machine is shared), each rule broken once through the
# input a user would change. Each group's full list of lines is checked, so no other rule fires.
GROUPS = {
    # Stack-file keys: every rule here is mandatory.
    "stack-file": (_break_pat, _break_purge_protection, _break_public_ip, _break_schedule, _break_triggers),
    # Job definitions and templates.
    "jobs": (_break_pool, _break_secret),
    # Only advisory rules broken: shown, not fatal.
    "advisory": (_break_idle_pool, _break_tags, _schedule_without_pause_status),
}
# rule broken -> (its group, level, the resource it names, what the message tells the user to change)
BROKEN = {
    # Both keys _break_pat raises are named: the stage's own token, and what the workspace lets anyone mint.
    "pat-lifetime-within-cap": ("stack-file", "mandatory", ("workspace-settings-conf", "databricks-pat"),
                                ("databricks-platform:workspaceMaxTokenLifetimeDays in Pulumi.test.yaml to 90 or less",
                                 "databricks-platform:patLifetimeDays in Pulumi.test.yaml to 90 or less")),
    "key-vault-purge-protection-outside-dev": ("stack-file", "mandatory", "vault-vault",
                                               "databricks-platform:keyVaultPurgeProtection in Pulumi.test.yaml"),
    "workspace-no-public-ip": ("stack-file", "mandatory", "databricks-workspace",
                               "databricks-platform:workspaceNoPublicIp in Pulumi.test.yaml to true"),
    "job-schedules-paused-outside-prod": ("stack-file", "mandatory", "jobs-nightly-report",
                                          "databricks-platform:jobSchedulePauseStatus in Pulumi.test.yaml to PAUSED"),
    "data-factory-triggers-stopped-outside-prod": (
        "stack-file", "mandatory", "factory-objects-tr-tr_daily_jit_chain-runtime-state",
        "set databricks-platform:dataFactoryTriggersStarted to false"),
    "compute-on-pools": ("jobs", "mandatory", "jobs-adhoc-export", "instance_pool_id"),
    "no-plaintext-secrets": ("jobs", "mandatory", "jobs-export-with-token", "a Databricks personal access token"),
    "pools-idle-at-zero-outside-prod": ("advisory", "advisory", "pools-general",
                                        "minIdle: 0 for pool 'general' under databricks-platform:instancePools"),
    "reserved-tags": ("advisory", "advisory", "jobs-adhoc-export", "project, stage, managed-by"),
}


@pytest.fixture(scope="module")
def scratch_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess, list]]:
    runs = {}
    for group, breaks in GROUPS.items():
        program = copy_program(tmp_path_factory.mktemp(group) / "program", stacks=("test",))
        _adhoc_notebook(program)
        planted = [value for value in (brk(program) for brk in breaks) if value]
        runs[group] = (run_plan("--stack", "test", "--policy", program_dir=program), planted)
    return runs


@pytest.mark.parametrize("rule", list(BROKEN))
def test_a_stage_that_breaks_a_rule_gets_its_line_naming_the_resource_and_the_fix(scratch_runs, rule):
    group, level, resource, fix = BROKEN[rule]
    result, _ = scratch_runs[group]
    lines = [line for line in violation_lines(result.stdout) if line[1] == rule]
    resources = resource if isinstance(resource, tuple) else (resource,)
    assert [(found_level, resource_name) for found_level, _, _, resource_name, _ in lines] == [
        (level, name) for name in resources], result.stdout + result.stderr
    fixes = fix if isinstance(fix, tuple) else (fix,)
    assert all(wanted in line[4] for wanted, line in zip(fixes, lines, strict=True))


@pytest.mark.parametrize("group", list(GROUPS))
def test_scratch_stage_reports_exactly_its_broken_rules_and_fails_only_on_mandatory(scratch_runs, group):
    result, planted = scratch_runs[group]
    expected = sorted(rule for rule, (in_group, *_) in BROKEN.items() if in_group == group)
    found = sorted({rule for _, rule, *_ in violation_lines(result.stdout)})
    assert found == expected, result.stdout + result.stderr
    mandatory = any(BROKEN[rule][1] == "mandatory" for rule in expected)
    assert result.returncode == (1 if mandatory else 0), "advisory rules are shown, not fatal"
    assert result.stderr == ""
    for credential in planted:  # a planted credential is named by kind, never printed
        assert credential not in result.stdout


def test_policy_config_file_sets_levels_and_settings(tmp_path):
    program = copy_program(tmp_path / "program", stacks=("test",))
    _break_idle_pool(program)
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"pools-idle-at-zero-outside-prod": "mandatory",
                                  "pat-lifetime-within-cap": {"maxLifetimeDays": 30}}))
    result = run_plan("--stack", "test", "--policy", "--policy-config", str(config), program_dir=program)
    assert result.returncode == 1
    assert {(level, rule) for level, rule, *_ in violation_lines(result.stdout)} == {
        ("mandatory", "pools-idle-at-zero-outside-prod"), ("mandatory", "pat-lifetime-within-cap")}


def test_a_bad_policy_config_names_the_file_and_every_problem_before_planning(tmp_path):
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({
        "pat-lifetime-within-cap": {"maxLifetimeDays": "ninety", "maxLifetime": 30},
        "reserved-tag": "advisory",
        "all": {"enforcementLevel": "blocking"},
    }))
    result = run_plan("--stack", "test", "--policy", "--policy-config", str(config))
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith(f"{config}: ") for line in lines)
    assert any("pat-lifetime-within-cap.maxLifetimeDays: must be a whole number" in line for line in lines)
    assert any("pat-lifetime-within-cap.maxLifetime: unknown setting" in line for line in lines)
    assert any("reserved-tag: no such policy" in line and "reserved-tags" in line for line in lines)
    assert any("all.enforcementLevel: must be one of" in line for line in lines)


def test_a_huge_policy_name_or_setting_is_named_by_its_start_and_length_not_echoed(tmp_path):
    config = tmp_path / "policy-config.json"
    huge = 900_000  # four of them stay under the 4 MiB a config file may have
    config.write_text(json.dumps({"x" * huge: "mandatory", "reserved-tags": "y" * huge,
                                  "pat-lifetime-within-cap": {"z" * huge: 1, "maxLifetimeDays": ["w" * huge]}}))
    with pytest.raises(PolicyConfigError) as caught:
        load_policy_config(config)
    lines = str(caught.value).splitlines()
    assert len(lines) == 4 and all(len(line) < 600 for line in lines), [len(line) for line in lines]
    assert sum("(900,000 characters)" in line for line in lines) == 3, lines  # the list: its start only
    assert lines[0].startswith(f"{config}: 'xxxx") and "no such policy; policies: all, " in lines[0]


def test_a_policy_config_of_many_bad_entries_names_the_first_and_counts_the_rest(tmp_path):
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({f"no-such-rule-{index}": "advisory" for index in range(5000)}))
    with pytest.raises(PolicyConfigError) as caught:
        load_policy_config(config)
    lines = str(caught.value).splitlines()
    assert len(lines) == 21 and lines[0].startswith(f"{config}: no-such-rule-0: no such policy")
    assert lines[-1] == "… and 4,980 more problems like these"


def test_policy_config_that_is_not_json_names_the_line(tmp_path):
    config = tmp_path / "policy-config.json"
    config.write_text('{\n  "reserved-tags": advisory\n}\n')
    with pytest.raises(PolicyConfigError, match=r"policy-config.json:2:\d+: invalid JSON"):
        load_policy_config(config)


@pytest.mark.parametrize("extra", [["--against", "HEAD"], ["--json"]])
def test_policy_with_other_outputs_is_a_usage_error(extra):
    result = run_plan("--stack", "test", "--policy", *extra)
    assert result.returncode == 2 and "--policy checks the plans themselves" in result.stderr


# check_plan, in process: how levels and failures are decided for a plan of hand-written resources.
PLAN = {
    "project": "databricks-platform", "stack": "test", "outputs": {},
    "resources": [
        {"type": "databricks:index/instancePool:InstancePool", "name": "pools-general",
         "parent": "urn:pulumi:test::databricks-platform::databricks-platform:databricks:InstancePools::pools",
         "inputs": {"instancePoolName": "general", "minIdleInstances": 2, "customTags": "<computed>"}},
        {"type": "azure-native:keyvault:Vault", "name": "vault-vault",
         "parent": "urn:pulumi:test::databricks-platform::databricks-platform:security:KeyVault::vault",
         "inputs": {"vaultName": "kv-dbp-test", "tags": "<computed>",
                    "properties": {"enableRbacAuthorization": True, "enablePurgeProtection": "<computed>"}}},
        {"type": "pulumi-python:dynamic/databricks-platform:DatabricksPat", "name": "databricks-pat",
         "parent": "urn:pulumi:test::databricks-platform::pulumi:pulumi:Stack::databricks-platform-test",
         "inputs": {"lifetime_days": 120, "__provider": "<serialized dynamic provider>"}},
    ],
}


def test_report_lists_mandatory_before_advisory_and_fails_on_mandatory():
    report = check_plan(PLAN)
    assert [(v.level, v.policy, v.resource_name) for v in report.violations] == [
        ("mandatory", "pat-lifetime-within-cap", "databricks-pat"),
        ("advisory", "pools-idle-at-zero-outside-prod", "pools-general")]
    assert report.mandatory_failed and report.lines[1].startswith("[mandatory] pat-lifetime-within-cap: ")


def test_levels_from_config_follow_the_engine_policy_entry_then_all():
    relaxed = check_plan(PLAN, config={"all": "advisory"})
    assert not relaxed.mandatory_failed and len(relaxed.violations) == 2
    strict = check_plan(PLAN, config={"all": "advisory", "pools-idle-at-zero-outside-prod": "mandatory"})
    assert [v.level for v in strict.violations] == ["mandatory", "advisory"]
    off = check_plan(PLAN, config={"pat-lifetime-within-cap": {"enforcementLevel": "disabled"}})
    assert [v.policy for v in off.violations] == ["pools-idle-at-zero-outside-prod"] and off.policies == 9


def test_a_rule_that_crashes_fails_the_run_without_quoting_inputs(monkeypatch):
    import offline_plan.policy

    token = databricks_pat()
    plan = {**PLAN, "resources": [{**PLAN["resources"][2], "inputs": {"lifetime_days": token}}]}

    def broken(args, report_violation):
        raise ValueError(f"cannot read {args.props['lifetime_days']}")

    crashing = ResourceValidationPolicy(name="crashing-rule", description="Crashes.", validate=broken,
                                        enforcement_level=EnforcementLevel.ADVISORY)
    monkeypatch.setattr(offline_plan.policy, "POLICIES", [crashing])
    report = check_plan(plan)
    assert report.mandatory_failed, "a guard rail that cannot run must not pass"
    assert "the rule failed on this resource (ValueError)" in report.text and token not in report.text


def test_every_stage_is_checked_in_one_run_and_any_mandatory_violation_fails_it(tmp_path):
    """What the pull-request build runs: `--stack all --policy`, a report per stage in one interpreter."""
    program = copy_program(tmp_path / "program")
    _break_purge_protection(program)
    result = run_plan("--stack", "all", "--policy", program_dir=program)
    assert result.returncode == 1, result.stdout + result.stderr
    headers = [line for line in result.stdout.splitlines() if line.startswith("Guard rails of databricks-platform")]
    assert [header.split(" stack ")[1].split(":")[0] for header in headers] == ["dev", "prod", "test"]
    assert "Stack dev passes every guard rail." in result.stdout and "Stack prod passes" in result.stdout
    assert "key-vault-purge-protection-outside-dev" in result.stdout
