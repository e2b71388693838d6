"""Every guard rail, triggered and not, on pulumi-policy's own ResourceValidationArgs.

Each rule is called as the pack's server calls it (wire properties through pulumi-policy's deserializer and
unknown-checking proxy) and as the offline plan calls it (plain inputs with <computed>/[secret] markers).
"""

from __future__ import annotations

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

from policy import rules
from policy.resource_types import (
    DATABRICKS_PAT,
    INSTANCE_POOL,
    JOB,
    KEY_VAULT,
    LINKED_SERVICE,
    TRIGGER_RUNTIME_STATE,
    WORKSPACE,
)
from tests import policy_helpers as h
from tests.policy_helpers import UNKNOWN, offline_args, pack_args, violations

BOTH = pytest.mark.parametrize("build", [offline_args, pack_args], ids=["offline-plan", "policy-pack"])


def test_every_rule_is_a_resource_policy_with_a_deliberate_level():
    names = [policy.name for policy in rules.POLICIES]
    assert len(names) == len(set(names)) == 10
    levels = {policy.name: policy.enforcement_level for policy in rules.POLICIES}
    assert all(isinstance(policy, ResourceValidationPolicy) for policy in rules.POLICIES)
    # Security exposures and the platform's contract block; cost and reporting only advise.
    assert {name for name, level in levels.items() if level == EnforcementLevel.ADVISORY} == {
        "pools-idle-at-zero-outside-prod", "reserved-tags"}
    assert {level for level in levels.values()} == {EnforcementLevel.ADVISORY, EnforcementLevel.MANDATORY}


def test_config_schema_defaults_are_the_documented_defaults():
    schemas = {p.name: p.config_schema.properties for p in rules.POLICIES if p.config_schema}
    assert schemas["pat-lifetime-within-cap"]["maxLifetimeDays"]["default"] == 90
    assert schemas["key-vault-purge-protection-outside-dev"]["devStages"]["default"] == ["dev"]
    assert schemas["pools-idle-at-zero-outside-prod"]["prodStages"]["default"] == ["prod"]
    assert schemas["job-schedules-paused-outside-prod"]["prodStages"]["default"] == ["prod"]
    assert schemas["data-factory-triggers-stopped-outside-prod"]["prodStages"]["default"] == ["prod"]
    assert schemas["reserved-tags"]["requiredTags"]["default"] == ["project", "stage", "managed-by"]


# --- PAT lifetime -------------------------------------------------------------------------------------------

@BOTH
def test_pat_living_longer_than_90_days_is_a_violation_naming_pat_lifetime_days(build):
    found = violations(rules.validate_pat_lifetime, build(DATABRICKS_PAT, {"lifetime_days": 180}))
    assert len(found) == 1
    assert "databricks-platform:patLifetimeDays in Pulumi.test.yaml" in found[0]
    assert "180 days" in found[0] and "90 or less" in found[0]


@BOTH
@pytest.mark.parametrize("days", [1, 30, 90])
def test_pat_within_the_cap_passes(build, days):
    assert violations(rules.validate_pat_lifetime, build(DATABRICKS_PAT, {"lifetime_days": days})) == []


@BOTH
def test_pat_cap_comes_from_the_policy_config(build):
    args = build(DATABRICKS_PAT, {"lifetime_days": 60}, config={"maxLifetimeDays": 30})
    found = violations(rules.validate_pat_lifetime, args)
    assert len(found) == 1 and "30 or less" in found[0]
    relaxed = build(DATABRICKS_PAT, {"lifetime_days": 120}, config={"maxLifetimeDays": 180})
    assert violations(rules.validate_pat_lifetime, relaxed) == []


@pytest.mark.parametrize("lifetime", [0, -1, None, "never"])
def test_pat_without_a_lifetime_never_expires_and_is_a_violation(lifetime):
    found = violations(rules.validate_pat_lifetime, offline_args(DATABRICKS_PAT, {"lifetime_days": lifetime}))
    assert len(found) == 1 and "never expire" in found[0]


def test_pat_without_lifetime_input_is_judged_at_the_providers_default_of_90_days():
    assert violations(rules.validate_pat_lifetime, offline_args(DATABRICKS_PAT, {})) == []
    strict = offline_args(DATABRICKS_PAT, {}, config={"maxLifetimeDays": 60})
    assert len(violations(rules.validate_pat_lifetime, strict)) == 1


def test_pat_rule_ignores_other_resources():
    assert violations(rules.validate_pat_lifetime, offline_args(KEY_VAULT, {"lifetime_days": 999})) == []


# --- Key Vault ----------------------------------------------------------------------------------------------

