"""The stage under mocks: principals and admin membership, pools and their Key Vault secrets, jobs on pools."""

from __future__ import annotations

import pytest

from tests.conftest import copy_program, one, plan_json, resources_of, run_plan

PRINCIPALS = """
  databricks-platform:workspacePrincipals:
    - applicationId: 11111111-1111-1111-1111-111111111111
      displayName: sp-data-factory
      entitlements: {allowClusterCreate: true}
    - applicationId: 22222222-2222-2222-2222-222222222222
      displayName: sp-platform-admins
      admin: true
      entitlements: {databricksSqlAccess: true}
  databricks-platform:instancePools:
    - {name: general, nodeType: Standard_DS3_v2, maxCapacity: 4, sparkVersion: 15.4.x-scala2.12}
    - {name: etl-spot, nodeType: Standard_E8ds_v5, maxCapacity: 10, minIdle: 1, idleMinutes: 30,
       availability: SPOT_AZURE, spotBidMaxPrice: -1, secretName: etl-pool-id}
"""


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> dict:
    program = copy_program(tmp_path_factory.mktemp("program"))
    stack_file = program / "Pulumi.test.yaml"
    stack_file.write_text(stack_file.read_text() + PRINCIPALS)
    return plan_json("test", "--fill-computed", program_dir=program)


def test_configured_principals_are_registered_with_their_entitlements(staged):
    principals = {r["inputs"]["applicationId"]: r["inputs"] for r in
                  resources_of(staged, "databricks:index/servicePrincipal:ServicePrincipal")}
    assert set(principals) == {"11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"}
    factory_sp = principals["11111111-1111-1111-1111-111111111111"]
    assert factory_sp["displayName"] == "sp-data-factory"
    assert factory_sp["allowClusterCreate"] is True and factory_sp["workspaceAccess"] is True
    assert factory_sp["databricksSqlAccess"] is False
    assert principals["22222222-2222-2222-2222-222222222222"]["databricksSqlAccess"] is True


def test_only_admins_join_the_workspace_admins_group(staged):
    members = resources_of(staged, "databricks:index/groupMember:GroupMember")
    assert len(members) == 1
    member = members[0]["inputs"]
    # The group id comes from the `admins` look-up; the member is the admin principal's Databricks id.
    assert member["groupId"] == "standin-admins-group-id"
    assert member["memberId"].endswith("/access-22222222-2222-2222-2222-222222222222")


def test_pools_follow_config_and_default_to_no_idle_instances(staged):
    pools = {r["inputs"]["instancePoolName"]: r["inputs"] for r in
             resources_of(staged, "databricks:index/instancePool:InstancePool")}
    assert pools["general"]["minIdleInstances"] == 0
    assert pools["general"]["azureAttributes"] == {"availability": "ON_DEMAND_AZURE"}
    assert pools["general"]["preloadedSparkVersions"] == ["15.4.x-scala2.12"]
    spot = pools["etl-spot"]
    assert spot["azureAttributes"] == {"availability": "SPOT_AZURE", "spotBidMaxPrice": -1}
    assert (spot["minIdleInstances"], spot["maxCapacity"], spot["idleInstanceAutoterminationMinutes"]) == (1, 10, 30)
    assert spot["customTags"]["stage"] == "test"


def test_each_pool_id_is_written_to_key_vault_for_data_factory(staged):
    secrets = {r["inputs"]["secret_name"]: r["inputs"]
               for r in resources_of(staged, "pulumi-python:dynamic/databricks-platform:VaultSecret")}
    assert secrets["databricks-pool-general"]["value"].endswith("/pools-general")
    assert secrets["etl-pool-id"]["value"].endswith("/pools-etl-spot")
    assert staged["outputs"]["pool_secret_names"] == {"general": "databricks-pool-general", "etl-spot": "etl-pool-id"}
    assert set(staged["outputs"]["pool_ids"]) == {"general", "etl-spot"}


def test_every_job_cluster_runs_on_a_configured_pool(staged):
    pool_ids = set(staged["outputs"]["pool_ids"].values())
    jobs = resources_of(staged, "databricks:index/job:Job")
    assert {j["inputs"]["name"] for j in jobs} == {"daily-ingest", "sales-pipeline", "nightly-sales-report"}
    for job in jobs:
        for cluster in job["inputs"]["jobClusters"]:
            new_cluster = cluster["newCluster"]
            assert new_cluster["instancePoolId"] in pool_ids, f"{job['name']} is not on a pool"
            assert new_cluster["driverInstancePoolId"] in pool_ids
    assert set(staged["outputs"]["job_ids"]) == {"daily-ingest", "sales-pipeline", "nightly-sales-report"}


def test_db_dsc_definition_becomes_a_notebook_task_with_its_parameters(staged):
    jobs = resources_of(staged, "databricks:index/job:Job")
    job = next(j["inputs"] for j in jobs if j["name"] == "jobs-daily-ingest")
    task = job["tasks"][0]
    assert task["notebookTask"]["notebookPath"] == "/Shared/ingest/daily_erp_extract"
    assert task["notebookTask"]["baseParameters"] == {"source": "sap-erp", "target_layer": "bronze"}
    assert job["jobClusters"][0]["newCluster"]["numWorkers"] == 2


def _schedule_status(plan: dict) -> str:
    [report] = [j for j in resources_of(plan, "databricks:index/job:Job") if j["name"] == "jobs-nightly-report"]
    return report["inputs"]["schedule"]["pauseStatus"]


def test_schedules_are_paused_outside_prod_and_run_in_prod(staged, deployed_plans):
    assert _schedule_status(staged) == "PAUSED"
    assert _schedule_status(deployed_plans["dev"]) == "PAUSED"
    assert _schedule_status(deployed_plans["test"]) == "PAUSED"
    assert _schedule_status(deployed_plans["prod"]) == "UNPAUSED", "Pulumi.prod.yaml must run job schedules"


def test_workspace_contents_use_the_workspace_provider_with_no_secret_in_config(staged):
    provider = one(staged, "pulumi:providers:databricks")["inputs"]
    assert provider["host"] == "https://adb-1234567890123456.7.azuredatabricks.net"
    assert provider["azureWorkspaceResourceId"].endswith("/databricks-workspace")
    # The stack files sign in through az, as the release pipeline's AzureCLI@2 steps do.
    assert provider["authType"] == "azure-cli"
    assert "azureClientSecret" not in provider and "token" not in provider


def test_offline_plan_names_every_bad_job_file_in_one_run(tmp_path):
    program = copy_program(tmp_path / "program")
    (program / "jobs" / "broken.json").write_text('{"name": "x", "workers": 1,\n  "notebookpath": }\n')
    (program / "jobs" / "no_pool.json").write_text(
        '{"name": "y", "workers": 1, "notebookpath": "/Shared/y", "pool": "gpu"}\n')
    (program / "jobs" / "unmatched.yaml").write_text("name: z\nworkers: 1\nnotebookpath: /Shared/z\npar_a: a\n")
    result = run_plan("--stack", "dev", program_dir=program)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    for name in ("jobs/broken.json:2", "jobs/no_pool.json", "jobs/unmatched.yaml"):
        assert any(line.startswith(name) for line in lines), f"{name} not reported: {lines}"
