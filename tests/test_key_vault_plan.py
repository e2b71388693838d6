"""The vault's readers and its secrets' dependencies, under the offline plan (the real program, mocked engine)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml

from components.key_vault import KEY_VAULT_SECRETS_OFFICER, KEY_VAULT_SECRETS_USER
from core.config import PROJECT, parse_stage_config
from core.errors import UserError
from offline_plan.standins import CLIENT_CONFIG
from tests.conftest import REPO, STAGES, copy_program, plan_json, resources_of, run_plan

ASSIGNMENT = "azure-native:authorization:RoleAssignment"
VAULT_SECRET = "pulumi-python:dynamic/databricks-platform:VaultSecret"
AML_COMPUTE = {"objectId": "1b9a2f8e-5c0d-4e61-9a7b-3f2e1d0c9b8a", "principalType": "ServicePrincipal",
               "name": "aml-compute"}
SCIENTISTS = {"objectId": "7d3c1e5f-2a4b-4c6d-8e9f-0a1b2c3d4e5f", "principalType": "Group",
              "name": "data-scientists"}


def program_with(tmp_path: Path, stack: str = "test", **config: object) -> Path:
    program = copy_program(tmp_path / "program", stacks=(stack,))
    stack_file = program / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(stack_file.read_text()) or {}
    document.setdefault("config", {}).update({f"{PROJECT}:{key}": value for key, value in config.items()})
    stack_file.write_text(yaml.safe_dump(document))
    return program


def standin_id(resource: dict) -> str:
    # offline_plan/standins.py gives every deployed resource the id /mock/<type>/<logical name>.
    return f"/mock/{resource['type']}/{resource['name']}"


def assignments_by_principal(plan: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for resource in resources_of(plan, ASSIGNMENT):
        found.setdefault(resource["inputs"]["principalId"], []).append(resource)
    return found


def role_definition(role: str) -> str:
    return (f"/subscriptions/{CLIENT_CONFIG['subscriptionId']}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{role}")


@pytest.fixture(scope="module")
def readers_plans(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The test stage with one reader, and with that reader and a second one."""
    one = program_with(tmp_path_factory.mktemp("one-reader"), keyVaultReaders=[AML_COMPUTE])
    two = program_with(tmp_path_factory.mktemp("two-readers"), keyVaultReaders=[AML_COMPUTE, SCIENTISTS])
    return plan_json("test", "--fill-computed", program_dir=one), plan_json("test", "--fill-computed", program_dir=two)


def test_each_reader_gets_exactly_secrets_user_on_the_vault_and_nothing_more(readers_plans):
    plan = readers_plans[1]
    [vault] = resources_of(plan, "azure-native:keyvault:Vault")
    by_principal = assignments_by_principal(plan)
    for reader in (AML_COMPUTE, SCIENTISTS):
        granted = by_principal.get(reader["objectId"], [])
        assert len(granted) == 1, f"{reader['name']}: expected one role assignment, got {len(granted)}"
        inputs = granted[0]["inputs"]
        assert inputs["roleDefinitionId"] == role_definition(KEY_VAULT_SECRETS_USER), reader["name"]
        assert inputs["scope"] == standin_id(vault), f"{reader['name']}: scope must be exactly the vault"
        assert inputs["principalType"] == reader["principalType"]
        assert reader["name"] in inputs["description"]
        mentions = [r["name"] for r in plan["resources"] if reader["objectId"] in json.dumps(r["inputs"])]
        assert mentions == [granted[0]["name"]], f"{reader['name']} appears elsewhere: {mentions}"