@BOTH
@pytest.mark.parametrize("stage", ["dev", "test", "prod"])
def test_vault_with_access_policies_is_a_violation_in_every_stage(build, stage):
    vault = {"vaultName": f"kv-dbp-{stage}", "properties": {"enableRbacAuthorization": False,
                                                              "enablePurgeProtection": True}}
    found = violations(rules.validate_vault_rbac, build(KEY_VAULT, vault, stage=stage))
    assert len(found) == 1 and f"kv-dbp-{stage}" in found[0] and "enableRbacAuthorization" in found[0]


def test_vault_without_the_rbac_setting_defaults_to_access_policies_and_is_a_violation():
    found = violations(rules.validate_vault_rbac, offline_args(KEY_VAULT, {"properties": {}}))
    assert len(found) == 1


@BOTH
def test_vault_in_rbac_mode_passes(build):
    vault = {"properties": {"enableRbacAuthorization": True}}
    assert violations(rules.validate_vault_rbac, build(KEY_VAULT, vault)) == []


@BOTH
@pytest.mark.parametrize("stage", ["test", "prod"])
def test_purge_protection_off_outside_dev_is_a_violation_naming_the_config_key(build, stage):
    vault = {"vaultName": f"kv-dbp-{stage}", "properties": {"enablePurgeProtection": False}}
    found = violations(rules.validate_vault_purge_protection, build(KEY_VAULT, vault, stage=stage))
    assert len(found) == 1
    assert f"databricks-platform:keyVaultPurgeProtection in Pulumi.{stage}.yaml" in found[0]


def test_purge_protection_missing_outside_dev_is_a_violation():
    assert len(violations(rules.validate_vault_purge_protection, offline_args(KEY_VAULT, {"properties": {}}))) == 1


@BOTH
def test_purge_protection_may_be_off_in_dev(build):
    vault = {"properties": {"enablePurgeProtection": False}}
    assert violations(rules.validate_vault_purge_protection, build(KEY_VAULT, vault, stage="dev")) == []


@BOTH
def test_dev_stages_come_from_the_policy_config(build):
    vault = {"properties": {"enablePurgeProtection": False}}
    config = {"devStages": ["dev", "sandbox"]}
    assert violations(rules.validate_vault_purge_protection,
                      build(KEY_VAULT, vault, stage="sandbox", config=config)) == []
    assert len(violations(rules.validate_vault_purge_protection,
                          build(KEY_VAULT, vault, stage="dev", config={"devStages": ["sandbox"]}))) == 1


def test_purge_protection_on_passes():
    vault = {"properties": {"enablePurgeProtection": True}}
    assert violations(rules.validate_vault_purge_protection, offline_args(KEY_VAULT, vault, stage="prod")) == []


# --- Workspace network --------------------------------------------------------------------------------------

@BOTH
def test_workspace_with_public_ips_is_a_violation_naming_workspace_no_public_ip(build):
    workspace = {"workspaceName": "dbw-dbp-test", "parameters": {"enableNoPublicIp": {"value": False}}}
    found = violations(rules.validate_workspace_no_public_ip, build(WORKSPACE, workspace))
    assert len(found) == 1
    assert "databricks-platform:workspaceNoPublicIp in Pulumi.test.yaml" in found[0] and "dbw-dbp-test" in found[0]


def test_workspace_that_does_not_say_no_public_ip_is_a_violation():
    workspace = offline_args(WORKSPACE, {"sku": {"name": "premium"}})
    assert len(violations(rules.validate_workspace_no_public_ip, workspace)) == 1


@BOTH
def test_workspace_without_public_ips_passes(build):
    workspace = {"parameters": {"enableNoPublicIp": {"value": True}}}
    assert violations(rules.validate_workspace_no_public_ip, build(WORKSPACE, workspace, stage="dev")) == []


# --- Compute on pools ---------------------------------------------------------------------------------------

def _job(**settings) -> dict:
    return {"name": "daily-ingest", "tags": {}, **settings}


def _cluster(pool: str | None = None) -> dict:
    cluster = {"sparkVersion": "15.4.x-scala2.12", "numWorkers": 2}
    return {**cluster, "instancePoolId": pool} if pool else cluster


@BOTH
def test_job_cluster_without_a_pool_is_a_violation_naming_the_cluster(build):
    job = _job(jobClusters=[{"jobClusterKey": "main", "newCluster": _cluster()}],
               tasks=[{"taskKey": "notebook", "jobClusterKey": "main"}])
    found = violations(rules.validate_compute_on_pools, build(JOB, job))
    assert len(found) == 1
    assert "'daily-ingest'" in found[0] and "jobClusters[0].newCluster" in found[0]
    assert "jobsDefaultPool in Pulumi.test.yaml" in found[0]


