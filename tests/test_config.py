"""Stack config errors: one clear line naming the stack file, the key and what is allowed."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- config that is not ours is still checked (issue 9, item 6) ------------------------------------------


def foreign(raw: dict[str, str]) -> list[str]:
    with pytest.raises(UserError) as caught:
        parse_stage_config(raw, stack="test")
    return caught.value.problems


@pytest.mark.parametrize("namespace", ["databricks-platfrom", "Databricks-Platform", "DATABRICKS-PLATFORM",
                                       "databricks_platform", "databricksplatform"])
def test_a_misspelt_project_namespace_is_an_error_suggesting_the_real_key(namespace):
    [problem] = foreign({f"{namespace}:keyVaultPurgeProtection": "true"})
    assert problem.startswith(f"Pulumi.test.yaml: {namespace}:keyVaultPurgeProtection: namespace ")
    assert "did you mean 'databricks-platform:keyVaultPurgeProtection'?" in problem


def test_a_misspelt_namespace_and_key_together_still_suggest_the_closest_real_key():
    [problem] = foreign({"databricks-platfrom:keyVaultPurgeProtectoin": "true"})
    assert "did you mean 'databricks-platform:keyVaultPurgeProtection'?" in problem


def test_a_namespace_the_program_does_not_use_is_an_error_naming_the_ones_it_does():
    [problem] = foreign({"aws:region": "eu-west-1"})
    assert problem.startswith("Pulumi.test.yaml: aws:region: namespace aws is not used by this program")
    assert "databricks-platform (this program), azure-native, databricks or pulumi" in problem


def test_a_provider_namespace_misspelt_suggests_the_provider_key():
    [problem] = foreign({"azure-natvie:location": "westeurope"})
    assert "did you mean 'azure-native:location'?" in problem


@pytest.mark.parametrize(("key", "suggestion"), [("azure-native:locaton", "azure-native:location"),
                                                 ("databricks:hots", "databricks:host")])
def test_a_key_the_provider_does_not_have_is_an_error_with_a_suggestion(key, suggestion):
    [problem] = foreign({key: "x"})
    assert f"did you mean '{suggestion}'?" in problem and "has no such setting" in problem


def test_provider_and_pulumi_keys_that_exist_are_accepted():
    parse_stage_config({"azure-native:location": "westeurope", "databricks:host": "https://x",
                        "pulumi:disable-default-providers": '["aws"]', "pulumi:template": "https://x",
                        "pulumi:tags": '{"team": "data"}', "pulumi:autonaming": '{"pattern": "${name}"}',
                        "azure-native:clientSecret": "[secret]"}, stack="test",
                       secret_keys={"azure-native:clientSecret"})


def test_a_misspelt_pulumi_setting_is_an_error():
    [problem] = foreign({"pulumi:disable-default-provider": '["aws"]'})
    assert "did you mean 'pulumi:disable-default-providers'?" in problem


@pytest.mark.parametrize("key", ["pulumi:foo", "pulumi:Tags", "pulumi:region", "pulumi:"])
def test_a_pulumi_key_pulumi_does_not_read_is_an_error_listing_the_ones_it_does(key):
    [problem] = foreign({key: "x"})
    assert problem.startswith(f"Pulumi.test.yaml: {key}: not a setting Pulumi reads, so nothing would read it")
    assert problem.endswith("Pulumi's own settings are pulumi:autonaming, pulumi:disable-default-providers, "
                            "pulumi:tags, pulumi:template")


def test_a_key_in_our_namespace_with_the_wrong_case_suggests_the_declared_spelling():
    [problem] = problems({"keyvaultpurgeprotection": "false"})
    assert "did you mean 'keyVaultPurgeProtection'?" in problem


def test_a_key_set_twice_in_a_stack_file_is_an_error_naming_both_forms(tmp_path):
    from offline_plan.stack_config import StackConfigError, load_stack_config

    program = copy_program(tmp_path / "program", stacks=())
    (program / "Pulumi.dup.yaml").write_text("config:\n  databricks-platform:prefix: abc\n  prefix: abd\n")
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(program, "dup")
    assert caught.value.problems == ["Pulumi.dup.yaml: config: prefix is also given as databricks-platform:prefix; "
                                     "keep one"]
    (program / "Pulumi.dup.yaml").write_text("config:\n  databricks-platform:prefix: abc\n"
                                             "  databricks-platform:prefix: abd\n")
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(program, "dup")
    assert caught.value.problems == ["Pulumi.dup.yaml:3:3: invalid YAML: duplicate key 'databricks-platform:prefix' "
                                     "in config"]


def test_a_misspelt_top_level_key_of_a_stack_file_is_an_error_not_an_empty_config(tmp_path):
    from offline_plan.stack_config import StackConfigError, load_stack_config

    program = copy_program(tmp_path / "program", stacks=())
    (program / "Pulumi.typo.yaml").write_text("confg:\n  databricks-platform:keyVaultPurgeProtection: false\n")
    with pytest.raises(StackConfigError, match=r"Pulumi\.typo\.yaml: confg: unknown top-level key; did you mean "
                                               r"'config'\?"):
        load_stack_config(program, "typo")


def test_the_program_reads_the_engines_config_map_only_not_pulumi_config_variables(monkeypatch):
    """Under `pulumi up` the language host parses PULUMI_CONFIG into the runtime's map; a variable that
    is not in the map (a shell left-over, or PULUMI_CONFIG_<KEY>) must never add a setting."""
    import pulumi.runtime

    from core.config import load_stage_config

    monkeypatch.setenv("PULUMI_CONFIG", "{not json")
    monkeypatch.setenv("PULUMI_CONFIG_DATABRICKS_PLATFORM_PREFIX", "leaked")
    pulumi.runtime.set_all_config({f"{PROJECT}:keyVaultSoftDeleteRetentionDays": "30"}, [])
    monkeypatch.setattr(pulumi, "get_stack", lambda: "test")
    try:
        config = load_stage_config()
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert config.key_vault_soft_delete_retention_days == 30 and config.prefix == "dbp"


def test_config_the_engine_hands_over_as_json_is_parsed_as_strictly_as_a_file():
    deep = "[" * 1000 + "]" * 1000
    found = problems({"tags": '{"a": "1", "a": "2"}', "jobVariables": '{"x": NaN}', "keyVaultAllowedIpRanges": deep})
    assert len(found) == 3
    assert any("tags: must be a YAML mapping or list; invalid JSON: duplicate key 'a'" in p for p in found)
    assert any("jobVariables: must be a YAML mapping or list; invalid JSON: x: NaN is not a JSON number" in p
               for p in found)
    assert any("keyVaultAllowedIpRanges: must be a YAML mapping or list; invalid JSON: nested deeper" in p
               for p in found)


SPOT_POOL = '[{"name": "general", "nodeType": "x", "maxCapacity": 4, "availability": "SPOT_AZURE", '


@pytest.mark.parametrize(("key", "value"), [("keyVaultSoftDeleteRetentionDays", "nan"),
                                            ("instancePools", SPOT_POOL + '"spotBidMaxPrice": "nan"}]'),
                                            ("instancePools", SPOT_POOL + '"spotBidMaxPrice": "inf"}]')])
def test_nan_and_infinity_are_refused_in_numbers(key, value):
    [problem] = problems({key: value})
    assert key in problem


def test_a_2mb_bad_value_is_named_by_its_start_and_length_not_echoed():
    big = "x" * 2_000_000
    found = problems({"location": big, "prefix": big, "tags": json.dumps({"a": big})})
    assert len(found) == 3 and all(len(problem) < 400 for problem in found), [len(p) for p in found]
    assert any("(2,000,000 characters)" in problem for problem in found)


# --- validation means the whole value (item 8) -------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [
    ("prefix", "dbp\n"), ("location", "westeurope\n"), ("patSecretName", "pat\n"), ("deployerTenantId",
     "00000000-0000-0000-0000-000000000000\n"), ("azureAuthorityHost", "https://login.microsoftonline.us\n"),
    ("jobsDefaultPool", "general\n"), ("workspaceSku", "premium\n"),
    ("dataFactoryGitRepo", json.dumps({"type": "gitHub", "accountName": "c\n", "repositoryName": "r"})),
    ("workspacePrincipals", json.dumps([{"applicationId": "00000000-0000-0000-0000-000000000001",
                                         "displayName": "etl\nadmin"}])),
])
def test_a_trailing_newline_or_control_character_never_passes_validation(key, value):
    [problem] = problems({key: value})
    assert f"{PROJECT}:{key}" in problem


def test_a_trailing_newline_in_the_stack_name_is_refused():
    [problem] = problems({}, stack="dev\n")
    assert "stack name 'dev\\n'" in problem


@given(text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
       control=st.sampled_from(["\n", "\r", "\x00", "\t", "\x1b", "\x85"]),
       key=st.sampled_from(["prefix", "location", "patSecretName", "jobsDefaultPool", "deployerClientId"]))
def test_no_string_setting_passes_with_a_control_character_anywhere(text, control, key):
    with pytest.raises(UserError):
        parse_stage_config({f"{PROJECT}:{key}": text + control}, stack="test")


# --- tags -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["stage", "Stage", "PROJECT", "managed-by", "Managed-By"])
def test_user_tags_cannot_override_the_reserved_tags_in_any_case(name):
    [problem] = problems({"tags": json.dumps({name: "prod"})})
    assert f"{PROJECT}:tags: tag {name!r} is set by the program on every resource" in problem


@pytest.mark.parametrize(("tags", "message"), [
    ({f"t{i}": "x" for i in range(43)}, "43 tags plus the 3 the program sets is more than 45"),
    ({"a/b": "x"}, "must be 1-512 characters without any of <>%&\\?/"),
    ({"a" * 513: "x"}, "must be 1-512 characters"),
    ({"azure-owner": "x"}, "starts with a prefix Azure reserves"),
    ({"Microsoft.Cost": "x"}, "starts with a prefix Azure reserves"),
    ({"Owner": "a", "owner": "b"}, "are the same tag to Azure"),
    ({"owner": "v" * 257}, "has a value longer than 256 characters"),
    ({"owner": "a\nb"}, "control characters"),
])
def test_tags_follow_azure_and_databricks_limits(tags, message):
    [problem] = problems({"tags": json.dumps(tags)})
    assert message in problem


def test_42_user_tags_are_the_most_a_stage_accepts():
    config = parse_stage_config({f"{PROJECT}:tags": json.dumps({f"t{i}": "x" for i in range(42)})}, stack="test")
    assert len(config.all_tags) == 45


# --- Key Vault firewall entries as ARM stores them (item 9) -----------------------------------------------


def ip_ranges(*values: str) -> list[str]:
    config = parse_stage_config({f"{PROJECT}:keyVaultAllowedIpRanges": json.dumps(list(values))}, stack="test")
    return config.key_vault_allowed_ip_ranges


def test_a_slash_32_is_written_as_the_bare_address_arm_returns():
    assert ip_ranges("203.0.113.5/32", "198.51.100.0/24", "192.0.2.7") == ["203.0.113.5", "198.51.100.0/24",
                                                                          "192.0.2.7"]


@pytest.mark.parametrize(("value", "message"), [
    ("203.0.113.5/24", "has host bits set; did you mean '203.0.113.0/24'?"),
    ("10.1.2.3/8", "did you mean '10.0.0.0/8'?"),
    ("10.0.0.0/255.0.0.0", "write '10.0.0.0/8'"),
    ("2001:db8::/32", "accepts IPv4 addresses and ranges only"),
    ("2001:db8::1", "accepts IPv4 addresses and ranges only"),
    ("203.0.113.5 ", "must be an IPv4 address or CIDR range"),
    ("010.0.0.1", "must be an IPv4 address or CIDR range"),
    ("any", "must be an IPv4 address or CIDR range"),
])
def test_firewall_entries_arm_would_not_store_as_written_are_refused_with_the_canonical_form(value, message):
    [problem] = problems({"keyVaultAllowedIpRanges": json.dumps([value])})
    assert "keyVaultAllowedIpRanges[0]" in problem and message in problem


def test_the_same_address_twice_is_refused_even_when_written_differently():
    [problem] = problems({"keyVaultAllowedIpRanges": '["203.0.113.5", "203.0.113.5/32"]'})
    assert "each range may appear once" in problem


# --- all problems of a run together (item 8) ----------------------------------------------------------------


def test_collecting_mode_returns_a_stand_in_with_bad_keys_at_their_defaults():
    found: list[str] = []
    config = parse_stage_config({f"{PROJECT}:prefix": "Bad", f"{PROJECT}:jobVariables": '{"x": "1"}'},
                                stack="test", problems=found)
    assert len(found) == 1 and "prefix" in found[0]
    assert config.prefix == "dbp" and config.job_variables == {"x": "1"}
    assert config.pool_names == ["general"] and config.pool_capacities == {"general": 4}


def test_a_stand_in_whose_pools_failed_marks_them_unknown_so_jobs_do_not_repeat_the_problem():
    found: list[str] = []
    config = parse_stage_config({f"{PROJECT}:jobsDefaultPool": "gpu"}, stack="test", problems=found)
    assert len(found) == 1 and "jobsDefaultPool 'gpu' is not a configured pool" in found[0]
    assert config.pool_names is None and config.pool_capacities is None


@pytest.mark.parametrize("value", ['[{"name": "general", "nodeType": "x"}]', '"not a list"'])
def test_invalid_pools_are_unknown_in_the_stand_in(value):
    found: list[str] = []
    assert parse_stage_config({f"{PROJECT}:instancePools": value}, stack="test", problems=found).pool_names is None
    assert found


# --- properties ----------------------------------------------------------------------------------------

json_text = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
).map(json.dumps)
engine_keys = st.sampled_from(sorted(config_keys())).map(lambda key: f"{PROJECT}:{key}") | st.text(max_size=30)
engine_values = json_text | st.text(max_size=30) | st.sampled_from(["nan", "inf", "-1", "1e400", "[" * 200, "true"])


@settings(max_examples=150, deadline=None)
@given(raw=st.dictionaries(engine_keys, engine_values, max_size=6), stack=st.sampled_from(["test", "dev", "Bad\n"]))
def test_any_config_map_the_engine_can_hand_over_is_a_config_or_a_user_error(raw, stack):
    try:
        config = parse_stage_config(raw, stack=stack)
    except UserError as error:
        assert all(problem.startswith(("Pulumi.test.yaml: ", "Pulumi.dev.yaml: ", "'Pulumi.Bad\\n.yaml': "))
                   and "\n" not in problem for problem in error.problems), error.problems
    else:
        assert config.stage == stack
    found: list[str] = []
    assert isinstance(parse_stage_config(raw, stack=stack, problems=found), StageConfig)


def test_each_problem_names_the_file_that_sets_the_key(tmp_path):
    from core.config import config_sources

    (tmp_path / "Pulumi.yaml").write_text("name: p\nconfig:\n  prefix:\n    default: Bad\n  aws:region: x\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config:\n  location: West Europe\n")
    raw = {f"{PROJECT}:prefix": "Bad", f"{PROJECT}:location": "West Europe", "aws:region": "x",
           f"{PROJECT}:fromEsc": "1"}
    sources = config_sources(tmp_path, "test", raw)
    with pytest.raises(UserError) as caught:
        parse_stage_config(raw, stack="test", sources=sources)
    found = caught.value.problems
    assert any(problem.startswith(f"Pulumi.yaml: {PROJECT}:prefix: ") for problem in found), found
    assert any(problem.startswith("Pulumi.yaml: aws:region: namespace aws") for problem in found), found
    assert any(problem.startswith(f"Pulumi.test.yaml: {PROJECT}:location: ") for problem in found), found
    assert any(problem.startswith(f"config of stack test (not set in Pulumi.test.yaml or Pulumi.yaml: an environment "
                                  f"the stack imports?): {PROJECT}:fromEsc: unknown key") for problem in found), found


def test_a_stack_file_in_stack_config_dir_is_found(tmp_path):
    from core.config import config_sources

    (tmp_path / "Pulumi.yaml").write_text("name: p\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.test.yaml").write_text("config:\n  databricks-platform:prefix: x\n")
    assert config_sources(tmp_path, "test", [f"{PROJECT}:prefix"]) == {f"{PROJECT}:prefix": "Pulumi.test.yaml"}
