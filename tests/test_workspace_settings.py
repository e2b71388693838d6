"""Workspace token settings: a lifetime cap on new tokens, and only admins and named principals may create them."""

from __future__ import annotations

import pytest

from core.config import PROJECT, parse_stage_config
from core.errors import UserError
from tests.conftest import STAGES, copy_program, one, plan_json, resources_of

CONF = "databricks:index/workspaceConf:WorkspaceConf"
PERMISSIONS = "databricks:index/permissions:Permissions"
GROUP = "databricks:index/group:Group"
SP = "11111111-1111-1111-1111-111111111111"


def _problems(**raw: str) -> list[str]:
    with pytest.raises(UserError) as caught:
        parse_stage_config({f"{PROJECT}:{key}": value for key, value in raw.items()}, stack="test")
    return caught.value.problems


@pytest.mark.parametrize("stage", STAGES)
def test_new_tokens_are_capped_at_90_days_on_the_workspace_with_tokens_enabled(deployed_plans, stage):
    conf = one(deployed_plans[stage], CONF)["inputs"]["customConfig"]
    assert conf == {"enableTokensConfig": "true", "maxTokenLifetimeDays": "90"}, f"Pulumi.{stage}.yaml"


@pytest.mark.parametrize("stage", STAGES)
def test_by_default_only_admins_may_create_tokens(deployed_plans, stage):
    plan = deployed_plans[stage]
    [permissions] = [r["inputs"] for r in resources_of(plan, PERMISSIONS) if r["inputs"].get("authorization")]
    assert permissions["authorization"] == "tokens"
    # The provider needs one grantee: the program's own empty group, so nobody but admins holds the right.
    assert permissions["accessControls"] == [{"groupName": "token-users", "permissionLevel": "CAN_USE"}]
    assert [g["inputs"]["displayName"] for g in resources_of(plan, GROUP)] == ["token-users"]


def test_configured_principals_may_create_tokens_besides_admins(tmp_path):
    program = copy_program(tmp_path / "program", stacks=("test",))
    stack_file = program / "Pulumi.test.yaml"
    stack_file.write_text(stack_file.read_text() + f"""
  databricks-platform:workspacePrincipals:
    - {{applicationId: {SP}, displayName: sp-azureml}}
  databricks-platform:workspaceTokenUsers:
    - {{servicePrincipal: {SP}}}
    - {{group: data-engineers}}
  databricks-platform:workspaceMaxTokenLifetimeDays: 30
  databricks-platform:patLifetimeDays: 30
""")
    plan = plan_json("test", program_dir=program)
    permissions = one(plan, PERMISSIONS)["inputs"]
    grants = sorted((c.get("groupName") or c["servicePrincipalName"], c["permissionLevel"])
                    for c in permissions["accessControls"])
    assert grants == [(SP, "CAN_USE"), ("data-engineers", "CAN_USE"), ("token-users", "CAN_USE")]
    assert one(plan, CONF)["inputs"]["customConfig"]["maxTokenLifetimeDays"] == "30"


def test_the_pat_is_minted_under_the_cap_and_token_rights_change_only_after_it_exists(declared_dependencies):
    # A token minted before the cap exists could outlive it; token permissions need a token in the workspace,
    # and the admins (the deploying principal among them) keep the right to mint the next one.
    assert "workspace-settings-conf" in declared_dependencies["databricks-pat"]
    assert "databricks-pat" in declared_dependencies["workspace-settings-token-usage"]


def test_a_pat_lifetime_above_the_workspace_cap_is_refused_naming_both_keys():
    [problem] = _problems(patLifetimeDays="120", workspaceMaxTokenLifetimeDays="90")
    assert problem == ("Pulumi.test.yaml: patLifetimeDays (120) must not exceed workspaceMaxTokenLifetimeDays (90): "
                       "the workspace refuses tokens that outlive its cap")
    # Lowering only the cap under the default PAT lifetime is caught the same way.
    [problem] = _problems(workspaceMaxTokenLifetimeDays="30")
    assert "patLifetimeDays (90) must not exceed workspaceMaxTokenLifetimeDays (30)" in problem
    assert "less than or equal to 730" in _problems(workspaceMaxTokenLifetimeDays="1000")[0]


def test_token_users_name_one_principal_each_and_never_the_admins():
    problems = _problems(workspaceTokenUsers=f'[{{"group": "Admins"}}, {{"servicePrincipal": "{SP}", "group": "x"}},'
                                             ' {"user": "a@example.com"}]')
    assert len(problems) == 3, problems
    admins, both, unknown = problems
    assert admins.startswith(f"Pulumi.test.yaml: {PROJECT}:workspaceTokenUsers[0]: ") and "admins group" in admins
    assert "workspaceTokenUsers[1]" in both and "exactly one of servicePrincipal" in both
    assert "workspaceTokenUsers[2].user" in unknown
    [deployer] = _problems(deployerClientId=SP, workspaceTokenUsers=f'[{{"servicePrincipal": "{SP}"}}]')
    assert "deploying principal (deployerClientId)" in deployer


@pytest.mark.parametrize(("entry", "says"), [
    ('{"group": "users"}', "every user of the workspace"),
    ('{"group": "token-users"}', "the group the program keeps"),
    (f'{{"servicePrincipal": "{SP}"}}', "not in workspacePrincipals"),
], ids=["everyone", "the-programs-own-group", "unregistered-principal"])
def test_token_users_that_would_undo_the_restriction_or_fail_at_apply_are_refused(entry, says):
    [problem] = _problems(workspaceTokenUsers=f"[{entry}]")
    assert problem.startswith("Pulumi.test.yaml: ") and "workspaceTokenUsers" in problem and says in problem