@BOTH
def test_job_clusters_on_a_pool_pass_even_before_the_pool_id_is_known(build):
    job = _job(jobClusters=[{"jobClusterKey": "main", "newCluster": _cluster(UNKNOWN)},
                            {"jobClusterKey": "big", "newCluster": _cluster("0101-pool-general")}])
    assert violations(rules.validate_compute_on_pools, build(JOB, job)) == []


def test_task_with_its_own_cluster_outside_a_pool_is_a_violation_and_existing_clusters_pass():
    job = _job(tasks=[
        {"taskKey": "a", "existingClusterId": "0101-123456-abcdef"},
        {"taskKey": "b", "newCluster": _cluster()},
        {"taskKey": "c", "forEachTask": {"inputs": "[1,2]", "task": {"taskKey": "c1", "newCluster": _cluster()}}},
        {"taskKey": "d", "sqlTask": {"warehouseId": "abc", "query": {"queryId": "q"}}},
    ])
    found = violations(rules.validate_compute_on_pools, offline_args(JOB, job))
    assert [message.split(": the cluster at ")[1].split(" ")[0] for message in found] == [
        "tasks[1].newCluster", "tasks[2].forEachTask.task.newCluster"]


def test_single_cluster_job_outside_a_pool_is_a_violation():
    found = violations(rules.validate_compute_on_pools, offline_args(JOB, _job(newCluster=_cluster())))
    assert len(found) == 1 and "newCluster" in found[0]


def _linked_service(**properties) -> dict:
    return {"linkedServiceName": "ls_databricks", "factoryName": "adf-dbp-test",
            "properties": {"type": "AzureDatabricks", "domain": "https://adb-1.azuredatabricks.net", **properties}}


@BOTH
def test_databricks_linked_service_on_new_job_clusters_is_a_violation(build):
    service = _linked_service(newClusterVersion="15.4.x-scala2.12", newClusterNumOfWorker="2",
                              newClusterNodeType="Standard_DS3_v2")
    found = violations(rules.validate_compute_on_pools, build(LINKED_SERVICE, service))
    assert len(found) == 1 and "'ls_databricks'" in found[0] and "instancePoolId" in found[0]


@BOTH
@pytest.mark.parametrize("compute", [
    {"instancePoolId": {"type": "AzureKeyVaultSecret", "secretName": "databricks-pool-general",
                        "store": {"referenceName": "ls_keyvault", "type": "LinkedServiceReference"}}},
    {"instancePoolId": "0101-120000-pool-abc", "newClusterVersion": "15.4.x-scala2.12"},
    {"existingClusterId": "0101-123456-abcdef"},
    {"instancePoolId": UNKNOWN},
], ids=["pool-from-key-vault", "pool-id", "existing-cluster", "pool-known-after-deployment"])
def test_databricks_linked_service_on_a_pool_or_existing_cluster_passes(build, compute):
    assert violations(rules.validate_compute_on_pools, build(LINKED_SERVICE, _linked_service(**compute))) == []


def _as_written(properties: dict) -> dict:
    """A linked service published as written (ARM's generic resource): typeProperties stay nested."""
    return {"resourceProviderNamespace": "Microsoft.DataFactory", "parentResourcePath": "factories/adf-dbp-test",
            "resourceType": "linkedservices", "resourceName": "ls_team", "apiVersion": "2018-06-01",
            "properties": {"type": "AzureDatabricks", "typeProperties": properties}}


@BOTH
def test_a_databricks_linked_service_published_as_written_is_held_to_pools_too(build):
    on_job_clusters = _as_written({"domain": "https://adb-1.azuredatabricks.net", "newClusterNumOfWorker": "2"})
    found = violations(rules.validate_compute_on_pools, build("azure-native:resources:Resource", on_job_clusters))
    assert len(found) == 1 and "'ls_team'" in found[0]
    on_pool = _as_written({"domain": "https://adb-1.azuredatabricks.net", "instancePoolId": "0101-pool"})
    assert violations(rules.validate_compute_on_pools, build("azure-native:resources:Resource", on_pool)) == []


def test_other_linked_services_need_no_pool():
    vault = {"properties": {"type": "AzureKeyVault", "baseUrl": "https://kv-dbp-test.vault.azure.net/"}}
    assert violations(rules.validate_compute_on_pools, offline_args(LINKED_SERVICE, vault)) == []


# --- Idle pools ---------------------------------------------------------------------------------------------