def test_reader_assignment_names_are_stable_guids_that_other_readers_do_not_move(readers_plans):
    one, two = (
        {r["inputs"]["principalId"]: r["inputs"]["roleAssignmentName"] for r in resources_of(plan, ASSIGNMENT)}
        for plan in readers_plans
    )
    assert one[AML_COMPUTE["objectId"]] == two[AML_COMPUTE["objectId"]], "adding a reader must not replace another"
    assert len(set(two.values())) == len(two) == 4
    assert all(uuid.UUID(name) for name in two.values())
    logical = {r["inputs"]["principalId"]: r["name"] for r in resources_of(readers_plans[1], ASSIGNMENT)}
    assert logical[AML_COMPUTE["objectId"]] == f"vault-reader-{AML_COMPUTE['objectId']}-secrets-user"


@pytest.mark.parametrize("stage", STAGES)
def test_no_reader_is_granted_unless_config_lists_one(deployed_plans, stage):
    plan = deployed_plans[stage]
    granted = {
        (r["inputs"]["principalId"], r["inputs"]["roleDefinitionId"].rsplit("/", 1)[1])
        for r in resources_of(plan, ASSIGNMENT)
    }
    factory_identity = "00000000-0000-0000-0000-0000000000fa"  # the factory's stand-in principal id
    assert granted == {
        (CLIENT_CONFIG["objectId"], KEY_VAULT_SECRETS_OFFICER),
        (factory_identity, KEY_VAULT_SECRETS_USER),
    }


@pytest.mark.parametrize(
    ("readers", "expected"),
    [
        ([AML_COMPUTE, {**SCIENTISTS, "objectId": AML_COMPUTE["objectId"].upper()}], "each objectId may appear once"),
        ([{**AML_COMPUTE, "objectId": "aml-compute"}], "keyVaultReaders[0].objectId: must be a GUID"),
        ([{**AML_COMPUTE, "principalType": "ManagedIdentity"}], "'ServicePrincipal', 'User' or 'Group'"),
        ([{"objectId": AML_COMPUTE["objectId"], "principalType": "User"}], "keyVaultReaders[0].name: Field required"),
        ([{**AML_COMPUTE, "role": "Key Vault Administrator"}], "keyVaultReaders[0].role: Extra inputs"),
    ],
    ids=["duplicate-object-id", "not-a-guid", "unknown-principal-type", "no-name", "a-role-of-its-own"],
)
def test_bad_readers_are_refused_naming_the_key(readers, expected):
    with pytest.raises(UserError) as raised:
        parse_stage_config({f"{PROJECT}:keyVaultReaders": json.dumps(readers)}, stack="test")
    problems = raised.value.problems
    assert any(expected in problem and problem.startswith("Pulumi.test.yaml: ") for problem in problems), problems


def test_a_reader_listed_by_the_deployers_application_id_is_explained():
    app_id = "5f0e9d8c-7b6a-4958-8372-6a5b4c3d2e1f"
    with pytest.raises(UserError) as raised:
        parse_stage_config(
            {f"{PROJECT}:deployerClientId": app_id,
             f"{PROJECT}:keyVaultReaders": json.dumps([{**AML_COMPUTE, "objectId": app_id}])},
            stack="test",
        )
    [problem] = raised.value.problems
    assert "deployerClientId" in problem and "already has Key Vault Secrets Officer" in problem


@pytest.mark.parametrize(
    ("object_id", "extra", "who"),
    [
        (CLIENT_CONFIG["objectId"], (), "the deploying identity"),
        ("00000000-0000-0000-0000-0000000000fa", ("--fill-computed",), "the factory's identity"),
    ],
    ids=["deployer", "factory"],
)
def test_a_reader_the_program_already_grants_is_refused_by_the_plan(tmp_path, object_id, extra, who):
    program = program_with(tmp_path, keyVaultReaders=[{**AML_COMPUTE, "objectId": object_id}])

    result = run_plan("--stack", "test", *extra, program_dir=program)

    assert result.returncode == 1, result.stdout[-2000:]
    assert "Traceback" not in result.stderr
    assert f"Pulumi.test.yaml: {PROJECT}:keyVaultReaders: 'aml-compute'" in result.stderr and who in result.stderr


