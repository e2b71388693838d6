"""The factory in each stage, under the offline plan (the real __main__.py): what a reviewer checks.

Each published object is compared with its file through the only transformation the program makes:
azure-native's flattening of typeProperties (the test's own implementation, not the program's), dropping
the read-only properties ADF Studio writes, and the stage's overrides.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, STAGES, copy_program, one, plan_json, resources_of, run_plan

STUDIO = Path(__file__).parent / "fixtures" / "factory-studio"
DF = "azure-native:datafactory:"
# kind folder -> (resource type, name argument)
RESOURCES = {
    "linkedService": ("LinkedService", "linkedServiceName"), "dataset": ("Dataset", "datasetName"),
    "dataflow": ("DataFlow", "dataFlowName"), "pipeline": ("Pipeline", "pipelineName"),
    "trigger": ("Trigger", "triggerName"), "integrationRuntime": ("IntegrationRuntime", "integrationRuntimeName"),
    "credential": ("CredentialOperation", "credentialName"), "adfcdc": ("ChangeDataCapture", "changeDataCaptureName"),
}
READ_ONLY = {"trigger": {"runtimeState"}, "pipeline": {"lastPublishTime"}}
NESTED_ACTIVITIES = ("activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities")
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
FACTORY_PRINCIPAL = "00000000-0000-0000-0000-0000000000fa"  # the offline plan's stand-in factory identity


def _flatten(value: dict) -> dict:
    flat = {key: item for key, item in value.items() if key != "typeProperties"}
    flat.update(value.get("typeProperties", {}))
    return flat


def _activity(activity: dict) -> dict:
    flat = _flatten(activity)
    for key in NESTED_ACTIVITIES:
        if key in flat:
            flat[key] = [_activity(item) for item in flat[key]]
    if "cases" in flat:
        flat["cases"] = [{**case, "activities": [_activity(a) for a in case["activities"]]} for case in flat["cases"]]
    return flat


def expected_inputs(folder: str, document: dict) -> dict:
    """What the plan must show for one file: flattened, read-only properties dropped (no overrides)."""
    properties = {key: item for key, item in document["properties"].items() if key not in READ_ONLY.get(folder, ())}
    if folder == "pipeline":
        properties["activities"] = [_activity(a) for a in properties.get("activities", [])]
        return properties
    return {"properties": _flatten(properties)}


def casefolded(value):
    """Keys in lower case: ADF reads JSON keys case-insensitively, and the program gives a key written in
    another case (ADF Studio writes ExecuteDataFlow's ``dataflow``) the API's spelling (``dataFlow``)."""
    if isinstance(value, dict):
        return {key.lower(): casefolded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [casefolded(item) for item in value]
    return value


def published(plan: dict, folder: str, name: str) -> dict:
    resource_type, name_argument = RESOURCES[folder]
    found = [r for r in resources_of(plan, DF + resource_type) if r["inputs"][name_argument] == name]
    assert len(found) == 1, f"stack {plan['stack']}: {folder}/{name} published {len(found)} times"
    inputs = dict(found[0]["inputs"])
    for own in ("factoryName", "resourceGroupName", name_argument):
        inputs.pop(own)
    return inputs


def factory_files(root: Path) -> list[tuple[str, dict]]:
    return [(path.parent.name, json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(root.glob("*/*.json")) if path.parent.name in RESOURCES]


@pytest.fixture(scope="module")
def studio_plan(tmp_path_factory) -> dict:
    """The test stage publishing the ADF Studio fixture folder instead of the shipped examples."""
    program = copy_program(tmp_path_factory.mktemp("studio"))
    shutil.rmtree(program / "factory")
    shutil.copytree(STUDIO, program / "factory")
    stack = program / "Pulumi.test.yaml"
    stack.write_text(stack.read_text().split("  # factory/")[0]  # the shipped examples' overrides
                     # The folder's scoring notebook lives in a Databricks Repo, not in notebooks/.
                     + "  databricks-platform:externalNotebooks: [/Repos/ml]\n")
    return plan_json("test", "--fill-computed", program_dir=program)


def test_dev_declares_the_git_linked_factory_and_publishes_no_factory_objects(deployed_plans):
    plan = deployed_plans["dev"]
    factory = one(plan, DF + "Factory")["inputs"]
    assert factory["repoConfiguration"]["rootFolder"] == "/factory"
    assert "globalParameters" not in factory, "git mode publishes global parameters in dev"
    children = [r for r in plan["resources"] if r["type"].startswith(DF) and r["type"] != DF + "Factory"]
    assert children == [], [f"{r['type']} {r['name']}" for r in children]
    # The export command still gets dev's linked services, with dev's values.
    exported = plan["outputs"]["data_factory_linked_services"]
    assert exported["ls_key_vault"]["properties"]["typeProperties"]["baseUrl"] == "https://kv-dbp-dev.vault.azure.net/"
    assert "[secret]" not in json.dumps(exported), "only Key Vault references, never a secret value"


@pytest.mark.parametrize("stage", ["test", "prod"])
def test_published_stages_get_both_program_linked_services_with_their_own_values(deployed_plans, stage):
    plan = deployed_plans[stage]
    vault = published(plan, "linkedService", "ls_key_vault")["properties"]
    assert vault == {"annotations": ["databricks-platform: program-owned linked service"], "type": "AzureKeyVault",
                     "baseUrl": f"https://kv-dbp-{stage}.vault.azure.net/"}
    databricks = published(plan, "linkedService", "ls_databricks")["properties"]
    assert databricks["domain"] == plan["outputs"]["workspace_url"]
    store = {"referenceName": "ls_key_vault", "type": "LinkedServiceReference"}
    assert databricks["accessToken"] == {"type": "AzureKeyVaultSecret", "store": store, "secretName": "databricks-pat"}
    assert databricks["instancePoolId"] == {"type": "AzureKeyVaultSecret", "store": store,
                                            "secretName": plan["outputs"]["pool_secret_names"]["general"]}
    assert "existingClusterId" not in databricks and "newClusterNodeType" not in databricks
    names = ("data_factory_key_vault_linked_service", "data_factory_databricks_linked_service")
    assert [plan["outputs"][key] for key in names] == ["ls_key_vault", "ls_databricks"]


@pytest.mark.parametrize("stage", ["test", "prod"])
def test_every_shipped_factory_file_is_published_as_written_with_the_stages_overrides(deployed_plans, stage):
    plan = deployed_plans[stage]
    files = factory_files(REPO / "factory")
    assert {folder for folder, _ in files} == {"pipeline", "trigger"}
    for folder, document in files:
        expected = expected_inputs(folder, document)
        if document["name"] == "pl_run_sales_job":  # Pulumi.<stage>.yaml: the stage's own job id
            expected["activities"][0]["jobId"] = plan["outputs"]["job_ids"]["sales-pipeline"]
        assert published(plan, folder, document["name"]) == expected, f"factory/{folder}/{document['name']}.json"
    factory = one(plan, DF + "Factory")["inputs"]
    assert factory["globalParameters"] == {"environment": {"type": "string", "value": stage}}
    assert plan["outputs"]["data_factory_pipelines"] == ["pl_jit_notebook_chain", "pl_run_sales_job"]
    assert plan["outputs"]["data_factory_published_as_written"] == {}, "the shipped examples fit the typed resources"


def test_the_just_in_time_chain_runs_four_notebooks_on_the_programs_linked_service(deployed_plans):
    activities = published(deployed_plans["test"], "pipeline", "pl_jit_notebook_chain")["activities"]
    assert [a["notebookPath"] for a in activities] == [f"/Shared/jit/0{i}" for i in
                                                        ("1_extract", "2_transform", "3_enrich", "4_publish")]
    assert {a["linkedServiceName"]["referenceName"] for a in activities} == {"ls_databricks"}
    assert [a["dependsOn"] for a in activities[1:]] == [
        [{"activity": before, "dependencyConditions": ["Succeeded"]}] for before in ("Extract", "Transform", "Enrich")]
    for activity in activities:
        assert activity["baseParameters"]["run_date"] == {"value": "@pipeline().parameters.run_date",
                                                          "type": "Expression"}


def test_the_studio_folder_publishes_every_object_as_written(studio_plan):
    files = factory_files(STUDIO)
    assert len(files) == 27  # 2 runtimes, 1 credential, 6 linked services, 6 datasets, 2 data flows, ...
    for folder, document in files:
        if folder == "adfcdc":
            continue  # PascalCase as ADF Studio writes it: see the next test
        inputs, expected = published(studio_plan, folder, document["name"]), expected_inputs(folder, document)
        assert casefolded(inputs) == casefolded(expected), f"factory/{folder}/{document['name']}.json"
    # Same values, the API's spelling (the provider matches names exactly; ADF Studio writes "dataflow").
    [clean] = [a for a in published(studio_plan, "pipeline", "pl_transform_orders")["activities"]
               if a["type"] == "ExecuteDataFlow"]
    assert clean["dataFlow"]["referenceName"] == "df_clean_orders" and "dataflow" not in clean
    factory = one(studio_plan, DF + "Factory")["inputs"]
    source = json.loads((STUDIO / "factory" / "adf-contoso-dev.json").read_text())
    assert factory["globalParameters"] == source["properties"]["globalParameters"]


def test_the_studio_folders_managed_network_and_private_endpoint_are_in_the_plan(studio_plan):
    [network] = [r for r in resources_of(studio_plan, "azure-native:resources:Resource")
                 if r["inputs"]["resourceType"] == "managedVirtualNetworks"]
    assert (network["inputs"]["resourceName"], network["inputs"]["properties"]) == (
        "default", {"preventDataExfiltration": False})
    [endpoint] = resources_of(studio_plan, DF + "ManagedPrivateEndpoint")
    source = json.loads((STUDIO / "managedVirtualNetwork" / "default" / "managedPrivateEndpoint" /
                         "pe-adls-lake.json").read_text())
    assert endpoint["inputs"]["managedVirtualNetworkName"] == "default"
    assert endpoint["inputs"]["properties"] == source["properties"]
    runtime = published(studio_plan, "integrationRuntime", "ir-azure-dataflows")
    assert runtime["properties"]["managedVirtualNetwork"]["referenceName"] == "default"
    # The plan says what went as written and why, for a reviewer of the PR.
    reasons = studio_plan["outputs"]["data_factory_published_as_written"]
    assert reasons["managedVirtualNetwork/default"] == ["azure-native has no typed resource for a managed virtual "
                                                        "network"]


def test_the_factory_carries_the_user_assigned_identity_its_credential_names(studio_plan, deployed_plans):
    credential = json.loads((STUDIO / "credential" / "cred_uami_ingest.json").read_text())
    uami = credential["properties"]["typeProperties"]["resourceId"]
    identity = one(studio_plan, DF + "Factory")["inputs"]["identity"]
    assert identity == {"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {uami: {}}}
    shipped = one(deployed_plans["test"], DF + "Factory")["inputs"]["identity"]
    assert shipped == {"type": "SystemAssigned"}, "no credential, no user-assigned identity"


def test_change_data_capture_written_in_pascal_case_is_published_in_the_apis_spelling(studio_plan):
    cdc = published(studio_plan, "adfcdc", "cdc_erp_orders")
    source = json.loads((STUDIO / "adfcdc" / "cdc_erp_orders.json").read_text())["properties"]
    assert set(cdc) == {"sourceConnectionsInfo", "targetConnectionsInfo", "policy", "allowVNetOverride", "status"}
    assert cdc["policy"] == source["Policy"]
    [source_info] = cdc["sourceConnectionsInfo"]
    assert source_info["connection"] == source["SourceConnectionsInfo"][0]["Connection"]
    [entity] = source_info["sourceEntities"]
    original = source["SourceConnectionsInfo"][0]["SourceEntities"][0]
    assert entity == {"name": original["name"], **original["properties"]}, "azure-native flattens a table's properties"
    assert cdc["targetConnectionsInfo"][0]["dataMapperMappings"] == \
        source["TargetConnectionsInfo"][0]["DataMapperMappings"]


def test_triggers_are_published_without_devs_runtime_state(studio_plan):
    for name in ("tr_hourly_ingest", "tr_nightly"):
        assert "runtimeState" not in published(studio_plan, "trigger", name)["properties"]


def _plan_with(tmp_path: Path, stack_lines: str, *args: str) -> dict:
    program = copy_program(tmp_path / "program")
    stack = program / "Pulumi.test.yaml"
    stack.write_text(stack.read_text() + stack_lines)
    return plan_json("test", "--fill-computed", *args, program_dir=program)


def test_msi_auth_grants_the_factory_contributor_on_the_workspace_and_uses_no_pat(tmp_path, deployed_plans):
    plan = _plan_with(tmp_path, "  databricks-platform:dataFactoryDatabricksAuth: msi\n")
    databricks = published(plan, "linkedService", "ls_databricks")["properties"]
    assert databricks["authentication"] == "MSI"
    assert databricks["workspaceResourceId"] == plan["outputs"]["workspace_resource_id"]
    assert "accessToken" not in databricks
    [grant] = [r["inputs"] for r in resources_of(plan, "azure-native:authorization:RoleAssignment")
               if r["inputs"]["roleDefinitionId"].endswith(CONTRIBUTOR)]
    assert (grant["principalId"], grant["principalType"]) == (FACTORY_PRINCIPAL, "ServicePrincipal")
    assert grant["scope"] == plan["outputs"]["workspace_resource_id"]
    # pat (the default): no role on the workspace for the factory
    for stage in STAGES:
        assert not [r for r in resources_of(deployed_plans[stage], "azure-native:authorization:RoleAssignment")
                    if r["inputs"]["roleDefinitionId"].endswith(CONTRIBUTOR)]


def test_export_files_round_trip_through_git_unchanged(tmp_path, deployed_plans):
    """The files the export command writes publish as the program's own linked services with the stage's
    values, and exporting a stage reproduces exactly what it publishes."""
    test_plan = deployed_plans["test"]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(test_plan["outputs"]))
    program = copy_program(tmp_path / "program")
    # As an ADF author of dev would: export dev's linked services into the git folder.
    dev_outputs = tmp_path / "dev-outputs.json"
    dev_outputs.write_text(json.dumps(deployed_plans["dev"]["outputs"]))
    export = [sys.executable, "-m", "ops", "export-linked-services", "--factory-dir", str(program / "factory")]
    result = subprocess.run([*export, "--outputs", str(dev_outputs)], cwd=REPO, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    written = sorted(path.name for path in (program / "factory" / "linkedService").iterdir())
    assert written == ["ls_databricks.json", "ls_key_vault.json"]
    assert "kv-dbp-dev" in (program / "factory" / "linkedService" / "ls_key_vault.json").read_text()

    with_files = plan_json("test", "--fill-computed", program_dir=program)
    for name in ("ls_key_vault", "ls_databricks"):
        assert published(with_files, "linkedService", name) == published(test_plan, "linkedService", name), name
        exported = test_plan["outputs"]["data_factory_linked_services"][name]
        assert published(test_plan, "linkedService", name) == expected_inputs("linkedService", exported), name


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                   check=True, capture_output=True)


def test_against_shows_a_changed_pipelines_changed_paths(tmp_path):
    repo = copy_program(tmp_path / "repo")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    pipeline = repo / "factory" / "pipeline" / "pl_jit_notebook_chain.json"
    document = json.loads(pipeline.read_text())
    document["properties"]["activities"][1]["typeProperties"]["notebookPath"] = "/Shared/jit/02_transform_v2"
    pipeline.write_text(json.dumps(document, indent="\t"))
    # The change adds the notebook it now runs: an activity must run a deployed notebook.
    shutil.copy(repo / "notebooks" / "jit" / "02_transform.py", repo / "notebooks" / "jit" / "02_transform_v2.py")
    result = run_plan("--stack", "test", "--against", "main", program_dir=repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Offline plan diff of stack test against main: 1 to add, 3 to change, 0 to remove")
    assert "+ databricks:index/notebook:Notebook  notebooks-jit-02-transform-v2" in result.stdout
    assert "~ azure-native:datafactory:Pipeline  factory-objects-pl-pl_jit_notebook_chain" in result.stdout
    # The trigger that runs the pipeline is stopped before the update and set to its state after it.
    for gate in ("stopper", "runtime-state"):
        assert f"factory-objects-tr-tr_daily_jit_chain-{gate}\n      fingerprint: " in result.stdout
    assert 'activities[1].notebookPath: "/Shared/jit/02_transform" => "/Shared/jit/02_transform_v2"' in result.stdout


def test_a_broken_factory_folder_fails_every_stages_plan_with_one_line_per_problem(tmp_path):
    program = copy_program(tmp_path / "program")
    pipeline = program / "factory" / "pipeline" / "pl_jit_notebook_chain.json"
    document = json.loads(pipeline.read_text())
    broken = copy.deepcopy(document)
    broken["properties"]["activities"][0]["linkedServiceName"]["referenceName"] = "ls_databrick"
    pipeline.write_text(json.dumps(broken))
    (program / "factory" / "pipeline" / "pl_empty.json").write_text("")
    (program / "factory" / "dataset").mkdir()
    (program / "factory" / "dataset" / "ds_orders.json").write_text(json.dumps({"name": "ds_order", "properties": {}}))
    for stage in STAGES:
        result = run_plan("--stack", stage, program_dir=program)
        assert result.returncode == 1, f"{stage}: {result.stdout[-500:]}"
        lines = result.stderr.strip().splitlines()
        assert "Traceback" not in result.stderr
        assert [line.split(":")[0] for line in lines] == [
            "factory/dataset/ds_orders.json", "factory/pipeline/pl_empty.json",
            "factory/pipeline/pl_jit_notebook_chain.json"], lines
        assert "refers to the linked service 'ls_databrick'" in lines[-1]
        assert "did you mean 'ls_databricks'" in lines[-1]


def test_prod_wants_its_triggers_started_and_other_stages_stopped():
    from core.config import PROJECT, parse_stage_config
    from offline_plan.stack_config import load_stack_config

    for stage, started in (("dev", False), ("test", False), ("prod", True)):
        raw = load_stack_config(REPO, stage).config
        config = parse_stage_config({k: v for k, v in raw.items() if k.startswith(f"{PROJECT}:")}, stack=stage)
        assert config.data_factory_triggers_started is started, f"Pulumi.{stage}.yaml"