def _pool(min_idle) -> dict:
    return {"instancePoolName": "general", "minIdleInstances": min_idle, "maxCapacity": 4,
            "customTags": {"project": "databricks-platform", "stage": "test", "managed-by": "pulumi"}}


@BOTH
@pytest.mark.parametrize("stage", ["dev", "test"])
def test_pool_idling_outside_prod_is_a_violation_naming_min_idle(build, stage):
    found = violations(rules.validate_pools_idle_at_zero, build(INSTANCE_POOL, _pool(1), stage=stage))
    assert len(found) == 1
    assert "minIdle: 0 for pool 'general'" in found[0]
    assert f"databricks-platform:instancePools in Pulumi.{stage}.yaml" in found[0]


@BOTH
def test_pool_may_idle_in_prod_and_idle_at_zero_anywhere(build):
    assert violations(rules.validate_pools_idle_at_zero, build(INSTANCE_POOL, _pool(2), stage="prod")) == []
    assert violations(rules.validate_pools_idle_at_zero, build(INSTANCE_POOL, _pool(0), stage="test")) == []


def test_prod_stages_come_from_the_policy_config():
    args = offline_args(INSTANCE_POOL, _pool(1), stage="perf", config={"prodStages": ["prod", "perf"]})
    assert violations(rules.validate_pools_idle_at_zero, args) == []


# --- Schedules and triggers ---------------------------------------------------------------------------------

def _scheduled(pause_status=None, field="schedule") -> dict:
    runner = {"quartzCronExpression": "0 30 2 * * ?", "timezoneId": "UTC"} if field == "schedule" else {}
    if field == "trigger":
        runner = {"fileArrival": {"url": "abfss://landing@st.dfs.core.windows.net/in/"}}
    if pause_status is not None:
        runner["pauseStatus"] = pause_status
    return _job(**{field: runner})


@BOTH
def test_running_job_schedule_outside_prod_is_a_violation_naming_the_pause_key(build):
    found = violations(rules.validate_job_schedules_paused, build(JOB, _scheduled("UNPAUSED")))
    assert found == [
        "Job 'daily-ingest': its schedule would run in stage test (pause_status UNPAUSED): set "
        "databricks-platform:jobSchedulePauseStatus in Pulumi.test.yaml to PAUSED; if it is PAUSED already, the "
        "job's template writes its own schedule.pause_status: remove it there (the stage's value is then used) or "
        "write {{ vars.schedule_pause_status | tojson }}."]


@pytest.mark.parametrize("field", ["schedule", "continuous", "trigger"])
def test_job_schedule_continuous_run_or_trigger_without_pause_status_runs_and_is_a_violation(field):
    found = violations(rules.validate_job_schedules_paused, offline_args(JOB, _scheduled(None, field), stage="dev"))
    assert len(found) == 1 and "(no pause_status: UNPAUSED)" in found[0] and f"{field}.pause_status" in found[0]


@BOTH
def test_paused_schedule_outside_prod_and_running_schedule_in_prod_pass(build):
    assert violations(rules.validate_job_schedules_paused, build(JOB, _scheduled("PAUSED"))) == []
    assert violations(rules.validate_job_schedules_paused, build(JOB, _scheduled("UNPAUSED"), stage="prod")) == []


def test_job_without_schedule_passes():
    assert violations(rules.validate_job_schedules_paused, offline_args(JOB, _job())) == []


@BOTH
def test_data_factory_trigger_started_outside_prod_is_a_violation_naming_both_trigger_state_keys(build):
    state = {"trigger_name": "tr_nightly", "desired_state": "Started"}
    found = violations(rules.validate_data_factory_triggers_stopped, build(TRIGGER_RUNTIME_STATE, state))
    assert found == [
        "Data Factory trigger 'tr_nightly' would be started in stage test, running its pipelines on a schedule "
        "nobody expects there: in Pulumi.test.yaml, set databricks-platform:dataFactoryTriggerStates to "
        "{'tr_nightly': Stopped} (a per-trigger state wins), or leave 'tr_nightly' out of it and set "
        "databricks-platform:dataFactoryTriggersStarted to false (or remove it: false is the default)."]


@BOTH
def test_data_factory_trigger_stopped_outside_prod_or_started_in_prod_passes(build):
    assert violations(rules.validate_data_factory_triggers_stopped,
                      build(TRIGGER_RUNTIME_STATE, {"desired_state": "Stopped"})) == []
    assert violations(rules.validate_data_factory_triggers_stopped,
                      build(TRIGGER_RUNTIME_STATE, {"desired_state": "Started"}, stage="prod")) == []


