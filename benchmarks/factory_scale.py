"""Plan time and memory for 50 and 500 factory/ objects: the program's path vs bare registrations.

Program: a generated factory/ folder in ADF Studio's format (per 10 objects: 2 linked services, 4 datasets,
3 pipelines of 3 activities, 1 trigger), read strictly, checked against the SDK, graphed and declared by
FactoryLinkedServices and FactoryObjects (the path the stage program takes), with the program's two linked
services and each trigger's two gate resources (TriggerStopper, TriggerRuntimeState). Bare: the same
resources registered with the same inputs, literal, nothing checked, no components, no depends_on. Both run
under the offline plan's mock runtime in a fresh process; each figure is the median of
3 runs. Aim: ratio <= 1.15 at 500, linear growth.
Run: .venv/bin/python benchmarks/factory_scale.py
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SIZES = (50, 500)
RUNS = 3

VALUES = """
values = FactoryValues(stage="dev", vault_uri="https://kv-dbp-dev.vault.azure.net/", key_vault_name="kv-dbp-dev",
                       workspace_url="https://adb-1.7.azuredatabricks.net", workspace_resource_id="/subscriptions/s/w",
                       pool_ids={"general": "pool-0001"}, job_ids={})
"""

PROGRAM_MAIN = """
from pathlib import Path
from pulumi_azure_native import datafactory
from components.factory_linked_services import FactoryLinkedServices, FactoryLinkedServicesArgs
from components.factory_objects import FactoryObjects, FactoryObjectsArgs, FactoryValues
from core.config import parse_stage_config
from core.factory import load_factory, owned_linked_services
here = Path(__file__).parent
config = parse_stage_config({}, stack="dev")
folder = load_factory(here / "factory", config, relative_to=here)
""" + VALUES + """
factory = datafactory.Factory("factory", factory_name="adf-dbp-dev", resource_group_name="rg-dbp-dev")
linked = FactoryLinkedServices("svc", FactoryLinkedServicesArgs(
    services=owned_linked_services(config), folder=folder, publish=True, factory_name=factory.name,
    resource_group_name="rg-dbp-dev", values=values, databricks_auth="pat", factory_principal_id="p",
    workspace_resource_id="/subscriptions/s/w", workspace_name="dbw-dbp-dev", subscription_id="s"))
FactoryObjects("objs", FactoryObjectsArgs(
    folder=folder, publish=True, factory_name=factory.name, resource_group_name="rg-dbp-dev", subscription_id="s",
    values=values, linked_services=linked.resources, deployer_tenant_id="t", deployer_client_id="c",
    deployer_credential="azure_cli"))
"""

BARE_MAIN = """
import json
from pathlib import Path
from pulumi_azure_native import datafactory
from dynamic_providers.trigger_gate import TriggerGateArgs, TriggerRuntimeState, TriggerStopper
factory = datafactory.Factory("factory", factory_name="adf-dbp-dev", resource_group_name="rg-dbp-dev")
for resource in json.loads((Path(__file__).parent / "resources.json").read_text()):
    getattr(datafactory, resource["type"])(resource["name"], factory_name=factory.name,
                                           resource_group_name="rg-dbp-dev", **resource["args"])
    if resource["type"] == "Trigger":  # the program's two gate resources per trigger, registered plainly
        gate = TriggerGateArgs(subscription_id="s", resource_group_name="rg-dbp-dev", factory_name="adf-dbp-dev",
                               trigger_name=resource["args"]["trigger_name"], desired_state="Stopped",
                               fingerprint="f" * 64, tenant_id="t", client_id="c", credential="azure_cli")
        TriggerStopper(resource["name"] + "-stopper", gate)
        TriggerRuntimeState(resource["name"] + "-runtime-state", gate)