CAPTURE = textwrap.dedent("""
    import json, runpy, sys
    from pulumi.runtime import mocks

    captured = []
    register = mocks.MockMonitor.RegisterResource

    def recording(self, request):
        response = register(self, request)
        captured.append({"type": request.type, "name": request.name, "urn": response.urn,
                         "dependencies": sorted(request.dependencies)})
        return response

    mocks.MockMonitor.RegisterResource = recording
    output, sys.argv = sys.argv[1], ["offline_plan", *sys.argv[2:]]
    try:
        runpy.run_module("offline_plan", run_name="__main__")
    except SystemExit as exit:
        status = exit.code
    with open(output, "w") as file:
        json.dump(captured, file)
    sys.exit(status)
""")


def registrations(tmp_path: Path, stack: str) -> list[dict]:
    """What the program registers with the engine, with each resource's dependencies (URNs), as the engine
    records them in state: `pulumi destroy` deletes a resource before everything it depends on."""
    output = tmp_path / f"registrations-{stack}.json"
    result = subprocess.run(
        [sys.executable, "-c", CAPTURE, str(output), "--stack", stack, "--json", "--fill-computed"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(output.read_text())


@pytest.mark.parametrize("stage", STAGES)
def test_every_secret_depends_on_the_deployers_secrets_officer_assignment(tmp_path, stage):
    registered = registrations(tmp_path, stage)
    [officer] = [r for r in registered if r["name"] == "vault-deployer-secrets-officer"]
    secrets = [r for r in registered if r["type"] == VAULT_SECRET]
    assert {r["name"] for r in secrets} >= {"vault-pat", "vault-pool-general"}
    for secret in secrets:
        # Deleting a secret is a data-plane call that needs this role: destroy (or removing a pool) deletes the
        # secret first, while the role still exists.
        assert officer["urn"] in secret["dependencies"], f"{secret['name']} does not depend on {officer['name']}"


@pytest.mark.parametrize("stage", STAGES)
def test_secrets_are_written_through_the_data_plane_as_the_deploying_identity(deployed_plans, stage):
    plan = deployed_plans[stage]
    [officer] = [r for r in resources_of(plan, ASSIGNMENT) if r["name"] == "vault-deployer-secrets-officer"]
    assert resources_of(plan, "azure-native:keyvault:Secret") == [], "ARM cannot recover a soft-deleted secret"
    for secret in resources_of(plan, VAULT_SECRET):
        inputs = secret["inputs"]
        assert inputs["vault_name"] == f"kv-dbp-{stage}"
        assert inputs["vault_uri"] == plan["outputs"]["key_vault_uri"]
        assert (inputs["tenant_id"], inputs["client_id"]) == (CLIENT_CONFIG["tenantId"], CLIENT_CONFIG["clientId"])
        assert inputs["credential"] == "azure_cli"
        assert inputs["officer_assignment_id"] == standin_id(officer), "the plan shows what each secret relies on"


def test_a_sovereign_cloud_reaches_the_vault_through_its_own_authority(tmp_path):
    program = program_with(tmp_path, azureAuthorityHost="https://login.microsoftonline.us",
                           deployerCredential="managed_identity")
    plan = plan_json("test", program_dir=program)
    for secret in resources_of(plan, VAULT_SECRET):
        assert secret["inputs"]["azure_authority_host"] == "https://login.microsoftonline.us"
        assert secret["inputs"]["credential"] == "managed_identity"


def test_secrets_carry_the_stage_identity_tags_within_key_vaults_limit_of_15(tmp_path):
    program = program_with(tmp_path, tags={f"cost-centre-{i}": "42" for i in range(20)})
    plan = plan_json("test", program_dir=program)
    [vault] = resources_of(plan, "azure-native:keyvault:Vault")
    assert len(vault["inputs"]["tags"]) == 23, "the vault carries every tag of the stage"
    for secret in resources_of(plan, VAULT_SECRET):
        assert secret["inputs"]["tags"] == {"project": PROJECT, "stage": "test", "managed-by": "pulumi"}