def test_each_runs_outside_prod_rule_judges_only_its_own_resources():
    started = offline_args(TRIGGER_RUNTIME_STATE, {"trigger_name": "tr", "desired_state": "Started"})
    assert violations(rules.validate_job_schedules_paused, started) == []
    running = offline_args(JOB, _scheduled("UNPAUSED"))
    assert violations(rules.validate_data_factory_triggers_stopped, running) == []


# --- Reserved tags ------------------------------------------------------------------------------------------

RESERVED = {"project": "databricks-platform", "stage": "test", "managed-by": "pulumi"}


@BOTH
def test_azure_resource_missing_a_reserved_tag_is_a_violation_naming_it_and_where_tags_come_from(build):
    vault = {"vaultName": "kv-dbp-test", "tags": {"project": "databricks-platform", "stage": "test"}}
    found = violations(rules.validate_reserved_tags, build(KEY_VAULT, vault))
    assert found == [
        "Vault 'kv-dbp-test' lacks the reserved tag(s) managed-by in tags: the program gives every resource it "
        "declares the stage's tags (core.config StageConfig.all_tags: project, stage and managed-by, then your own); "
        "pass them as its tags where it is declared."]


def test_taggable_azure_resource_declared_without_tags_is_a_violation():
    factory = {"factoryName": "adf-dbp-test", "location": "westeurope"}
    found = violations(rules.validate_reserved_tags, offline_args("azure-native:datafactory:Factory", factory))
    assert len(found) == 1 and "project, stage, managed-by" in found[0]


@pytest.mark.parametrize("resource_type", ["azure-native:authorization:RoleAssignment", LINKED_SERVICE,
                                           "azure-native:datafactory:Trigger", "pulumi:providers:databricks"])
def test_resources_that_take_no_tags_need_none(resource_type):
    assert violations(rules.validate_reserved_tags, offline_args(resource_type, {"name": "x"})) == []


def test_an_adf_object_published_as_written_needs_no_tags_though_the_generic_resource_takes_them():
    pipeline = {"resourceProviderNamespace": "Microsoft.DataFactory", "parentResourcePath": "factories/adf-dbp-test",
                "resourceType": "pipelines", "resourceName": "pl_x", "properties": {"activities": []}}
    assert violations(rules.validate_reserved_tags, offline_args("azure-native:resources:Resource", pipeline)) == []


@BOTH
def test_databricks_jobs_and_pools_carry_the_reserved_tags(build):
    job = violations(rules.validate_reserved_tags, build(JOB, _job(tags={"stage": "test", "managed-by": "pulumi"})))
    assert job == [
        "Job 'daily-ingest' lacks the reserved tag(s) project in tags: add them to the \"tags\" of the template that "
        "renders the job (its definition's template:, by default templates/notebook_job.json.j2), e.g. \"tags\": "
        '{"project": "databricks-platform", "stage": {{ stage | tojson }}, "managed-by": "pulumi"}.']
    pool = {"instancePoolName": "general", "customTags": {"stage": "test"}}
    assert len(violations(rules.validate_reserved_tags, build(INSTANCE_POOL, pool))) == 1
    assert violations(rules.validate_reserved_tags, build(JOB, _job(tags=RESERVED))) == []
    assert violations(rules.validate_reserved_tags, build(INSTANCE_POOL, {"customTags": RESERVED})) == []


def test_a_stage_tag_that_names_another_stage_is_a_violation_saying_it_comes_from_code_not_config():
    tags = {**RESERVED, "stage": "prod"}
    vault = {"vaultName": "kv-dbp-test", "tags": tags}
    found = violations(rules.validate_reserved_tags, offline_args(KEY_VAULT, vault, stage="test"))
    assert found == [
        "Vault 'kv-dbp-test' is tagged stage='prod' in tags but belongs to stage 'test': the program tags every "
        "resource with its stack's stage, and no stack setting can change it: the code that declares this resource "
        "passes other tags; pass the stage's tags (StageConfig.all_tags)."]


def test_a_job_or_its_cluster_tagged_with_another_stage_is_told_to_write_the_stage_from_the_template():
    cluster = {**_cluster("pool-id"), "customTags": {"stage": "prod"}}
    job = _job(tags={**RESERVED, "stage": "dev"}, jobClusters=[{"jobClusterKey": "main", "newCluster": cluster}])
    found = violations(rules.validate_reserved_tags, offline_args(JOB, job, stage="test"))
    assert found == [
        "Job 'daily-ingest' is tagged stage='dev' in tags but belongs to stage 'test': the job's template writes "
        "stage 'dev' itself; write \"stage\": {{ stage | tojson }} in its tags instead, or leave the tag out.",
        "Job 'daily-ingest' is tagged stage='prod' in jobClusters[0].newCluster.customTags but belongs to stage "
        "'test': the job's template writes stage 'prod' itself; write \"stage\": {{ stage | tojson }} in its "
        "cluster custom_tags instead, or leave the tag out."]
    fine = _job(tags=RESERVED, jobClusters=[{"newCluster": {**cluster, "customTags": {"stage": "test", "x": "y"}}}])
    assert violations(rules.validate_reserved_tags, offline_args(JOB, fine, stage="test")) == []


