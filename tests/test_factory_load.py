"""factory/ read and validated before anything is declared: every kind of bad input names its file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from core.config import PROJECT, parse_stage_config
from core.errors import UserError
from core.factory import OWNED_ANNOTATION, Template, load_factory
from core.factory.kinds import LINKED_SERVICE, PIPELINE, TRIGGER
from core.safe_load import MAX_DEPTH
from core.safe_load import MAX_FILE_BYTES as MAX_BYTES

STUDIO = Path(__file__).parent / "fixtures" / "factory-studio"
JOBS = ("sales-pipeline", "daily-ingest")


def config(stack: str = "test", **keys: Any):
    raw = {f"{PROJECT}:{key}": value if isinstance(value, str) else json.dumps(value) for key, value in keys.items()}
    return parse_stage_config(raw, stack=stack)


def write(root: Path, relative: str, document: Any) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent="\t"), encoding="utf-8")
    return path


def load(root: Path, **keys: Any):
    return load_factory(root, config(**keys), job_names=JOBS, relative_to=root.parent)


def published(root: Path, **keys: Any) -> dict[str, Any]:
    """The folder's objects by ADF name (the program's own linked services included)."""
    return {obj.name: obj for obj in load(root, **keys).objects}


def problems(root: Path, **keys: Any) -> list[str]:
    with pytest.raises(UserError) as caught:
        load(root, **keys)
    return caught.value.problems


def ref(name: str, kind: str) -> dict:
    return {"referenceName": name, "type": kind}


def wait_pipeline(name: str, *, extra: list | None = None) -> dict:
    return {"name": name, "properties": {"activities": [
        {"name": "Wait", "type": "Wait", "dependsOn": [], "userProperties": [],
         "typeProperties": {"waitTimeInSeconds": 1}},
        *(extra or []),
    ], "annotations": []}}


def blob_service(name: str) -> dict:
    return {"name": name, "properties": {"annotations": [], "type": "AzureBlobStorage",
                                         "typeProperties": {"serviceEndpoint": "https://st.blob.core.windows.net/"}}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "factory"
    folder.mkdir()
    return folder


# -- what a good folder gives ---------------------------------------------------------------------------


def test_studio_folder_loads_every_object_after_the_objects_it_references():
    folder = load_factory(STUDIO, config(), relative_to=STUDIO.parent)
    files = {path.stem for path in STUDIO.glob("*/*.json") if path.parent.name != "factory"}
    names = [obj.name for obj in folder.objects]
    assert files <= set(names), f"not loaded: {files - set(names)}"
    position = {obj.key: index for index, obj in enumerate(folder.objects)}
    for obj in folder.objects:
        for reference in obj.references:
            assert position[reference] < position[obj.key], f"{obj.source} comes before {reference}"


def test_references_are_found_wherever_adf_writes_them_and_expressions_are_not_references():
    folder = load_factory(STUDIO, config(), relative_to=STUDIO.parent)
    by_name = {obj.name: obj for obj in folder.objects}
    # a Key Vault secret's store, a credential, an integration runtime, a flowlet, a tumbling-window dependency
    assert ("linkedService", "ls_key_vault") in by_name["ls_sql_sales"].references
    assert ("credential", "cred_uami_ingest") in by_name["ls_adls_lake"].references
    assert ("integrationRuntime", "ir-selfhosted-onprem") in by_name["ls_sqlserver_erp"].references
    assert ("dataflow", "fl_standardise_currency") in by_name["df_clean_orders"].references
    assert ("trigger", "tr_hourly_ingest") in by_name["tr_hourly_transform"].references
    # Execute Pipeline chains and the datasets of activities nested in ForEach / IfCondition
    assert set(by_name["pl_orders_end_to_end"].references) == {
        ("pipeline", "pl_ingest_orders"), ("pipeline", "pl_transform_orders"), ("pipeline", "pl_housekeeping")}
    assert ("dataset", "ds_orders_parquet") in by_name["pl_ingest_orders"].references
    assert ("dataset", "ds_orders_csv_landing") in by_name["pl_housekeeping"].references


def test_expression_reference_names_are_neither_dependencies_nor_missing(root):
    write(root, "pipeline/pl_dynamic.json", wait_pipeline("pl_dynamic", extra=[
        {"name": "Lookup", "type": "Lookup", "dependsOn": [], "userProperties": [], "typeProperties": {
            "source": {"type": "JsonSource"},
            "dataset": {"referenceName": "@pipeline().parameters.dataset", "type": "DatasetReference"}}},
        {"name": "Notebook", "type": "SynapseNotebook", "dependsOn": [], "userProperties": [], "typeProperties": {
            "notebook": {"referenceName": {"value": "@pipeline().parameters.nb", "type": "Expression"},
                         "type": "NotebookReference"}}},
    ]))
    [pipeline] = [obj for obj in load(root).objects if obj.name == "pl_dynamic"]
    assert pipeline.references == ()


def test_known_non_object_files_are_ignored_explicitly_and_listed(root):
    write(root, "publish_config.json", {"publishBranch": "factory/adf_publish"})
    write(root, "arm-template-parameters-definition.json", {})
    write(root, "README.md", "# factory\n")
    write(root, ".gitignore", "*.tmp\n")
    write(root, "templates/Copy data/manifest.json", {})
    ignored = load(root).ignored
    assert [line.split(":")[0] for line in ignored] == [
        "factory/README.md", "factory/arm-template-parameters-definition.json", "factory/publish_config.json",
        "factory/templates/"]


def test_global_parameters_come_from_the_factory_file_and_other_factory_settings_are_not_applied(root):
    write(root, "factory/adf-dbp-dev.json", {
        "name": "adf-dbp-dev", "location": "westeurope", "identity": {"type": "SystemAssigned"},
        "properties": {"globalParameters": {"env": {"type": "string", "value": "dev"}},
                       "globalConfigurations": {"PipelineBillingEnabled": "true"}}})
    assert load(root).global_parameters == {"env": {"type": "string", "value": "dev"}}


def test_trigger_states_follow_the_stage_default_and_per_trigger_exceptions(root):
    write(root, "pipeline/pl_a.json", wait_pipeline("pl_a"))
    for name in ("tr_a", "tr_b"):
        write(root, f"trigger/{name}.json", {"name": name, "properties": {
            "annotations": [], "runtimeState": "Started", "type": "ScheduleTrigger",
            "pipelines": [{"pipelineReference": ref("pl_a", "PipelineReference")}],
            "typeProperties": {"recurrence": {"frequency": "Day", "interval": 1,
                                              "startTime": "2026-01-01T00:00:00Z"}}}})
    assert load(root).trigger_states == {"tr_a": "Stopped", "tr_b": "Stopped"}, "dev's runtimeState must not count"
    started = load(root, dataFactoryTriggersStarted="true", dataFactoryTriggerStates={"TR_B": "Stopped"})
    assert started.trigger_states == {"tr_a": "Started", "tr_b": "Stopped"}
    [trigger] = [obj for obj in started.objects if obj.name == "tr_a"]
    assert "runtimeState" not in trigger.arguments["properties"]


def test_a_trigger_this_stage_wants_started_must_run_a_pipeline(root):
    write(root, "trigger/tr_empty.json", {"name": "tr_empty", "properties": {
        "type": "ScheduleTrigger", "pipelines": [],
        "typeProperties": {"recurrence": {"frequency": "Day", "interval": 1, "startTime": "2026-01-01T00:00:00Z"}}}})
    assert load(root).trigger_states == {"tr_empty": "Stopped"}, "a stopped trigger without pipelines is fine"
    [problem] = problems(root, dataFactoryTriggersStarted="true")
    assert problem.startswith("factory/trigger/tr_empty.json: the trigger runs no pipeline, so ADF cannot start it")
    assert "dataFactoryTriggerStates {tr_empty: Stopped}" in problem


@pytest.mark.parametrize(("parameter", "expected"), [
    ({"type": "Int", "value": "7"}, "env.value: a Int parameter needs a whole number, got string '7'"),
    ({"type": "Bool", "value": 1}, "env.value: a Bool parameter needs true or false, got integer 1"),
    ({"type": "int", "value": True}, "env.value: a int parameter needs a whole number, got boolean true"),
    ({"type": "Array", "value": {}}, "env.value: a Array parameter needs a list, got an object"),
    ({"type": "Text", "value": "x"}, "env.type: must be one of String, Int, Float, Bool, Array, Object, got 'Text'"),
], ids=["int-as-text", "bool-as-int", "bool-for-int", "object-for-array", "unknown-type"])
def test_a_global_parameter_whose_value_does_not_fit_its_type_is_named(root, parameter, expected):
    write(root, "factory/adf-dev.json", {"name": "adf-dev", "properties": {"globalParameters": {"env": parameter}}})
    [problem] = problems(root)
    assert problem == f"factory/factory/adf-dev.json: properties.globalParameters.{expected}"


@pytest.mark.parametrize(("resource_id", "expected"), [
    ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-a", None),
    ("/SUBSCRIPTIONS/s/resourcegroups/rg/providers/microsoft.managedidentity/userassignedidentities/UAMI-A", None),
    ("uami-a", "properties.typeProperties.resourceId: the ARM id of a user-assigned identity"),
    ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "got string"),
], ids=["id", "same-id-other-case", "bare-name", "not-an-identity"])
def test_credentials_name_the_user_assigned_identities_the_factory_must_carry(root, resource_id, expected):
    for name in ("cred_a", "cred_b"):
        write(root, f"credential/{name}.json", {"name": name, "properties": {
            "type": "ManagedIdentity", "typeProperties": {"resourceId": resource_id if name == "cred_a" else
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-a"}}})
    if expected is None:
        [identity] = load(root).user_assigned_identities
        assert identity.lower() == resource_id.lower(), "one identity, however each credential spells it"
    else:
        [problem] = problems(root)
        assert problem.startswith("factory/credential/cred_a.json: ") and expected in problem


def test_a_symbolic_link_loop_is_named_not_followed(root):
    (root / "pipeline").mkdir()
    (root / "pipeline" / "pl_a.json").symlink_to(root / "pipeline" / "pl_b.json")
    (root / "pipeline" / "pl_b.json").symlink_to(root / "pipeline" / "pl_a.json")
    found = problems(root)
    assert found and all("symbolic link" in problem and "loop" in problem for problem in found), found


# -- one test per class of bad input ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('{"name": "pl_x", "properties": {', "pl_x.json:1:33: invalid JSON"),
    ('{"name": "pl_x", "properties": {"concurrency": NaN}}', "properties.concurrency: NaN is not a JSON number"),
    ('{"name": "pl_x", "properties": {"concurrency": Infinity}}', "properties.concurrency: Infinity is not a JSON"),
    ('{"name": "pl_x", "name": "pl_y", "properties": {}}', "duplicate key 'name'"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} levels"),
], ids=["syntax", "nan", "infinity", "duplicate-key", "too-deep"])
def test_invalid_json_is_refused_naming_the_file(root, text, expected):
    write(root, "pipeline/pl_x.json", text)
    [problem] = problems(root)
    assert problem.startswith("factory/pipeline/pl_x.json") and expected in problem


def test_a_file_over_the_size_cap_is_refused_without_reading_it_all(root):
    write(root, "pipeline/pl_x.json", '{"name": "pl_x", "properties": {"description": "' + "x" * MAX_BYTES + '"}}')
    [problem] = problems(root)
    assert problem.startswith("factory/pipeline/pl_x.json: larger than 4 MiB") and "it is not read" in problem


def test_a_file_that_is_not_utf8_is_refused(root):
    (root / "pipeline").mkdir()
    (root / "pipeline" / "pl_x.json").write_bytes(b'{"name": "pl_x", "properties": {"description": "\xe9"}}')
    [problem] = problems(root)
    assert problem.startswith("factory/pipeline/pl_x.json:1:49: not UTF-8 text")


def test_a_fifo_reached_through_a_symlink_is_refused_not_read(root):
    (root / "pipeline").mkdir()
    os.mkfifo(root / "pipeline" / ".fifo")  # a dotfile: only the symlink to it is a candidate object
    (root / "pipeline" / "pl_fifo.json").symlink_to(root / "pipeline" / ".fifo")
    assert problems(root) == [
        "factory/pipeline/pl_fifo.json: is a FIFO (named pipe), not a regular file; it is not read"]


def test_a_symlink_to_dev_zero_is_refused_without_reading_it(root):
    (root / "pipeline").mkdir()
    (root / "pipeline" / "pl_zero.json").symlink_to("/dev/zero")
    assert problems(root) == ["factory/pipeline/pl_zero.json: is a symbolic link to /dev/zero, outside factory/"]


def test_a_symlink_leading_out_of_the_folder_is_refused(root, tmp_path):
    outside = write(tmp_path, "elsewhere/secret.json", wait_pipeline("pl_out"))
    (root / "pipeline").mkdir()
    (root / "pipeline" / "pl_out.json").symlink_to(outside)
    (root / "dataset").symlink_to(Path("/dev"))
    found = problems(root)
    assert any(p.startswith("factory/pipeline/pl_out.json: is a symbolic link to ") and "outside factory/" in p
               for p in found), found
    assert any(p.startswith("factory/dataset: is a symbolic link to /dev") for p in found), found


def test_a_file_whose_name_does_not_match_its_object_is_refused(root):
    write(root, "pipeline/pl_x.json", wait_pipeline("pl_y"))
    [problem] = problems(root)
    assert problem.startswith("factory/pipeline/pl_x.json: name: 'pl_y' does not match the file name 'pl_x.json'")


@pytest.mark.parametrize(("relative", "expected"), [
    ("notebook/nb.json", "factory/notebook/: unknown folder"),
    ("deploy.ps1", "factory/deploy.ps1: unknown file"),
    ("pipeline/archive/pl_old.json", "factory/pipeline/archive/: ADF Studio writes no folders inside pipeline/"),
    ("pipeline/pl_x.yaml", "factory/pipeline/pl_x.yaml: not a .json file"),
], ids=["folder", "root-file", "subfolder", "extension"])
def test_unknown_kinds_and_files_are_errors_not_skipped(root, relative, expected):
    write(root, relative, "{}")
    found = problems(root)
    assert any(p.startswith(expected) for p in found), found


def managed_network(root: Path) -> None:
    """What ADF Studio writes for a factory with a managed virtual network, a private endpoint and runtimes."""
    write(root, "managedVirtualNetwork/default.json", {
        "name": "default", "type": "Microsoft.DataFactory/factories/managedvirtualnetworks",
        "properties": {"preventDataExfiltration": False, "vNetId": "4b6e1c0e-0000-0000-0000-000000000000"}})
    write(root, "managedVirtualNetwork/default/managedPrivateEndpoint/pe-kv.json", {"name": "pe-kv", "properties": {
        "privateLinkResourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
        "groupId": "vault", "fqdns": ["kv.vaultcore.azure.net"], "connectionState": {"status": "Approved"}}})
    write(root, "integrationRuntime/ir-vnet.json", {"name": "ir-vnet", "properties": {
        "type": "Managed", "typeProperties": {"computeProperties": {"location": "AutoResolve"}},
        "managedVirtualNetwork": {"type": "ManagedVirtualNetworkReference", "referenceName": "default"}}})


def test_a_managed_virtual_network_is_published_before_its_private_endpoints_and_runtimes(root):
    managed_network(root)
    folder = load(root)
    names = [(obj.kind.folder, obj.name) for obj in folder.objects]
    network = names.index(("managedVirtualNetwork", "default"))
    assert network < names.index(("managedPrivateEndpoint", "pe-kv"))
    assert network < names.index(("integrationRuntime", "ir-vnet"))
    by_name = {obj.name: obj for obj in folder.objects}
    # azure-native has no typed resource for the network: it goes as written, without what the service sets.
    assert by_name["default"].as_written
    assert by_name["default"].arguments == {"properties": {"preventDataExfiltration": False}}
    endpoint = by_name["pe-kv"]
    assert endpoint.parent == "default" and not endpoint.as_written
    assert "connectionState" not in json.dumps(endpoint.arguments), "the approval state is the target's, not ours"
    assert ("managedVirtualNetwork", "default") in endpoint.references


def test_a_private_endpoint_without_its_network_file_names_the_missing_network(root):
    managed_network(root)
    (root / "managedVirtualNetwork" / "default.json").unlink()
    found = problems(root)
    assert ("factory/managedVirtualNetwork/default/managedPrivateEndpoint/pe-kv.json: its folder "
            "managedVirtualNetwork/default/: refers to the managed virtual network 'default', which is not in "
            "factory/managedVirtualNetwork/") in " ".join(found)
    assert any(p.startswith("factory/integrationRuntime/ir-vnet.json: properties.managedVirtualNetwork.referenceName:")
               for p in found), found


def test_a_stray_entry_in_a_network_folder_is_named(root):
    managed_network(root)
    write(root, "managedVirtualNetwork/default/notes.txt", "x")
    assert problems(root) == ["factory/managedVirtualNetwork/default/notes.txt: managedVirtualNetwork/default/ holds "
                              "only managedPrivateEndpoint/, as ADF Studio writes it"]


def test_a_linked_self_hosted_runtime_is_published_like_any_runtime(root):
    write(root, "integrationRuntime/ir-shared.json", {"name": "ir-shared", "properties": {
        "type": "SelfHosted", "typeProperties": {"linkedInfo": {
            "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f/"
                          "integrationruntimes/ir-shir", "authorizationType": "RBAC"}}}})
    runtime = published(root)["ir-shared"]
    assert runtime.arguments["properties"]["linkedInfo"]["resourceId"].endswith("/integrationruntimes/ir-shir")


def test_the_default_runtime_is_no_missing_object_and_a_dependency_only_when_configured(root):
    service = blob_service("ls_blob")
    service["properties"]["connectVia"] = ref("AutoResolveIntegrationRuntime", "IntegrationRuntimeReference")
    write(root, "linkedService/ls_blob.json", service)
    assert published(root)["ls_blob"].references == ()
    write(root, "integrationRuntime/AutoResolveIntegrationRuntime.json", {
        "name": "AutoResolveIntegrationRuntime", "properties": {
            "type": "Managed", "typeProperties": {"computeProperties": {"location": "AutoResolve"}}}})
    objects = published(root)
    assert objects["ls_blob"].references == (("integrationRuntime", "autoresolveintegrationruntime"),)
    assert "AutoResolveIntegrationRuntime" in objects


@pytest.mark.parametrize(("relative", "name", "expected"), [
    ("pipeline/pl?x.json", "pl?x", "is not a valid pipeline name: ADF wants one that starts with a letter, digit or _"),
    ("pipeline/pl%x.json", "pl%x", "is not a valid pipeline name"),
    ("pipeline/pl x .json", "pl x ", "has leading or trailing spaces or control characters"),
    ("pipeline/pl\nx.json", "pl\nx", "has leading or trailing spaces or control characters"),
    ("integrationRuntime/ir_x.json", "ir_x", "is not a valid integration runtime name"),
    ("integrationRuntime/ir.json", "ir", "is 2 characters long; a integration runtime name has 3 to 63"),
    ("managedVirtualNetwork/-net.json", "-net", "is not a valid managed virtual network name"),
])
def test_a_name_adf_would_refuse_is_reported_on_one_line_naming_the_file(root, relative, name, expected):
    kind = relative.split("/")[0]
    documents = {"pipeline": wait_pipeline(name), "integrationRuntime": {"name": name, "properties": {
        "type": "SelfHosted"}}, "managedVirtualNetwork": {"name": name, "properties": {}}}
    document = documents[kind]
    write(root, relative, document)
    [problem] = problems(root)
    assert "\n" not in problem
    assert problem.startswith(f"factory/{kind}/") and expected in problem, problem


def test_a_reference_to_a_missing_object_names_the_referring_file_the_object_and_its_kind(root):
    write(root, "dataset/ds_x.json", {"name": "ds_x", "properties": {
        "type": "Json", "linkedServiceName": ref("ls_storage", "LinkedServiceReference"),
        "typeProperties": {"location": {"type": "AzureBlobStorageLocation", "container": "c"}}}})
    write(root, "linkedService/ls_storeage.json", blob_service("ls_storeage"))
    [problem] = problems(root)
    assert problem == ("factory/dataset/ds_x.json: properties.linkedServiceName.referenceName: refers to the linked "
                       "service 'ls_storage', which is not in factory/linkedService/ nor one of the program's; "
                       "did you mean 'ls_storeage'?")


def test_duplicate_names_are_refused_even_when_they_differ_only_in_case(root):
    write(root, "linkedService/ls_blob.json", blob_service("ls_blob"))
    write(root, "linkedService/LS_Blob.json", blob_service("LS_Blob"))
    [problem] = problems(root)
    assert problem == ("factory/linkedService/ls_blob.json: the linked service 'ls_blob' is also defined in "
                       "factory/linkedService/LS_Blob.json (ADF names ignore case); keep one")


def test_reference_cycles_are_refused_naming_the_cycle(root):
    def execute(name: str, target: str) -> dict:
        run = {"name": "Run", "type": "ExecutePipeline", "dependsOn": [], "userProperties": [],
               "typeProperties": {"pipeline": ref(target, "PipelineReference"), "waitOnCompletion": True}}
        return wait_pipeline(name, extra=[run])
    write(root, "pipeline/pl_a.json", execute("pl_a", "pl_b"))
    write(root, "pipeline/pl_b.json", execute("pl_b", "pl_c"))
    write(root, "pipeline/pl_c.json", execute("pl_c", "pl_a"))
    write(root, "pipeline/pl_self.json", execute("pl_self", "pl_self"))
    found = problems(root)
    assert found == [
        "factory/pipeline/pl_a.json: reference cycle pipeline/pl_a -> pipeline/pl_b -> pipeline/pl_c -> pipeline/pl_a "
        "(also in factory/pipeline/pl_b.json, factory/pipeline/pl_c.json); ADF objects cannot depend on each other "
        "in a circle",
        "factory/pipeline/pl_self.json: reference cycle pipeline/pl_self -> pipeline/pl_self (also in itself); ADF "
        "objects cannot depend on each other in a circle",
    ]


def test_a_near_miss_of_a_known_property_is_an_error_naming_the_one_meant(root):
    write(root, "pipeline/pl_x.json", wait_pipeline("pl_x", extra=[
        {"name": "Notebook", "type": "DatabricksNotebook", "dependsOn": [], "userProperties": [],
         "linkedServiceName": ref("ls_databricks", "LinkedServiceReference"),
         "typeProperties": {"notebookPath": "/Shared/x", "baseParameter": {"a": "b"}}}]))
    [problem] = problems(root)
    assert problem.startswith("factory/pipeline/pl_x.json: properties.activities[1].typeProperties.baseParameter: "
                              "unknown property for DatabricksNotebookActivity; did you mean 'baseParameters'?")


def test_a_near_miss_of_a_known_type_is_an_error_naming_the_one_meant(root):
    write(root, "linkedService/ls_x.json", {"name": "ls_x", "properties": {"type": "AzureDatabrick",
                                                                          "typeProperties": {"domain": "https://x"}}})
    [problem] = problems(root)
    assert problem.startswith("factory/linkedService/ls_x.json: properties.type: unknown type 'AzureDatabrick' here; "
                              "did you mean 'AzureDatabricks'?")


def test_a_property_newer_than_the_sdk_is_published_as_written_not_dropped(root):
    activity = {"name": "Notebook", "type": "DatabricksNotebook", "dependsOn": [], "userProperties": [],
                "linkedServiceName": ref("ls_databricks", "LinkedServiceReference"),
                "typeProperties": {"notebookPath": "/Shared/x", "computeIsolationLevel": "Strict"}}
    write(root, "pipeline/pl_x.json", wait_pipeline("pl_x", extra=[activity]))
    pipeline = published(root)["pl_x"]
    assert any("computeIsolationLevel" in reason for reason in pipeline.as_written)
    written = json.loads((root / "pipeline" / "pl_x.json").read_text())["properties"]
    assert pipeline.arguments == {"properties": written}


def test_a_type_newer_than_the_sdk_is_published_as_written(root):
    document = {"name": "ls_new", "properties": {"type": "QuantumLakeStore", "typeProperties": {"url": "https://q"}}}
    write(root, "linkedService/ls_new.json", document)
    service = published(root)["ls_new"]
    assert service.as_written and service.arguments == {"properties": document["properties"]}


def test_a_type_property_written_beside_typeproperties_is_refused_not_moved(root):
    write(root, "pipeline/pl_x.json", wait_pipeline("pl_x", extra=[
        {"name": "Notebook", "type": "DatabricksNotebook", "dependsOn": [], "userProperties": [],
         "notebookPath": "/Shared/x", "linkedServiceName": ref("ls_databricks", "LinkedServiceReference")}]))
    write(root, "linkedService/ls_blob.json", {"name": "ls_blob", "properties": {
        "type": "AzureBlobStorage", "serviceEndpoint": "https://st.blob.core.windows.net/"}})
    assert problems(root) == [
        "factory/linkedService/ls_blob.json: properties.serviceEndpoint: belongs in properties.typeProperties; ADF "
        "does not read it here, azure-native would move it",
        "factory/pipeline/pl_x.json: properties.activities[1].notebookPath: belongs in "
        "properties.activities[1].typeProperties; ADF does not read it here, azure-native would move it",
    ]


def test_a_type_property_the_typed_resource_would_collide_on_is_published_as_written(root):
    document = {"name": "ds_sql", "properties": {
        "linkedServiceName": ref("ls_sql", "LinkedServiceReference"), "type": "AzureSqlTable",
        "schema": [], "typeProperties": {"schema": "sales", "table": "orders"}}}
    write(root, "dataset/ds_sql.json", document)
    write(root, "linkedService/ls_sql.json", {"name": "ls_sql", "properties": {
        "type": "AzureSqlDatabase", "typeProperties": {"connectionString": "Server=tcp:x;Database=y"}}})
    dataset = published(root)["ds_sql"]
    assert any("pulumi/pulumi-azure-native#2006" in reason for reason in dataset.as_written)
    assert dataset.arguments == {"properties": document["properties"]}, "both schemas reach ADF"


def test_a_databricks_linked_service_without_a_pool_or_cluster_is_an_error_unless_config_allows_it(root):
    write(root, "linkedService/ls_team.json", {"name": "ls_team", "properties": {"type": "AzureDatabricks",
        "typeProperties": {"domain": "https://adb-1.azuredatabricks.net", "authentication": "MSI",
                           "workspaceResourceId": "/x", "newClusterNodeType": "Standard_DS3_v2",
                           "newClusterNumOfWorker": "2", "newClusterVersion": "15.4.x-scala2.12"}}})
    [problem] = problems(root)
    assert problem.startswith("factory/linkedService/ls_team.json: properties.typeProperties: an AzureDatabricks "
                              "linked service without instancePoolId or existingClusterId starts a new job cluster")
    load(root, dataFactoryAllowJobClusters="true")


@pytest.mark.parametrize(("settings", "refused"), [
    ({"instancePoolId": ""}, True),
    ({"existingClusterId": "  "}, True),
    ({"instancePoolId": {"value": "", "type": "Expression"}}, True),
    ({"instancePoolId": "0101-pool"}, False),
    ({"instancePoolId": {"value": "@linkedService().poolId", "type": "Expression"}}, False),
    ({"existingClusterId": {"type": "AzureKeyVaultSecret", "secretName": "cluster-id",
                            "store": {"referenceName": "ls_key_vault", "type": "LinkedServiceReference"}}}, False),
], ids=["empty-pool", "blank-cluster", "empty-expression", "pool", "expression", "key-vault-secret"])
def test_only_a_real_pool_or_cluster_id_keeps_a_databricks_linked_service_off_job_clusters(root, settings, refused):
    write(root, "linkedService/ls_team.json", {"name": "ls_team", "properties": {"type": "AzureDatabricks",
        "typeProperties": {"domain": "https://adb-1.azuredatabricks.net", "authentication": "MSI",
                           "workspaceResourceId": "/x", **settings}}})
    if refused:
        [problem] = problems(root)
        assert "without instancePoolId or existingClusterId" in problem
    else:
        assert "ls_team" in published(root)


def test_a_file_named_like_a_program_owned_linked_service_is_refused_naming_file_and_config_key(root):
    write(root, "linkedService/ls_databricks.json", {"name": "ls_databricks", "properties": {
        "type": "AzureDatabricks", "typeProperties": {"domain": "https://adb-1.azuredatabricks.net",
                                                      "existingClusterId": "0101-abc"}}})
    [problem] = problems(root)
    assert problem.startswith("factory/linkedService/ls_databricks.json: 'ls_databricks' is the name of the "
                              "program's own AzureDatabricks linked service "
                              f"({PROJECT}:dataFactoryDatabricksLinkedService)")


def test_the_export_commands_file_takes_the_owned_name_and_the_program_publishes_its_own(root):
    write(root, "linkedService/ls_key_vault.json", {"name": "ls_key_vault", "properties": {
        "annotations": [OWNED_ANNOTATION], "type": "AzureKeyVault",
        "typeProperties": {"baseUrl": "https://kv-dbp-dev.vault.azure.net/"}}})
    folder = load(root)
    [service] = [obj for obj in folder.objects if obj.name == "ls_key_vault"]
    assert service.owned
    assert isinstance(service.arguments["properties"]["baseUrl"], Template), "dev's vault URL must not be published"
    assert any("exported by `export-linked-services`" in line for line in folder.ignored)


def test_an_exported_file_the_program_no_longer_owns_is_an_error(root):
    write(root, "linkedService/ls_old_vault.json", {"name": "ls_old_vault", "properties": {
        "annotations": [OWNED_ANNOTATION], "type": "AzureKeyVault", "typeProperties": {"baseUrl": "https://kv/"}}})
    [problem] = problems(root)
    assert problem.startswith("factory/linkedService/ls_old_vault.json: exported as a program-owned linked service, "
                              "but the program owns none named 'ls_old_vault'")


def test_factory_file_problems_name_the_file(root):
    write(root, "factory/adf-dev.json", {"name": "adf-dev", "properties": {
        "globalParameters": {"env": {"type": "string", "value": "dev", "default": "x"}}, "customSetting": 1}})
    write(root, "factory/adf-other.json", {"name": "adf-other", "properties": {}})
    found = problems(root)
    assert found == ["factory/factory/adf-other.json: a second factory file beside factory/factory/adf-dev.json; "
                     "factory/factory/ holds the one file of the factory"]
    (root / "factory" / "adf-other.json").unlink()
    found = problems(root)
    assert found[0].startswith("factory/factory/adf-dev.json: properties.customSetting: unknown factory property")
    assert found[1].startswith("factory/factory/adf-dev.json: properties.globalParameters.env.default: a property "
                               "azure-native's GlobalParameterSpecification does not know")
    assert found[1].endswith("the factory resource cannot publish it")


def test_every_problem_of_a_run_is_reported_together(root):
    write(root, "pipeline/pl_broken.json", '{"name": "pl_broken",')
    write(root, "pipeline/pl_named.json", wait_pipeline("pl_other_name"))
    write(root, "dataset/ds_orphan.json", {"name": "ds_orphan", "properties": {
        "type": "Json", "linkedServiceName": ref("ls_missing", "LinkedServiceReference")}})
    write(root, "synapse/x.json", {})
    write(root, "trigger/tr_x.json", {"name": "tr_x", "properties": {"type": "ScheduleTrigger", "typeProperties": {
        "recurrence": {"frequency": "Day", "interval": "one"}}}})
    found = problems(root, dataFactoryTriggerStates={"tr_y": "Started"},
                     dataFactoryOverrides={"pipeline/pl_nope": {"description": "x"}})
    files = [problem.split(":")[0] for problem in found]
    for expected in ("factory/pipeline/pl_broken.json", "factory/pipeline/pl_named.json",
                     "factory/dataset/ds_orphan.json", "factory/synapse/", "factory/trigger/tr_x.json",
                     "Pulumi.test.yaml"):
        assert expected in files, f"{expected} missing from {found}"
    assert any("dataFactoryTriggerStates[tr_y]: no trigger named 'tr_y'" in p for p in found)
    assert any("dataFactoryOverrides[pipeline/pl_nope]: no pipeline named 'pl_nope'" in p for p in found)
    assert any("properties.typeProperties.recurrence.interval: expected an integer, got string 'one'" in p
               for p in found)


# -- overrides ------------------------------------------------------------------------------------------


def sql_service() -> dict:
    return {"name": "ls_sql", "properties": {"annotations": [], "type": "AzureSqlDatabase", "typeProperties": {
        "connectionString": "Data Source=sql-dev.database.windows.net;Initial Catalog=sales",
        "encryptedCredential": "ZGV2LW9ubHk="}}}


def job_pipeline() -> dict:
    return {"name": "pl_job", "properties": {"activities": [
        {"name": "Run sales job", "type": "DatabricksJob", "dependsOn": [], "userProperties": [],
         "linkedServiceName": ref("ls_databricks", "LinkedServiceReference"),
         "typeProperties": {"jobId": "123", "jobParameters": {"region": "emea"}}},
        {"name": "Retry", "type": "Wait", "dependsOn": [], "userProperties": [],
         "typeProperties": {"waitTimeInSeconds": 5}},
    ], "annotations": []}}


def test_overrides_replace_add_and_remove_with_the_stages_values(root):
    write(root, "linkedService/ls_sql.json", sql_service())
    write(root, "pipeline/pl_job.json", job_pipeline())
    folder = load(root, dataFactoryOverrides={
        "linkedService/ls_sql": {
            "typeProperties.connectionString": "Data Source=sql-${stage}.database.windows.net;Initial Catalog=sales",
            "-typeProperties.encryptedCredential": None,
            "+description": "sales database of $${stage} ${stage}",
        },
        "pipeline/pl_job": {
            "activities[Run sales job].typeProperties.jobId": "${jobIds.sales-pipeline}",
            "activities[1].typeProperties.waitTimeInSeconds": 30,
            "activities[Run sales job].typeProperties.jobParameters[region]": "${poolIds.general}",
        },
    })
    values = {"stage": "test", "jobIds.sales-pipeline": 4711, "poolIds.general": "pool-1"}

    def rendered(value):
        return value.render(values) if isinstance(value, Template) else value

    sql_service_args = next(o for o in folder.objects if o.name == "ls_sql").arguments["properties"]
    sql = {key: rendered(value) for key, value in sql_service_args.items()}
    assert sql["connectionString"] == "Data Source=sql-test.database.windows.net;Initial Catalog=sales"
    assert "encryptedCredential" not in sql
    assert sql["description"] == "sales database of ${stage} test"
    [job, wait] = next(o for o in folder.objects if o.name == "pl_job").arguments["activities"]
    assert rendered(job["jobId"]) == 4711, "a value that is one placeholder keeps the placeholder's type"
    assert rendered(job["jobParameters"]["region"]) == "pool-1"
    assert wait["waitTimeInSeconds"] == 30


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"pipeline/pl_job": {"activities[Run job].typeProperties.jobId": "1"}},
     "dataFactoryOverrides[pipeline/pl_job][activities[Run job].typeProperties.jobId]: activities[Run job]: no item "
     "named 'Run job'; names here: ['Run sales job', 'Retry'] (in factory/pipeline/pl_job.json)"),
    ({"pipeline/pl_job": {"activities[7].name": "x"}},
     "[activities[7].name]: activities[7]: no item 7 (the list has 2)"),
    ({"pipeline/pl_job": {"activities[0].typeProperties.jobID": "1"}},
     "activities[0].typeProperties.jobID: no such property (write +activities[0].typeProperties.jobID to add it)"),
    ({"pipeline/pl_job": {"-description": None}}, "description: no such property to remove"),
    ({"pipeline/pl_job": {"-annotations": []}}, "a removal (-path) takes no value: set it to null"),
    ({"pipeline/pl_job": {"activities[0].typeProperties.jobId": "${jobIds.nightly}"}},
     "${jobIds.nightly}: no job in jobs/ named 'nightly'; known: daily-ingest, sales-pipeline"),
    ({"pipeline/pl_job": {"activities[0].typeProperties.jobId": "${poolIds.gpu}"}},
     "${poolIds.gpu}: no configured pool named 'gpu'; known: general"),
    ({"pipeline/pl_job": {"activities[0].typeProperties.jobId": "${vaultURL}"}}, "${vaultURL}: unknown placeholder"),
    ({"pipeline/pl_jobs": {"description": "x"}},
     "dataFactoryOverrides[pipeline/pl_jobs]: no pipeline named 'pl_jobs' in factory/; did you mean pipeline/pl_job?"),
    ({"pipelines/pl_job": {"description": "x"}},
     "dataFactoryOverrides[pipelines/pl_job]: keys are <kind>/<object name>"),
    ({"linkedService/ls_databricks": {"typeProperties.domain": "x"}},
     "dataFactoryOverrides[linkedService/ls_databricks]: ls_databricks is the program's own linked service "
     f"({PROJECT}:dataFactoryDatabricksLinkedService)"),
    ({"pipeline/pl_job": {"": "x"}}, "[]: the path is empty; write e.g. typeProperties.url"),
    ({"pipeline/pl_job": {"+": "x"}}, "[+]: the path is empty"),
], ids=["no-item-named", "index", "missing-path", "missing-removal", "removal-value", "unknown-job", "unknown-pool",
        "unknown-placeholder", "unknown-object", "unknown-kind", "owned", "empty-path", "empty-added-path"])
def test_an_override_that_does_not_fit_names_the_config_key_and_the_object(root, overrides, expected):
    write(root, "pipeline/pl_job.json", job_pipeline())
    [problem] = problems(root, dataFactoryOverrides=overrides)
    assert problem.startswith(f"Pulumi.test.yaml: {PROJECT}:dataFactoryOverrides")
    assert expected in problem, problem


def test_overrides_for_one_object_under_two_case_variants_are_one_problem_naming_both(root):
    # ADF object names ignore case: the two keys change the same pipeline, and which one wins would be arbitrary.
    write(root, "pipeline/pl_job.json", job_pipeline())
    [problem] = problems(root, dataFactoryOverrides={"pipeline/pl_job": {"description": "a"},
                                                     "pipeline/PL_JOB": {"description": "b"}})
    assert problem.startswith("Pulumi.test.yaml: dataFactoryOverrides: "), problem
    assert "'pipeline/pl_job'" in problem and "'pipeline/PL_JOB'" in problem and "case" in problem, problem


def test_an_override_that_breaks_the_object_is_caught_like_a_bad_file(root):
    write(root, "pipeline/pl_job.json", job_pipeline())
    [problem] = problems(root, dataFactoryOverrides={"pipeline/pl_job": {"+concurrency": "two"}})
    assert problem == "factory/pipeline/pl_job.json: properties.concurrency: expected an integer, got string 'two'"


# -- the program's own linked services --------------------------------------------------------------------


def test_pat_auth_reads_token_and_pool_from_key_vault_through_the_programs_key_vault_linked_service(root):
    folder = load(root)
    databricks = next(o for o in folder.objects if o.name == "ls_databricks").arguments["properties"]
    assert databricks["accessToken"] == {"type": "AzureKeyVaultSecret", "secretName": "databricks-pat",
                                         "store": {"referenceName": "ls_key_vault", "type": "LinkedServiceReference"}}
    assert databricks["instancePoolId"]["secretName"] == "databricks-pool-general"
    assert (databricks["newClusterVersion"], databricks["newClusterNumOfWorker"]) == ("15.4.x-scala2.12", "2")
    assert "authentication" not in databricks and "existingClusterId" not in databricks
    assert folder.get(("linkedService", "ls_databricks")).references == (("linkedService", "ls_key_vault"),)


def test_msi_auth_uses_the_workspace_resource_id_and_no_pat(root):
    databricks = next(o for o in load(root, dataFactoryDatabricksAuth="msi").objects
                      if o.name == "ls_databricks").arguments["properties"]
    assert databricks["authentication"] == "MSI"
    assert isinstance(databricks["workspaceResourceId"], Template)
    assert "accessToken" not in databricks


def test_the_linked_service_runs_on_the_configured_pool_and_without_one_config_must_allow_job_clusters():
    pools = [{"name": "general", "nodeType": "Standard_DS3_v2", "maxCapacity": 4},
             {"name": "etl", "nodeType": "Standard_E8ds_v5", "maxCapacity": 8, "secretName": "pool-etl-id"}]
    chosen = config(instancePools=pools, dataFactoryDatabricksPool="etl").data_factory_pool
    assert chosen.key_vault_secret_name == "pool-etl-id"
    with pytest.raises(UserError) as caught:
        config(jobsDefaultPool="")
    assert "dataFactoryDatabricksPool: the Data Factory's Databricks linked service needs an instance pool" in str(
        caught.value)
    with pytest.raises(UserError) as caught:
        config(dataFactoryDatabricksPool="gpu")
    assert "dataFactoryDatabricksPool 'gpu' is not a configured pool" in str(caught.value)
    allowed = config(jobsDefaultPool="", dataFactoryAllowJobClusters="true",
                     dataFactoryDatabricksNodeType="Standard_DS3_v2")
    assert allowed.data_factory_pool is None


def test_owned_linked_service_names_come_from_config(root):
    folder = load(root, dataFactoryKeyVaultLinkedService="LS_KV", dataFactoryDatabricksLinkedService="LS_DBX")
    names = [obj.name for obj in folder.objects if obj.kind is LINKED_SERVICE]
    assert names == ["LS_KV", "LS_DBX"]
    token = folder.get(("linkedService", "ls_dbx")).arguments["properties"]["accessToken"]
    assert token["store"]["referenceName"] == "LS_KV"


def test_pipelines_run_by_a_trigger_include_execute_pipeline_chains():
    folder = load_factory(STUDIO, config(), relative_to=STUDIO.parent)
    nightly = folder.get(("trigger", "tr_nightly"))
    assert [p.name for p in folder.pipelines_run_by(nightly)] == [
        "pl_housekeeping", "pl_ingest_orders", "pl_load_erp_customers", "pl_orders_end_to_end", "pl_transform_orders"]
    assert {obj.kind for obj in folder.objects} >= {PIPELINE, TRIGGER}