"""


def _ref(name: str, kind: str, **parameters: object) -> dict:
    return {"referenceName": name, "type": kind, **({"parameters": parameters} if parameters else {})}


def _objects(count: int) -> list[tuple[str, dict]]:
    """``count`` objects as ADF Studio writes them, 10 per unit, each unit referencing its own objects."""
    policy = {"timeout": "0.12:00:00", "retry": 0, "retryIntervalInSeconds": 30, "secureOutput": False,
              "secureInput": False}
    objects = []
    for unit in range(count // 10):
        u = f"{unit:03d}"
        objects += [
            ("linkedService", {"name": f"ls_lake_{u}", "properties": {"annotations": [], "type": "AzureBlobFS",
                "typeProperties": {"url": f"https://stlake{u}.dfs.core.windows.net/"}}}),
            ("linkedService", {"name": f"ls_sql_{u}", "properties": {"annotations": [], "type": "AzureSqlDatabase",
                "typeProperties": {"connectionString": f"Data Source=sql-{u}.database.windows.net;Initial Catalog=db",
                                   "password": {"type": "AzureKeyVaultSecret", "secretName": f"sql-{u}",
                                                "store": _ref("ls_key_vault", "LinkedServiceReference")}}}}),
        ]
        for table in ("orders", "customers"):
            objects += [
                ("dataset", {"name": f"ds_{table}_sql_{u}", "properties": {
                    "linkedServiceName": _ref(f"ls_sql_{u}", "LinkedServiceReference"), "annotations": [],
                    "type": "AzureSqlTable", "schema": [], "typeProperties": {"table": table}}}),
                ("dataset", {"name": f"ds_{table}_lake_{u}", "properties": {
                    "linkedServiceName": _ref(f"ls_lake_{u}", "LinkedServiceReference"),
                    "parameters": {"RunDate": {"type": "string"}}, "annotations": [], "type": "Parquet",
                    "typeProperties": {"location": {"type": "AzureBlobFSLocation", "fileSystem": "bronze",
                                                    "folderPath": table,
                                                    "fileName": {"value": "@dataset().RunDate", "type": "Expression"}},
                                       "compressionCodec": "snappy"}, "schema": []}}),
            ]
        for index, table in enumerate(("orders", "customers", "all")):
            activities = [
                {"name": "Copy", "type": "Copy", "dependsOn": [], "policy": policy, "userProperties": [],
                 "typeProperties": {"source": {"type": "AzureSqlSource", "queryTimeout": "02:00:00"},
                                    "sink": {"type": "ParquetSink",
                                             "storeSettings": {"type": "AzureBlobFSWriteSettings"}},
                                    "enableStaging": False},
                 "inputs": [_ref(f"ds_{'orders' if table == 'all' else table}_sql_{u}", "DatasetReference")],
                 "outputs": [_ref(f"ds_{'orders' if table == 'all' else table}_lake_{u}", "DatasetReference",
                                  RunDate="@pipeline().parameters.RunDate")]},
                {"name": "Transform", "type": "DatabricksNotebook", "dependsOn": [
                    {"activity": "Copy", "dependencyConditions": ["Succeeded"]}], "policy": policy,
                 "userProperties": [], "linkedServiceName": _ref("ls_databricks", "LinkedServiceReference"),
                 "typeProperties": {"notebookPath": f"/Shared/jit/02_transform_{table}",
                                    "baseParameters": {"run_date": {"value": "@pipeline().parameters.RunDate",
                                                                    "type": "Expression"}}}},
                {"name": "Done", "type": "Wait", "dependsOn": [
                    {"activity": "Transform", "dependencyConditions": ["Succeeded"]}], "userProperties": [],
                 "typeProperties": {"waitTimeInSeconds": 1}},
            ]
            if index == 2:  # the unit's last pipeline chains the other two
                activities[2] = {"name": "Done", "type": "ExecutePipeline", "dependsOn": [
                    {"activity": "Transform", "dependencyConditions": ["Succeeded"]}], "userProperties": [],
                    "typeProperties": {"pipeline": _ref(f"pl_orders_{u}", "PipelineReference"),
                                       "waitOnCompletion": True}}
            objects.append(("pipeline", {"name": f"pl_{table}_{u}", "properties": {
                "activities": activities, "parameters": {"RunDate": {"type": "string"}},
                "folder": {"name": f"unit-{u}"}, "annotations": []}}))
        objects.append(("trigger", {"name": f"tr_daily_{u}", "properties": {
            "annotations": [], "runtimeState": "Stopped", "type": "ScheduleTrigger",
            "pipelines": [{"pipelineReference": _ref(f"pl_all_{u}", "PipelineReference"),
                           "parameters": {"RunDate": "@trigger().scheduledTime"}}],
            "typeProperties": {"recurrence": {"frequency": "Day", "interval": 1, "startTime": "2026-01-01T05:00:00Z",
                                              "timeZone": "UTC"}}}}))
    return objects


def _project(directory: Path) -> None:
    directory.mkdir(parents=True)
    (directory / "Pulumi.yaml").write_text("name: factory-scale\nruntime: python\n")
    (directory / "Pulumi.dev.yaml").write_text("config: {}\n")


def program(root: Path, count: int) -> Path:
    directory = root / f"program-{count}"
    _project(directory)
    # The program's code the factory path imports (the trigger gates are dynamic providers on clients/).
    for part in ("core", "components", "dynamic_providers", "clients"):
        shutil.copytree(REPO / part, directory / part, ignore=shutil.ignore_patterns("__pycache__"))
    for folder, document in _objects(count):
        path = directory / "factory" / folder / f"{document['name']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent="\t"))
    (directory / "__main__.py").write_text(PROGRAM_MAIN)
    return directory


def bare(root: Path, count: int, program_dir: Path) -> Path:
    """The same resources with the same inputs, as literals: reshaped here, outside the measured process."""
    from components.factory_objects import FactoryValues
    from core.config import parse_stage_config
    from core.factory import load_factory

    directory = root / f"bare-{count}"
    _project(directory)
    for part in ("core", "dynamic_providers", "clients"):  # what the plain gate resources import
        shutil.copytree(REPO / part, directory / part, ignore=shutil.ignore_patterns("__pycache__"))
    values = FactoryValues(stage="dev", vault_uri="https://kv-dbp-dev.vault.azure.net/", key_vault_name="kv-dbp-dev",
                           workspace_url="https://adb-1.7.azuredatabricks.net", workspace_resource_id="/s/w",
                           pool_ids={"general": "pool-0001"}, job_ids={})
    folder = load_factory(program_dir / "factory", parse_stage_config({}, stack="dev"))
    resources = [{"type": obj.kind.resource, "name": f"{obj.kind.role}-{obj.name.lower()}",
                  "args": {obj.kind.name_arg: obj.name, **values.resolve(obj.arguments)}} for obj in folder.objects]
    (directory / "resources.json").write_text(json.dumps(resources))
    (directory / "__main__.py").write_text(BARE_MAIN)
    return directory


# The offline plan's own entry point, then this process's peak resident memory (KiB) on stderr.
PLAN_AND_REPORT_PEAK = (
    "import resource, sys; from offline_plan.cli import main; code = main(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(directory: Path) -> tuple[float, float, float, int]:
    """Median wall seconds, median CPU seconds, median peak RSS (MiB), resources declared.

    CPU time is printed beside wall time because the machine may be shared: it is what the plan itself costs."""
    times, cpus, peaks, declared = [], [], [], 0
    for _ in range(RUNS):
        start, cpu = time.perf_counter(), _cpu_of_children()
        result = subprocess.run(
            [sys.executable, "-c", PLAN_AND_REPORT_PEAK, "--stack", "dev", "--json", "--dir", str(directory)],
            cwd=REPO, capture_output=True, text=True, check=False,
        )
        times.append(time.perf_counter() - start)
        cpus.append(_cpu_of_children() - cpu)
        if result.returncode != 0:
            raise SystemExit(f"{directory.name}: plan failed:\n{result.stderr}")
        peaks.append(int(result.stderr.strip().splitlines()[-1]) / 1024)
        declared = len(json.loads(result.stdout)["resources"])
    return statistics.median(times), statistics.median(cpus), statistics.median(peaks), declared


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="factory-scale-"))
    try:
        print(f"{'objects':>8} {'program s':>10} {'bare s':>7} {'ratio':>6} {'program cpu':>12} {'bare cpu':>9}"
              f" {'ratio':>6} {'program MiB':>12} {'bare MiB':>9}")
        for count in SIZES:
            program_dir = program(root, count)
            p_time, p_cpu, p_mem, p_count = measure(program_dir)
            b_time, b_cpu, b_mem, b_count = measure(bare(root, count, program_dir))
            # + factory, 2 program-owned linked services, 2 gate resources per trigger (one trigger per 10
            # objects), and on the program's side its 2 components
            gates = 2 * (count // 10)
            assert b_count == count + 3 + gates and p_count == count + 5 + gates, (p_count, b_count)
            print(f"{count:>8} {p_time:>10.2f} {b_time:>7.2f} {p_time / b_time:>6.2f} {p_cpu:>12.2f} {b_cpu:>9.2f}"
                  f" {p_cpu / b_cpu:>6.2f} {p_mem:>12.0f} {b_mem:>9.0f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("s: median wall seconds; cpu: median user+system seconds of the plan process; MiB: its median peak "
          "resident memory.")


if __name__ == "__main__":
    main()