def test_an_empty_reserved_tag_is_missing():
    found = violations(rules.validate_reserved_tags, offline_args(KEY_VAULT, {"tags": {**RESERVED, "project": ""}}))
    assert len(found) == 1 and "project" in found[0]


def test_required_tags_come_from_the_policy_config_and_own_tags_are_set_in_the_stack_file():
    vault = {"vaultName": "kv-dbp-test", "tags": RESERVED}
    args = offline_args(KEY_VAULT, vault, config={"requiredTags": ["project", "costCenter"]})
    found = violations(rules.validate_reserved_tags, args)
    assert found == [
        "Vault 'kv-dbp-test' lacks the tag(s) costCenter the policy requires (requiredTags) in tags: set them in "
        "databricks-platform:tags in Pulumi.test.yaml; the program puts the stack's tags on every resource it "
        "declares."]


# --- Plaintext secrets --------------------------------------------------------------------------------------

SHAPES = {
    "a Databricks personal access token": h.databricks_pat,
    "an Entra ID client secret": h.entra_client_secret,
    "a storage account key": h.storage_connection_string,
    "a SAS token": h.sas_token,
    "a password in a connection string": h.sql_connection_string,
    "a private key": h.private_key_pem,
    "a JSON Web Token": h.jwt,
}


@BOTH
@pytest.mark.parametrize("kind", list(SHAPES))
def test_credential_in_plaintext_is_a_violation_naming_where_and_what_but_never_the_value(build, kind):
    credential = SHAPES[kind]()
    job = _job(tasks=[{"taskKey": "t", "notebookTask": {"notebookPath": "/Shared/x",
                                                        "baseParameters": {"source": credential}}}])
    found = violations(rules.validate_no_plaintext_secrets, build(JOB, job))
    assert len(found) == 1, found
    assert "tasks[0].notebookTask.baseParameters.source" in found[0] and kind in found[0]
    assert "{{secrets/<scope>/<key>}}" in found[0]
    assert credential not in found[0] and credential[-12:] not in found[0]


def test_bare_storage_account_key_and_credential_named_inputs_are_violations():
    service = {"linkedServiceName": "ls_sql", "properties": {
        "type": "AzureSqlDatabase", "servicePrincipalId": "00000000-0000-0000-0000-000000000001",
        "servicePrincipalKey": h.storage_account_key(),
        "password": {"type": "SecureString", "value": "A" + h.databricks_pat()[4:]},
        # The random part mixes letters and digits, as generated secrets do: eight hex digits alone are all
        # letters or all digits one time in forty, and then read as a name (e.g. a-plain-client-secret-deadbeef).
        "clientSecret": "a-plain-client-secret-x9" + h.databricks_pat()[4:10]}}
    found = violations(rules.validate_no_plaintext_secrets, offline_args(LINKED_SERVICE, service))
    assert len(found) == 3
    assert any("properties.servicePrincipalKey" in m and "a storage account key" in m for m in found)
    assert any("properties.password.value" in m and "inline SecureString" in m for m in found)
    assert any("properties.clientSecret" in m and "AzureKeyVaultSecret" in m for m in found)


def test_credential_in_tags_says_to_remove_it_from_the_tags_config():
    found = violations(rules.validate_no_plaintext_secrets,
                       offline_args(KEY_VAULT, {"tags": {**RESERVED, "note": h.databricks_pat()}}))
    assert len(found) == 1 and "databricks-platform:tags in Pulumi.test.yaml" in found[0]


@pytest.mark.parametrize("value", [
    {"type": "AzureKeyVaultSecret", "secretName": "databricks-pat",
     "store": {"referenceName": "ls_keyvault", "type": "LinkedServiceReference"}},
    {"type": "SecureString", "value": "@pipeline().parameters.token"},
    {"type": "SecureString", "value": "**********"},
    "@{linkedService().accessToken}",
    "{{secrets/platform/databricks-pat}}",
    "@Microsoft.KeyVault(SecretUri=https://kv-dbp-test.vault.azure.net/secrets/databricks-pat/)",
    "https://kv-dbp-test.vault.azure.net/secrets/databricks-pat",
    "$(DATABRICKS_TOKEN)",
    "[secret]",
    "short",
], ids=["key-vault-reference", "expression", "masked", "adf-expression", "databricks-secret", "app-setting",
        "vault-uri", "pipeline-variable", "offline-masked", "too-short"])
