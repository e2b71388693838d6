"""The factory components under Pulumi's mocks: what the plan JSON does not show (depends_on, replacement
order) and the seam the trigger runtime-state provider builds on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from components.factory_linked_services import CONTRIBUTOR, FactoryLinkedServices, FactoryLinkedServicesArgs
from components.factory_objects import FactoryObjects, FactoryObjectsArgs, FactoryValues
from core.config import PROJECT, parse_stage_config
from core.factory import load_factory, owned_linked_services

STUDIO = Path(__file__).parent / "fixtures" / "factory-studio"
ADF_CHILDREN = ("LinkedService", "Dataset", "DataFlow", "Pipeline", "Trigger", "IntegrationRuntime",
                "CredentialOperation", "ChangeDataCapture", "ManagedPrivateEndpoint")


class _Echo(pulumi_mocks.Mocks):
    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        return f"/mock/{args.name}", dict(args.inputs)

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict:
        return {}


class _Recorder(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.requests: dict[str, Any] = {}

    def RegisterResource(self, request):
        self.requests[request.name] = request
        return super().RegisterResource(request)


def _config(**keys: str):
    return parse_stage_config({f"{PROJECT}:{k}": v for k, v in keys.items()}, stack="test")


def declare(folder_dir: Path = STUDIO, *, publish: bool = True, **keys: str
            ) -> tuple[_Recorder, dict]:
    """Declare the program's linked services and factory/ objects; return the requests and the results."""
    config = _config(**keys)
    folder = load_factory(folder_dir, config, job_names=["sales-pipeline"], relative_to=folder_dir.parent)
    monitor = _Recorder(_Echo())
    pulumi.runtime.set_mocks(monitor.mocks, project="platform", stack="test", preview=False, monitor=monitor)
    results: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        secret = pulumi.CustomResource("test:keyvault:Secret", "pat-secret", {})
        values = FactoryValues(stage="test", vault_uri="https://kv-dbp-test.vault.azure.net/", key_vault_name="kv",
                               workspace_url="https://adb-1.azuredatabricks.net", workspace_resource_id="/ws/dbw",
                               pool_ids={"general": "pool-1"}, job_ids={"sales-pipeline": "42"})
        linked = FactoryLinkedServices("svc", FactoryLinkedServicesArgs(
            services=owned_linked_services(config), folder=folder, publish=publish, factory_name="adf-dbp-test",
            resource_group_name="rg", values=values, databricks_auth=config.data_factory_databricks_auth,
            factory_principal_id="factory-principal", workspace_resource_id="/ws/dbw", workspace_name="dbw-dbp-test",
            subscription_id="sub", depends_on=[secret]))
        objects = FactoryObjects("objs", FactoryObjectsArgs(
            folder=folder, publish=publish, factory_name="adf-dbp-test", resource_group_name="rg",
            subscription_id="sub", values=values, linked_services=linked.resources,
            deployer_tenant_id="tenant", deployer_client_id="client", deployer_credential="azure_cli"))
        results["triggers"] = objects.triggers
        fingerprints = {name: runtime.fingerprint for name, runtime in objects.triggers.items()}
        return pulumi.Output.all(pipelines=objects.pipeline_names, documents=linked.documents,
                                 fingerprints=pulumi.Output.all(**fingerprints) if fingerprints else {}
                                 ).apply(results.update)

    run()
    return monitor, results


def dependency_names(request) -> set[str]:
    return {urn.rsplit("::", 1)[1] for urn in request.dependencies}


def test_every_reference_becomes_a_dependency_and_nothing_else_is_one():
    """Besides references, only trigger stoppers are dependencies (the test below checks which)."""
    monitor, _ = declare()
    folder = load_factory(STUDIO, _config(), relative_to=STUDIO.parent)
    checked = 0
    for obj in folder.objects:
        name = f"svc-{obj.name.lower()}" if obj.owned else f"objs-{obj.kind.role}-{obj.name.lower()}"
        request = monitor.requests[name]
        expected = {(f"svc-{ref[1]}" if folder.get(ref).owned else f"objs-{folder.get(ref).kind.role}-{ref[1]}")
                    for ref in obj.references}
        if obj.owned:
            expected.add("pat-secret")  # the program's own linked services wait for the secrets they read
        references = {dependency for dependency in dependency_names(request) if not dependency.endswith("-stopper")}
        assert references == expected, f"{obj.source}"
        checked += 1
    assert checked == 31
    hourly = monitor.requests["objs-tr-tr_hourly_transform"]
    assert dependency_names(hourly) == {"objs-pl-pl_transform_orders", "objs-tr-tr_hourly_ingest",
                                        "objs-tr-tr_hourly_transform-stopper"}


