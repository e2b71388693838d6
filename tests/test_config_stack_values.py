"""Stack files are read as the Pulumi CLI reads them, so the offline plan is what `pulumi up` deploys.

The CLI decodes a config value that is a scalar into a string: the text as written (`2:8`, `010`, `yes`), null
as "". Lists and mappings it decodes with Go's yaml.v2 rules (YAML 1.1 booleans and octals, no base-60 numbers)
and hands over as JSON. PyYAML's YAML 1.1 reading (`2:8` is 128, `010` is 8) must not leak into the plan. The
CLI then checks typed settings itself: an integer must be decimal digits, a boolean exactly true or false.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from core.config import PROJECT, StageConfig, config_keys, parse_stage_config
from core.errors import UserError
from offline_plan.stack_config import StackConfigError, load_stack_config
from tests.conftest import REPO, copy_program, plan_json, run_plan


def stack_values(tmp_path: Path, config_lines: str, project_config: str = "") -> dict[str, str]:
    (tmp_path / "Pulumi.yaml").write_text(f"name: demo\nruntime: python\nconfig:\n{project_config or '  {}'}\n")
    (tmp_path / "Pulumi.test.yaml").write_text(f"config:\n{config_lines}")
    return load_stack_config(tmp_path, "test").config


@pytest.mark.parametrize("written", ["2:8", "010", "1_000", "0x1F", ".5", "+1", "yes", "no", "on", "True", "1e3",
                                     "0o17", "2026-01-01", "12:30:00", "-.inf", ".nan"])
def test_a_scalar_stack_value_reaches_the_program_as_the_text_written(tmp_path, written):
    assert stack_values(tmp_path, f"  demo:value: {written}\n")["demo:value"] == written


@pytest.mark.parametrize("written", ["~", "null", ""])
def test_a_null_stack_value_reaches_the_program_as_empty_text(tmp_path, written):
    assert stack_values(tmp_path, f"  demo:value: {written}\n")["demo:value"] == ""


# (written inside a mapping, what Go's yaml.v2 decodes it to): no base 60, octal by a leading 0 or 0o,
# underscores dropped, 1e3 is a number, y/yes/on are true.
NESTED = [("2:8", "2:8"), ("010", 8), ("0o17", 15), ("1_000", 1000), ("0x1F", 31), (".5", 0.5), ("+1", 1),
          ("yes", True), ("no", False), ("y", True), ("Off", False), ("1e3", 1000), ("08", 8), ("~", None),
          ("2026-01-01", "2026-01-01"), ("1e400", "1e400"), ("'010'", "010"), ("!!str 010", "010")]


def test_values_inside_a_mapping_are_decoded_as_the_pulumi_cli_decodes_them(tmp_path):
    lines = "".join(f"    k{index}: {written}\n" for index, (written, _) in enumerate(NESTED))
    handed = json.loads(stack_values(tmp_path, f"  demo:values:\n{lines}")["demo:values"])
    assert handed == {f"k{index}": decoded for index, (_, decoded) in enumerate(NESTED)}
    assert all(type(handed[f"k{index}"]) is type(decoded) for index, (_, decoded) in enumerate(NESTED)), handed


def test_nan_inside_a_list_names_its_line_and_path_because_pulumi_cannot_hand_it_over(tmp_path):
    with pytest.raises(StackConfigError) as caught:
        stack_values(tmp_path, "  demo:values: [1, .nan]\n")
    [problem] = caught.value.problems
    assert problem.startswith("Pulumi.test.yaml:2:20: config.demo:values[1]: '.nan' is not a finite number")


def test_an_explicit_tag_that_does_not_fit_its_text_is_refused_as_pulumi_refuses_it(tmp_path):
    with pytest.raises(StackConfigError) as caught:
        stack_values(tmp_path, "  demo:value: !!int abc\n")
    assert caught.value.problems == ["Pulumi.test.yaml:2:15: config.demo:value: 'abc' is not a valid int"]


def test_an_explicit_int_tag_keeps_the_text_at_the_top_and_decodes_it_inside_a_list(tmp_path):
    values = stack_values(tmp_path, "  demo:value: !!int 010\n  demo:list: [!!int 010, !!float 2]\n")
    assert values["demo:value"] == "010" and json.loads(values["demo:list"]) == [8, 2]


def test_project_defaults_are_decoded_values_printed_as_pulumi_prints_them(tmp_path):
    # Unlike stack values, a Pulumi.yaml default is decoded first, then printed (Go's %v): 010 is 8 there.
    declared = "  octal: 010\n  big: 1e6\n  flag: {default: yes}\n  ratio: {value: 0.25}\n  text: {default: '010'}\n"
    values = stack_values(tmp_path, "  {}\n", project_config=declared)
    assert values == {"demo:octal": "8", "demo:big": "1e+06", "demo:flag": "true", "demo:ratio": "0.25",
                      "demo:text": "010"}


def test_a_secure_value_is_only_a_mapping_whose_one_key_holds_text(tmp_path):
    values = stack_values(tmp_path, "  demo:secret: {secure: AAAA}\n  demo:count: {secure: 12}\n")
    assert values["demo:secret"] == "[secret]" and json.loads(values["demo:count"]) == {"secure": 12}


# --- through the real program ------------------------------------------------------------------------------


def vault_retention(plan: dict) -> int:
    [vault] = [resource for resource in plan["resources"] if resource["type"] == "azure-native:keyvault:Vault"]
    return vault["inputs"]["properties"]["softDeleteRetentionInDays"]


def test_a_leading_zero_retention_plans_the_decimal_days_pulumi_deploys_not_octal(tmp_path):
    program = copy_program(tmp_path / "program", stacks=())
    (program / "Pulumi.test.yaml").write_text(f"config:\n  {PROJECT}:keyVaultSoftDeleteRetentionDays: 010\n")
    assert vault_retention(plan_json("test", program_dir=program)) == 10


def test_unquoted_autoscale_workers_reach_the_linked_service_as_written_not_base_60(tmp_path):
    program = copy_program(tmp_path / "program", stacks=())
    (program / "Pulumi.test.yaml").write_text(
        "config:\n"
        f"  {PROJECT}:dataFactoryDatabricksWorkers: 2:8\n"
        f"  {PROJECT}:dataFactoryAllowJobClusters: true\n"
        f"  {PROJECT}:dataFactoryDatabricksNodeType: Standard_DS3_v2\n"
        f"  {PROJECT}:jobsDefaultPool: ''\n"
        f"  {PROJECT}:instancePools: []\n"
    )
    (program / "jobs").mkdir(exist_ok=True)
    for definition in (program / "jobs").iterdir():  # the shipped jobs need the default pool
        definition.unlink()
    plan = plan_json("test", program_dir=program)
    [service] = [resource for resource in plan["resources"]
                 if resource["type"] == "azure-native:datafactory:LinkedService"
                 and resource["inputs"]["properties"]["type"] == "AzureDatabricks"]
    assert service["inputs"]["properties"]["newClusterNumOfWorker"] == "2:8"


def test_a_yes_for_a_boolean_setting_is_refused_by_the_plan_as_pulumi_refuses_it(tmp_path):
    program = copy_program(tmp_path / "program", stacks=())
    (program / "Pulumi.test.yaml").write_text(f"config:\n  {PROJECT}:keyVaultPurgeProtection: yes\n")
    result = run_plan("--stack", "test", program_dir=program)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"Pulumi.test.yaml: {PROJECT}:keyVaultPurgeProtection: Input should be a valid boolean, true or false "
        "(got 'yes'); Pulumi reads no other spelling of a boolean setting (not yes/no, on/off or True)")


# --- the program takes typed settings only in the forms Pulumi's own type check lets through ------------------


def problems(raw: dict[str, str]) -> list[str]:
    with pytest.raises(UserError) as caught:
        parse_stage_config({f"{PROJECT}:{key}": value for key, value in raw.items()}, stack="test")
    return caught.value.problems


@pytest.mark.parametrize("text", ["1_000", "0x1F", ".5", "2:8", "30.0", " 30", "1e3", "٣٠", "9" * 30])
def test_an_integer_setting_takes_decimal_digits_only(text):
    [problem] = problems({"keyVaultSoftDeleteRetentionDays": text})
    assert problem.startswith(f"Pulumi.test.yaml: {PROJECT}:keyVaultSoftDeleteRetentionDays: Input should be a "
                              "valid integer in decimal digits")


@pytest.mark.parametrize(("text", "days"), [("010", 10), ("+30", 30), ("90", 90)])
def test_an_integer_setting_reads_decimal_digits_as_pulumi_does(text, days):
    config = parse_stage_config({f"{PROJECT}:keyVaultSoftDeleteRetentionDays": text}, stack="test")
    assert config.key_vault_soft_delete_retention_days == days


@pytest.mark.parametrize("text", ["yes", "no", "on", "off", "y", "True", "FALSE", "1", "0", ""])
def test_a_boolean_setting_takes_true_or_false_only(text):
    [problem] = problems({"workspaceNoPublicIp": text})
    assert f"{PROJECT}:workspaceNoPublicIp: Input should be a valid boolean, true or false" in problem


def test_a_2mb_integer_is_refused_promptly_by_its_start_and_length():
    [problem] = problems({"jobsTimeoutSeconds": "9" * 2_000_000})
    assert "(2,000,000 characters)" in problem and len(problem) < 400


def test_every_integer_and_boolean_setting_is_declared_with_the_type_pulumi_checks():
    # The program's own integer/boolean forms mirror Pulumi's check of a declared type: both must apply.
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    kinds = {key: StageConfig.model_fields[field].annotation for key, field in config_keys().items()}
    assert {key for key, kind in kinds.items() if kind is int} == {
        key for key, declaration in declared.items() if declaration.get("type") == "integer"}
    assert {key for key, kind in kinds.items() if kind is bool} == {
        key for key, declaration in declared.items() if declaration.get("type") == "boolean"}
