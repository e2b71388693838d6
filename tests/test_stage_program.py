"""The real __main__.py under Pulumi's mocks, for every stage: what a reviewer checks in a stage."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, STAGES, one, resources_of, run_plan

TAGGABLE = (
    "azure-native:resources:ResourceGroup",
    "azure-native:databricks:Workspace",
    "azure-native:keyvault:Vault",
    "azure-native:datafactory:Factory",
)
FACTORY = "azure-native:datafactory:Factory"
SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


@pytest.mark.parametrize("stage", STAGES)
def test_key_vault_uses_rbac_not_access_policies(deployed_plans, stage):
    properties = one(deployed_plans[stage], "azure-native:keyvault:Vault")["inputs"]["properties"]
    assert properties["enableRbacAuthorization"] is True, f"Pulumi.{stage}.yaml vault is not in RBAC mode"
    assert not properties.get("accessPolicies"), f"Pulumi.{stage}.yaml vault has access policies"
    assert properties["enableSoftDelete"] is True


def test_purge_protection_is_on_in_test_and_prod_and_off_in_dev(deployed_plans):
    dev = one(deployed_plans["dev"], "azure-native:keyvault:Vault")["inputs"]["properties"]
    for stage in ("test", "prod"):
        vault = one(deployed_plans[stage], "azure-native:keyvault:Vault")["inputs"]["properties"]
        assert vault.get("enablePurgeProtection") is True, f"Pulumi.{stage}.yaml: purge protection is off"
        assert vault["softDeleteRetentionInDays"] == 90
    # The API refuses an explicit false; dev must leave it unset rather than send false.
    assert "enablePurgeProtection" not in dev
    assert dev["softDeleteRetentionInDays"] == 7


@pytest.mark.parametrize("stage", STAGES)
def test_workspace_is_premium_hybrid_without_public_ip(deployed_plans, stage):
    workspace = one(deployed_plans[stage], "azure-native:databricks:Workspace")["inputs"]
    assert workspace["sku"] == {"name": "premium"}
    assert workspace["parameters"]["enableNoPublicIp"]["value"] is True
    assert workspace["computeMode"] == "Hybrid"
    # Hybrid needs the managed group's id; Azure Databricks creates that group, the program must not.
    managed = workspace["managedResourceGroupId"]
    assert managed.endswith(f"/resourceGroups/rg-dbp-{stage}-dbw-managed")
    groups = [r["inputs"]["resourceGroupName"] for r in resources_of(deployed_plans[stage],
                                                                      "azure-native:resources:ResourceGroup")]
    assert groups == [f"rg-dbp-{stage}"]


@pytest.mark.parametrize("stage", STAGES)
def test_factory_has_a_system_assigned_identity_that_may_only_read_secrets(deployed_plans, stage):
    plan = deployed_plans[stage]
    factory = one(plan, "azure-native:datafactory:Factory")["inputs"]
    assert factory["identity"]["type"] == "SystemAssigned"
    principal = "00000000-0000-0000-0000-0000000000fa"  # the stand-in identity of the factory
    grants = [r["inputs"] for r in resources_of(plan, "azure-native:authorization:RoleAssignment")
              if r["inputs"]["principalId"] == principal]
    assert [g["roleDefinitionId"].rsplit("/", 1)[1] for g in grants] == [SECRETS_USER]


@pytest.mark.parametrize("stage", STAGES)
def test_deploying_principal_is_secrets_officer_on_the_vault(deployed_plans, stage):
    plan = deployed_plans[stage]
    deployer = "00000000-0000-0000-0000-0000000000b1"  # getClientConfig's stand-in object id
    grants = [r["inputs"] for r in resources_of(plan, "azure-native:authorization:RoleAssignment")
              if r["inputs"]["principalId"] == deployer]
    assert [g["roleDefinitionId"].rsplit("/", 1)[1] for g in grants] == [SECRETS_OFFICER]
    assert grants[0]["principalType"] == "ServicePrincipal"
    assert grants[0]["scope"] == "/mock/azure-native:keyvault:Vault/vault-vault", "granted beyond the vault"


def test_only_dev_factory_is_linked_to_git(deployed_plans):
    dev = one(deployed_plans["dev"], "azure-native:datafactory:Factory")["inputs"]
    assert dev["repoConfiguration"]["type"] == "FactoryVSTSConfiguration"
    assert dev["repoConfiguration"]["collaborationBranch"] == "main"
    for stage in ("test", "prod"):
        factory = one(deployed_plans[stage], "azure-native:datafactory:Factory")["inputs"]
        assert "repoConfiguration" not in factory, f"Pulumi.{stage}.yaml: only dev may be git-linked"


@pytest.mark.parametrize("stage", STAGES)
def test_every_taggable_resource_carries_the_stage_tags(deployed_plans, stage):
    plan = deployed_plans[stage]
    tagged = [r for r in plan["resources"] if r["type"] in TAGGABLE]
    assert len(tagged) == len(TAGGABLE)
    for resource in tagged:
        tags = resource["inputs"].get("tags", {})
        assert {"project": "databricks-platform", "stage": stage, "managed-by": "pulumi"}.items() <= tags.items(), (
            f"{resource['type']} {resource['name']} in {stage} lacks the stage tags: {tags}"
        )


def _physical_names(plan: dict) -> set[str]:
    """Names of Azure resources. Secret, pool and ADF object names live inside a stage's own vault, workspace
    or factory (the same factory/ objects are published into each stage's factory)."""
    names = set()
    for resource in plan["resources"]:
        inside_the_stage = resource["type"].startswith("azure-native:datafactory:") and resource["type"] != FACTORY
        if not resource["type"].startswith("azure-native:") or inside_the_stage:
            continue
        for key, value in resource["inputs"].items():
            # A resource's own name; resourceGroupName elsewhere only points at the group.
            own = key == "resourceGroupName" and resource["type"] == "azure-native:resources:ResourceGroup"
            if (own or (key.endswith("Name") and key != "resourceGroupName")) and isinstance(value, str):
                names.add(value)
    return names


def test_stages_never_share_a_physical_name(deployed_plans):
    import itertools

    names = {stage: _physical_names(deployed_plans[stage]) for stage in STAGES}
    for stage in STAGES:
        assert {f"kv-dbp-{stage}", f"adf-dbp-{stage}", f"dbw-dbp-{stage}", f"rg-dbp-{stage}"} <= names[stage]
    for first, second in itertools.combinations(STAGES, 2):
        shared = names[first] & names[second]
        assert not shared, f"names shared by {first} and {second}: {sorted(shared)}"


@pytest.mark.parametrize("stage", STAGES)
def test_every_cloud_resource_is_parented_by_a_component(deployed_plans, stage):
    for resource in deployed_plans[stage]["resources"]:
        if resource["type"].startswith("azure-native:"):
            assert "::databricks-platform:" in resource["parent"], (
                f"{resource['type']} {resource['name']} is not inside a component: {resource['parent']}"
            )


@pytest.mark.parametrize("stage", STAGES)
def test_stack_outputs_give_consumers_urls_ids_and_names(deployed_plans, stage):
    outputs = deployed_plans[stage]["outputs"]
    assert outputs["workspace_url"].startswith("https://adb-")
    assert outputs["workspace_resource_id"]
    assert outputs["key_vault_name"] == f"kv-dbp-{stage}"
    assert outputs["key_vault_uri"] == f"https://kv-dbp-{stage}.vault.azure.net/"
    assert outputs["data_factory_name"] == f"adf-dbp-{stage}"


PAT_TYPE = "pulumi-python:dynamic/databricks-platform:DatabricksPat"


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_mints_a_bounded_pat_for_the_deploying_principal(deployed_plans, stage):
    pat = one(deployed_plans[stage], PAT_TYPE)["inputs"]
    assert pat["workspace_url"] == deployed_plans[stage]["outputs"]["workspace_url"]
    assert pat["workspace_resource_id"] == deployed_plans[stage]["outputs"]["workspace_resource_id"]
    assert (pat["lifetime_days"], pat["rotate_before_days"]) == (90, 14)
    assert pat["credential"] == "azure_cli", "the stack files sign in as the release does, through az"
    # Ids default to the identity running `pulumi up` (getClientConfig's stand-ins here).
    assert pat["client_id"] == "00000000-0000-0000-0000-00000000c11e"
    assert pat["tenant_id"] == "00000000-0000-0000-0000-000000007e11"
    assert not {key for key in pat if "secret" in key.lower() or "password" in key.lower()}, pat.keys()


VAULT_SECRET_TYPE = "pulumi-python:dynamic/databricks-platform:VaultSecret"


@pytest.mark.parametrize("stage", STAGES)
def test_pat_lives_in_key_vault_with_its_expiry_and_is_never_shown(deployed_plans, stage):
    plan = deployed_plans[stage]
    [secret] = [r["inputs"] for r in resources_of(plan, VAULT_SECRET_TYPE)
                if r["inputs"]["secret_name"] == "databricks-pat"]
    assert secret["value"] == "[secret]"
    assert secret["content_type"] == "Databricks personal access token"
    # The stand-in PAT expires 2026-04-01T00:00:00Z; the secret's expiry attribute says so.
    assert secret["expires"] == "2026-04-01T00:00:00Z"
    assert plan["outputs"]["pat_secret_name"] == "databricks-pat"


@pytest.mark.parametrize("args", [("--json", "--fill-computed"), ("--fill-computed",), ("--json",), ()],
                         ids=["json-deployed", "text-deployed", "json-preview", "text-preview"])
def test_the_minted_token_value_appears_in_no_plan_output(args):
    from offline_plan.standins import STANDIN_PAT

    result = run_plan("--stack", "dev", *args)
    assert result.returncode == 0, result.stderr
    assert STANDIN_PAT not in result.stdout + result.stderr
    assert '"[secret]"' in result.stdout


def test_role_assignment_names_are_distinct_guids_in_every_stage(deployed_plans):
    import uuid

    by_stage = {}
    for stage in STAGES:
        names = {r["inputs"]["principalId"]: r["inputs"]["roleAssignmentName"]
                 for r in resources_of(deployed_plans[stage], "azure-native:authorization:RoleAssignment")}
        assert len(set(names.values())) == len(names) == 2
        assert all(uuid.UUID(name) for name in names.values())
        by_stage[stage] = set(names.values())
    assert not by_stage["dev"] & by_stage["test"] and not by_stage["test"] & by_stage["prod"]
    assert not by_stage["dev"] & by_stage["prod"]


@pytest.mark.parametrize(
    ("authority", "environment"),
    [(None, None), ("https://login.microsoftonline.us", "usgovernment"), ("https://login.chinacloudapi.cn/", "china"),
     ("https://login.microsoftonline.com", "public")],
)
def test_sovereign_authority_selects_the_databricks_provider_environment(authority, environment):
    from components.databricks_provider import azure_environment

    assert azure_environment(authority) == environment


@pytest.mark.parametrize("stage", STAGES)
def test_every_output_the_ops_commands_read_is_one_the_program_exports(deployed_plans, stage):
    """ops smoke and export-linked-services read `pulumi stack output --json`: a renamed output would break
    every release's smoke run, and only there."""
    import re

    outputs = deployed_plans[stage]["outputs"]
    read = set()
    for module in ("ops/outputs.py", "ops/export_linked_services.py"):
        text = (REPO / module).read_text()
        read |= set(re.findall(r'checker\.get\("([a-z_]+)"', text))
        read |= set(re.findall(r'OUTPUT_NAME = "([a-z_]+)"', text))
    assert {"workspace_url", "job_ids", "data_factory_id", "data_factory_pipelines", "azure_authority_host",
            "data_factory_linked_services"} <= read, "the parse above no longer finds what ops reads"
    missing = read - set(outputs)
    assert not missing, f"Pulumi.{stage}.yaml: ops reads outputs the program does not export: {missing}"
    assert outputs["azure_authority_host"] == "", "the public cloud"
    assert "pl_jit_notebook_chain" in outputs["data_factory_pipelines"]