def test_adf_objects_are_deleted_before_they_are_replaced_and_named_by_lower_case_name():
    monitor, _ = declare()
    children = [r for r in monitor.requests.values()
                if (r.type.split(":")[-1] in ADF_CHILDREN and r.type.startswith("azure-native:datafactory:"))
                or r.type == "azure-native:resources:Resource"]
    assert len(children) == 31
    for request in children:
        assert request.deleteBeforeReplaceDefined and request.deleteBeforeReplace, request.name
        assert request.name == request.name.lower(), request.name


def test_a_git_linked_stage_declares_no_factory_objects_and_no_trigger_seam():
    monitor, results = declare(publish=False)
    declared = [r.type for r in monitor.requests.values()
                if r.type.startswith("azure-native:datafactory:") or r.type == "azure-native:resources:Resource"]
    assert declared == []
    assert results["triggers"] == {}
    assert set(results["documents"]) == {"ls_key_vault", "ls_databricks"}, "the export still gets its JSON"


def test_the_trigger_seam_gives_the_provider_what_it_needs():
    _, results = declare(dataFactoryTriggersStarted="true",
                               dataFactoryTriggerStates=json.dumps({"tr_landing_file_arrived": "Stopped"}))
    runtimes = results["triggers"]
    assert sorted(runtimes) == ["tr_hourly_ingest", "tr_hourly_transform", "tr_landing_file_arrived", "tr_nightly"]
    assert {name: r.desired_state for name, r in runtimes.items()} == {
        "tr_hourly_ingest": "Started", "tr_hourly_transform": "Started", "tr_landing_file_arrived": "Stopped",
        "tr_nightly": "Started"}
    nightly = runtimes["tr_nightly"]
    assert nightly.trigger_name == "tr_nightly" and nightly.resource_group_name == "rg"
    assert nightly.subscription_id == "sub"
    assert isinstance(nightly.trigger, pulumi.CustomResource)
    assert len(nightly.pipelines) == 5, "its two pipelines and the three pl_orders_end_to_end runs"
    assert all(len(value) == 64 for value in results["fingerprints"].values())


def _fingerprints(tmp_path: Path, change) -> dict[str, str]:
    folder = tmp_path / "factory"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(STUDIO, folder)
    change(folder)
    return declare(folder)[1]["fingerprints"]


def test_a_trigger_fingerprint_changes_exactly_when_the_trigger_or_a_pipeline_it_runs_changes(tmp_path):
    def edit(relative: str, update):
        def apply(folder: Path) -> None:
            path = folder / relative
            document = json.loads(path.read_text())
            update(document["properties"])
            path.write_text(json.dumps(document))
        return apply

    base = _fingerprints(tmp_path, lambda folder: None)
    assert base == _fingerprints(tmp_path, lambda folder: None), "deterministic"
    # pl_housekeeping runs under tr_nightly (through pl_orders_end_to_end) and tr_landing_file_arrived.
    housekeeping = _fingerprints(tmp_path, edit("pipeline/pl_housekeeping.json",
                                                lambda p: p.update(concurrency=2)))
    assert {n for n in base if base[n] != housekeeping[n]} == {"tr_nightly", "tr_landing_file_arrived"}
    trigger = _fingerprints(tmp_path, edit("trigger/tr_hourly_ingest.json",
                                           lambda p: p["typeProperties"].update(maxConcurrency=2)))
    assert {n for n in base if base[n] != trigger[n]} == {"tr_hourly_ingest"}
    dataset = _fingerprints(tmp_path, edit("dataset/ds_orders_json.json", lambda p: p.update(description="x")))
    assert dataset == base, "a dataset is not a trigger's definition"


@pytest.mark.parametrize("auth", ["pat", "msi"])
def test_msi_makes_the_factory_contributor_on_the_workspace_before_the_linked_service(auth):
    monitor, results = declare(dataFactoryDatabricksAuth=auth)
    grants = [r for r in monitor.requests.values() if r.type == "azure-native:authorization:RoleAssignment"]
    databricks = monitor.requests["svc-ls_databricks"]
    if auth == "pat":
        assert grants == []
        assert "accessToken" in results["documents"]["ls_databricks"]["properties"]["typeProperties"]
        return
    [grant] = grants
    fields = grant.object.fields
    assert fields["roleDefinitionId"].string_value.endswith(f"/roleDefinitions/{CONTRIBUTOR}")
    assert fields["scope"].string_value == "/ws/dbw"
    assert fields["principalId"].string_value == "factory-principal"
    assert grant.name in dependency_names(databricks)
    assert "accessToken" not in results["documents"]["ls_databricks"]["properties"]["typeProperties"]


