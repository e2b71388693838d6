"""Stack config errors: one clear line naming the stack file, the key and what is allowed."""

from __future__ import annotations

import json

import pytest
import yaml

from core.config import PROJECT, StageConfig, config_keys, parse_stage_config
from core.errors import UserError
from tests.conftest import REPO, copy_program, run_plan


def problems(raw: dict[str, str], stack: str = "test") -> list[str]:
    with pytest.raises(UserError) as caught:
        parse_stage_config({f"{PROJECT}:{k}": v for k, v in raw.items()}, stack=stack)
    return caught.value.problems


def test_defaults_give_a_secure_stage():
    config = parse_stage_config({}, stack="prod")
    assert config.key_vault_purge_protection and config.workspace_no_public_ip
    assert config.workspace_sku == "premium" and config.data_factory_git_repo is None


def test_values_arrive_as_engine_strings_and_are_typed():
    config = parse_stage_config(
        {f"{PROJECT}:keyVaultSoftDeleteRetentionDays": "30", f"{PROJECT}:workspaceNoPublicIp": "false",
         f"{PROJECT}:tags": '{"costCenter": "42"}', f"{PROJECT}:keyVaultAllowedIpRanges": '["203.0.113.0/24"]'},
        stack="test",
    )
    assert config.key_vault_soft_delete_retention_days == 30
    assert config.workspace_no_public_ip is False
    assert config.all_tags == {"project": PROJECT, "stage": "test", "managed-by": "pulumi", "costCenter": "42"}
    assert config.key_vault_allowed_ip_ranges == ["203.0.113.0/24"]


def test_wrong_type_names_file_key_and_expected_type():
    [problem] = problems({"keyVaultSoftDeleteRetentionDays": "ninety"})
    assert problem.startswith(f"Pulumi.test.yaml: {PROJECT}:keyVaultSoftDeleteRetentionDays: ")
    assert "valid integer" in problem and "'ninety'" in problem


def test_out_of_range_value_says_what_is_allowed():
    [problem] = problems({"keyVaultSoftDeleteRetentionDays": "3"})
    assert "keyVaultSoftDeleteRetentionDays" in problem and "greater than or equal to 7" in problem


def test_value_outside_the_allowed_set_lists_the_allowed_values():
    [problem] = problems({"workspaceSku": "gold"})
    assert "workspaceSku" in problem and "'standard', 'premium' or 'trial'" in problem


def test_unknown_key_is_an_error_with_a_suggestion_not_a_silent_default():
    [problem] = problems({"keyVaultPurgeProtectoin": "false"})
    assert f"{PROJECT}:keyVaultPurgeProtectoin: unknown key" in problem
    assert "did you mean 'keyVaultPurgeProtection'" in problem


def test_keys_of_other_namespaces_are_left_to_their_owners():
    parse_stage_config({"azure-native:location": "westeurope", "databricks:host": "x"}, stack="test")


def test_every_problem_is_reported_in_one_run():
    found = problems({"keyVaultSoftDeleteRetentionDays": "3", "workspaceSku": "gold", "prefix": "Bad_Prefix"})
    assert len(found) == 3
    assert any("prefix" in p and "2-8 lowercase" in p for p in found)


def test_bad_ip_range_and_bad_nested_git_repo_name_their_paths():
    found = problems({
        "keyVaultAllowedIpRanges": '["10.0.0.0/8", "not-an-ip"]',
        "dataFactoryGitRepo": '{"type": "azureDevOps", "accountName": "c", "repositoryName": "r"}',
    })
    assert any("keyVaultAllowedIpRanges[1]" in p and "CIDR" in p for p in found)
    assert any("dataFactoryGitRepo" in p and "projectName is required" in p for p in found)


def test_unknown_key_inside_an_object_is_an_error():
    [problem] = problems({"dataFactoryGitRepo": '{"type": "gitHub", "accountName": "c", "repositoryName": "r", '
                                                 '"branch": "main"}'})
    assert "dataFactoryGitRepo.branch" in problem and "Extra inputs are not permitted" in problem