def test_references_to_secrets_are_not_violations(value):
    service = {"properties": {"type": "AzureDatabricks", "accessToken": value, "password": value}}
    assert violations(rules.validate_no_plaintext_secrets, offline_args(LINKED_SERVICE, service)) == []


def test_ordinary_inputs_of_a_stage_are_not_violations():
    inputs = {
        "scope": "/subscriptions/00000000-0000-0000-0000-000000005b5c/resourceGroups/rg-dbp-test",
        "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/4633458b-17de-408a-b874-0445c86b69e6",
        "principalId": "00000000-0000-0000-0000-0000000000b1", "comment": "pulumi databricks-platform/test/pat",
        "quartzCronExpression": "0 30 2 * * ?", "notebookPath": "/Shared/sales/01_ingest_pos_orders",
        "connectionString": "Server=tcp:sql.example.net;Database=sales;Authentication=Active Directory Default",
        "secretName": "databricks-pat", "tokenLifetimeDays": "90", "passwordPolicy": "strict-rotation",
    }
    assert violations(rules.validate_no_plaintext_secrets, offline_args(JOB, inputs)) == []


def test_the_pat_in_its_key_vault_secret_is_where_it_belongs():
    # pulumi-policy hands the secret-marked PAT to the rule in plain text: the vault's value must not count.
    secret = {"secret_name": "databricks-pat", "vault_uri": "https://kv-dbp-test.vault.azure.net/",
              "value": h.wire_secret(h.databricks_pat()), "content_type": "Databricks PAT"}
    args = pack_args("pulumi-python:dynamic/databricks-platform:VaultSecret", secret)
    assert args.props["value"].startswith("dapi"), "pulumi-policy shows secrets in plain text"
    assert violations(rules.validate_no_plaintext_secrets, args) == []
    # Anywhere else on a secret resource, a plaintext credential is still found.
    misplaced = {**secret, "content_type": h.databricks_pat()}
    assert len(violations(rules.validate_no_plaintext_secrets, pack_args(
        "pulumi-python:dynamic/databricks-platform:VaultSecret", misplaced))) == 1


def test_a_secret_marked_value_elsewhere_is_still_shown_in_plain_text_and_found():
    parameters = {"token": h.wire_secret(h.databricks_pat())}
    job = _job(tasks=[{"taskKey": "t", "notebookTask": {"baseParameters": parameters}}])
    assert len(violations(rules.validate_no_plaintext_secrets, pack_args(JOB, job))) == 1
    # The offline plan masks it, so offline it is not a finding: a Pulumi secret is never in the plan.
    masked = _job(tasks=[{"taskKey": "t", "notebookTask": {"baseParameters": {"token": "[secret]"}}}])
    assert violations(rules.validate_no_plaintext_secrets, offline_args(JOB, masked)) == []


# --- Unknown values -----------------------------------------------------------------------------------------

UNKNOWN_CASES = [
    (rules.validate_pat_lifetime, DATABRICKS_PAT, {"lifetime_days": UNKNOWN}),
    (rules.validate_vault_rbac, KEY_VAULT, {"properties": {"enableRbacAuthorization": UNKNOWN}}),
    (rules.validate_vault_rbac, KEY_VAULT, {"properties": UNKNOWN}),
    (rules.validate_vault_purge_protection, KEY_VAULT, {"properties": {"enablePurgeProtection": UNKNOWN}}),
    (rules.validate_workspace_no_public_ip, WORKSPACE, {"parameters": {"enableNoPublicIp": UNKNOWN}}),
    (rules.validate_compute_on_pools, JOB, {"jobClusters": [{"newCluster": UNKNOWN}], "tasks": UNKNOWN}),
    (rules.validate_compute_on_pools, LINKED_SERVICE, {"properties": UNKNOWN}),
    (rules.validate_pools_idle_at_zero, INSTANCE_POOL, {"minIdleInstances": UNKNOWN}),
    (rules.validate_job_schedules_paused, JOB, {"schedule": {"pauseStatus": UNKNOWN}, "trigger": UNKNOWN}),
    (rules.validate_data_factory_triggers_stopped, TRIGGER_RUNTIME_STATE, {"desired_state": UNKNOWN}),
    (rules.validate_reserved_tags, KEY_VAULT, {"tags": UNKNOWN}),
    (rules.validate_reserved_tags, JOB, {"tags": {"project": UNKNOWN, "stage": UNKNOWN, "managed-by": "pulumi"}}),
    (rules.validate_no_plaintext_secrets, JOB, {"parameters": [{"default": UNKNOWN}], "password": UNKNOWN}),
]