def test_trigger_gates_stop_before_the_trigger_and_its_pipelines_and_set_the_state_after_them():
    monitor, results = declare()
    order = list(monitor.requests)
    for trigger in ("tr_nightly", "tr_hourly_ingest"):
        stopper = f"objs-tr-{trigger}-stopper"
        assert monitor.requests[stopper].type == "pulumi-python:dynamic/databricks-platform:TriggerStopper"
        assert order.index(stopper) < order.index(f"objs-tr-{trigger}"), "the stopper comes first"
        assert stopper in dependency_names(monitor.requests[f"objs-tr-{trigger}"])
    # pl_housekeeping runs under tr_nightly (through pl_orders_end_to_end) and tr_landing_file_arrived.
    housekeeping = dependency_names(monitor.requests["objs-pl-pl_housekeeping"])
    assert {"objs-tr-tr_nightly-stopper", "objs-tr-tr_landing_file_arrived-stopper"} <= housekeeping
    assert "objs-tr-tr_hourly_ingest-stopper" not in housekeeping
    assert not {name for name in dependency_names(monitor.requests["objs-ds-ds_orders_json"])
                if name.endswith("-stopper")}, "only triggers and the pipelines they run wait for a stopper"
    nightly = results["triggers"]["tr_nightly"]
    state = monitor.requests["objs-tr-tr_nightly-runtime-state"]
    assert state.type == "pulumi-python:dynamic/databricks-platform:TriggerRuntimeState"
    assert dependency_names(state) == {
        "objs-tr-tr_nightly", *(f"objs-pl-{name}" for name in nightly.pipeline_names)}
    assert nightly.pipeline_names == ("pl_housekeeping", "pl_ingest_orders", "pl_load_erp_customers",
                                      "pl_orders_end_to_end", "pl_transform_orders")


def _network_folder(root: Path) -> Path:
    """A factory/ with a managed virtual network, a private endpoint in it, and a dataset whose typeProperties
    the typed resource would collide on (pulumi/pulumi-azure-native#2006)."""
    def write(relative: str, document: dict) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document))
    write("managedVirtualNetwork/default.json", {"name": "default", "properties": {"preventDataExfiltration": True}})
    write("managedVirtualNetwork/default/managedPrivateEndpoint/pe-sql.json", {"name": "pe-sql", "properties": {
        "privateLinkResourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/sql",
        "groupId": "sqlServer"}})
    write("linkedService/ls_sql.json", {"name": "ls_sql", "properties": {
        "type": "AzureSqlDatabase", "typeProperties": {"connectionString": "Server=tcp:sql;Database=sales"}}})
    write("dataset/ds_orders.json", {"name": "ds_orders", "properties": {
        "type": "AzureSqlTable", "schema": [{"name": "id", "type": "int"}],
        "linkedServiceName": {"referenceName": "ls_sql", "type": "LinkedServiceReference"},
        "typeProperties": {"schema": "sales", "table": "orders"}}})
    return root


def _inputs(request) -> dict:
    from google.protobuf import json_format

    return json_format.MessageToDict(request.object)


def test_what_the_typed_resources_cannot_carry_reaches_adf_whole_through_arms_generic_resource(tmp_path):
    monitor, _ = declare(_network_folder(tmp_path / "factory"))
    dataset = monitor.requests["objs-ds-ds_orders"]
    assert dataset.type == "azure-native:resources:Resource"
    inputs = _inputs(dataset)
    assert (inputs["resourceProviderNamespace"], inputs["parentResourcePath"], inputs["resourceType"],
            inputs["resourceName"], inputs["apiVersion"]) == (
        "Microsoft.DataFactory", "factories/adf-dbp-test", "datasets", "ds_orders", "2018-06-01")
    assert inputs["properties"]["schema"] == [{"name": "id", "type": "int"}]
    assert inputs["properties"]["typeProperties"] == {"schema": "sales", "table": "orders"}
    assert "tags" not in inputs, "ADF's objects take no tags"
    assert dependency_names(dataset) == {"objs-ls-ls_sql"}
    # Moving between the typed and the generic resource is one resource replaced, not a create and a late delete.
    assert "azure-native:datafactory:Dataset" in [alias.spec.type for alias in dataset.aliases]
    typed = monitor.requests["objs-ls-ls_sql"]
    assert typed.type == "azure-native:datafactory:LinkedService"
    assert "azure-native:resources:Resource" in [alias.spec.type for alias in typed.aliases]


def test_a_managed_network_is_published_as_written_and_kept_and_its_endpoint_is_typed_inside_it(tmp_path):
    monitor, _ = declare(_network_folder(tmp_path / "factory"))
    network = monitor.requests["objs-mvnet-default"]
    assert network.type == "azure-native:resources:Resource"
    assert _inputs(network)["resourceType"] == "managedVirtualNetworks"
    assert _inputs(network)["properties"] == {"preventDataExfiltration": True}
    assert network.retainOnDelete, "ADF has no delete for a managed network: it goes with the factory"
    endpoint = monitor.requests["objs-mpe-pe-sql"]
    assert endpoint.type == "azure-native:datafactory:ManagedPrivateEndpoint"
    assert _inputs(endpoint)["managedVirtualNetworkName"] == "default"
    assert _inputs(endpoint)["properties"]["groupId"] == "sqlServer"
    assert not endpoint.retainOnDelete
    assert dependency_names(endpoint) == {"objs-mvnet-default"}