def test_stack_name_that_cannot_be_a_stage_is_refused():
    [problem] = problems({}, stack="Prod-EU")
    assert "Pulumi.Prod-EU.yaml" in problem and "stage" in problem


def test_pulumi_yaml_declares_every_key_once_with_a_description():
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(config_keys()), "Pulumi.yaml and the config model disagree"
    for key, declaration in declared.items():
        assert declaration.get("description"), f"Pulumi.yaml: {key} has no description"
        assert "default" in declaration, f"Pulumi.yaml: {key} has no default"
    # The documented defaults are the model's defaults.
    from_yaml = parse_stage_config({f"{PROJECT}:{k}": _engine(v["default"]) for k, v in declared.items()},
                                   stack="test")
    assert from_yaml == StageConfig(stage="test")


def _engine(value):
    """A Pulumi.yaml default as the engine hands it to the program."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


@pytest.mark.parametrize(
    ("stack_yaml", "expected"),
    [
        ("config:\n  databricks-platform:keyVaultSoftDeleteRetentionDays: lots\n",
         "Pulumi.bad.yaml: databricks-platform:keyVaultSoftDeleteRetentionDays: Input should be a valid integer"),
        ("config:\n  databricks-platform:workspaceSku: gold\n",
         "Pulumi.bad.yaml: databricks-platform:workspaceSku: Input should be 'standard', 'premium' or 'trial'"),
        ("config:\n  databricks-platform:prefx: abc\n",
         "Pulumi.bad.yaml: databricks-platform:prefx: unknown key; did you mean 'prefix'?"),
        ("config:\n  databricks-platform:tags: [1\n", "Pulumi.bad.yaml:3:1: invalid YAML"),
    ],
    ids=["bad-type", "bad-value", "unknown-key", "bad-yaml"],
)
def test_offline_plan_reports_config_errors_without_traceback(tmp_path, stack_yaml, expected):
    program = copy_program(tmp_path / "program")
    (program / "Pulumi.bad.yaml").write_text(stack_yaml)
    result = run_plan("--stack", "bad", program_dir=program)
    assert result.returncode == 1
    assert result.stderr.startswith(expected), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_check_across_keys_names_both_keys():
    [problem] = problems({"patRotateBeforeDays": "100"})
    assert problem == ("Pulumi.test.yaml: patRotateBeforeDays (100) must be less than patLifetimeDays (90), "
                       "or every deployment would rotate the token")


def test_unknown_keys_and_bad_values_are_reported_together():
    found = problems({"keyVaultPurgeProtectoin": "false", "keyVaultSoftDeleteRetentionDays": "120"})
    assert len(found) == 2
    assert "unknown key" in found[0] and "less than or equal to 90" in found[1]


def test_secret_config_is_refused_without_echoing_its_value():
    with pytest.raises(UserError) as caught:
        parse_stage_config({f"{PROJECT}:jobVariables": '{"storage_key": "hunter2-secret"}'}, stack="test",
                           secret_keys={f"{PROJECT}:jobVariables"})
    [problem] = caught.value.problems
    assert f"{PROJECT}:jobVariables: is set as a secret" in problem
    assert "hunter2" not in str(caught.value)


def test_offline_plan_masks_nested_secure_values_and_refuses_them(tmp_path):
    program = copy_program(tmp_path / "program")
    (program / "Pulumi.sec.yaml").write_text(
        "config:\n  databricks-platform:jobVariables:\n    spark_version: 15.4.x-scala2.12\n"
        "    token:\n      secure: v1:Y2lwaGVydGV4dA==\n"
    )
    result = run_plan("--stack", "sec", program_dir=program)
    assert result.returncode == 1
    assert "databricks-platform:jobVariables: is set as a secret" in result.stderr
    assert "Y2lwaGVydGV4dA" not in result.stderr + result.stdout and "Traceback" not in result.stderr