@pytest.mark.parametrize(("validate", "resource_type", "inputs"), UNKNOWN_CASES,
                         ids=[f"{case[0].__name__}-{index}" for index, case in enumerate(UNKNOWN_CASES)])
def test_values_known_only_after_deployment_never_make_a_violation(validate, resource_type, inputs):
    # Under the pack, touching an unknown raises UnknownValueError; no rule may let that escape.
    assert violations(validate, pack_args(resource_type, inputs)) == []
    offline = h.offline_args(resource_type, _computed(inputs))
    assert violations(validate, offline) == []


def _computed(value):
    if isinstance(value, dict):
        return {key: _computed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_computed(item) for item in value]
    return "<computed>" if value == UNKNOWN else value


# --- what the review of the guard rails found --------------------------------------------------------------

@BOTH
@pytest.mark.parametrize(("cap", "violated"), [("90", False), ("30", False), ("365", True), ("730", True)])
def test_a_workspace_that_lets_tokens_outlive_the_cap_is_a_violation_naming_its_key(build, cap, violated):
    conf = build("databricks:index/workspaceConf:WorkspaceConf",
                 {"customConfig": {"enableTokensConfig": "true", "maxTokenLifetimeDays": cap}})
    found = violations(rules.validate_pat_lifetime, conf)
    assert bool(found) == violated, found
    if violated:
        assert "databricks-platform:workspaceMaxTokenLifetimeDays in Pulumi.test.yaml" in found[0]


def test_a_notebook_whose_text_holds_a_token_is_a_violation_naming_the_file_and_line(tmp_path, monkeypatch):
    """The notebook's text is what the Notebook resource uploads: a token there reaches every workspace."""
    pat = h.databricks_pat()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "leaky.py").write_text(f"# Databricks notebook source\ntoken = '{pat}'\n")
    (tmp_path / "notebooks" / "clean.py").write_text("# Databricks notebook source\nprint('hi')\n")
    monkeypatch.chdir(tmp_path)  # the program's directory, where the engine and the offline plan run it
    leaky = offline_args("databricks:index/notebook:Notebook", {"source": "notebooks/leaky.py", "path": "/Shared/x"})
    [found] = violations(rules.validate_no_plaintext_secrets, leaky)
    assert "notebooks/leaky.py line 2" in found and "Databricks personal access token" in found
    assert pat not in found
    clean = offline_args("databricks:index/notebook:Notebook", {"source": "notebooks/clean.py", "path": "/Shared/y"})
    assert violations(rules.validate_no_plaintext_secrets, clean) == []


@pytest.mark.parametrize("inputs", [
    {"connectionString": "@concat('Server=tcp:', linkedService().server, ';User ID=loader;Password=', '')"},
    {"baseParameters": {"token": "databricks-pat"}},
    {"secret": "kv-scope/sql-password"},
    {"secret": "0b5e1e2c-9f0e-4a52-9a43-2f6b3c1d7e11"},
    {"connectionString": "Server=x;Password={{secrets/scope/sql}};"},
], ids=["adf-expression", "secret-name", "secret-path", "guid", "databricks-secret-reference"])
def test_names_references_and_expressions_are_not_plaintext_secrets(inputs):
    assert violations(rules.validate_no_plaintext_secrets, offline_args(LINKED_SERVICE, inputs)) == []


@pytest.mark.parametrize(("inputs", "kind"), [
    ({"parameters": {"api_key": {"type": "SecureString", "defaultValue": "hunter2-hunter2"}}}, "SecureString"),
    ({"connectionString": "Driver={ODBC};Server=x;Uid=u;Pwd={S3cr3t!};"}, "password in a connection string"),
    ({"connectionString": "Server=x;Password=@Home2024!;"}, "password in a connection string"),
    ({"headers": {"Authorization": "Bearer abcdefghijklmnop0123456789"}}, "bearer token"),
    ({"headers": {"x-api-key": "0123456789abcdef0123456789abcdef"}}, "named 'x-api-key'"),
], ids=["securestring-default", "odbc-braces", "at-sign-password", "bearer-header", "api-key-header"])
def test_plaintext_credentials_in_every_form_are_found(inputs, kind):
    [found] = violations(rules.validate_no_plaintext_secrets, offline_args(LINKED_SERVICE, inputs))
    assert kind in found
