"""The pack as the Pulumi engine runs it: `python -m pulumi.policy <engine> .` in policy/, driven over gRPC.

`pulumi preview --policy-pack policy` starts the pack's entry point through pulumi's Python policy host,
reads the port it prints, asks for its policies (GetAnalyzerInfo), configures it and sends every resource
to Analyze with the engine's wire properties. This does the same without the CLI, so the entry point, the
levels the engine sees and the server's own handling of secrets, unknowns and config are all exercised.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policy.rules import POLICIES
from tests.policy_helpers import UNKNOWN, databricks_pat, urn, wire_secret

REPO = Path(__file__).resolve().parent.parent
PACK = REPO / "policy"
TAGS = {"project": "databricks-platform", "stage": "test", "managed-by": "pulumi"}


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=60)
        if not first_line or not first_line[0].strip().isdigit():
            process.kill()
            pytest.fail(f"the pack did not print its port: {first_line} {process.stderr.read()}")
        channel = grpc.insecure_channel(f"127.0.0.1:{first_line[0].strip()}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            stream.close()


def analyze(stub, resource_type: str, properties: dict, *, stage: str = "test", name: str = "resource"):
    struct = struct_pb2.Struct()
    struct.update(properties)
    request = analyzer_pb2.AnalyzeRequest(type=resource_type, properties=struct, urn=urn(resource_type, name, stage),
                                          name=name)
    return list(stub.Analyze(request, timeout=30).diagnostics)


def test_pack_runs_in_the_projects_virtualenv():
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert (PACK / project["runtime"]["options"]["virtualenv"]).resolve() == (REPO / ".venv").resolve()


def test_pack_serves_every_rule_with_its_level_and_settings(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    served = {policy.name: policy for policy in info.policies}
    assert info.name == "databricks-platform-guard-rails"
    assert set(served) == {policy.name for policy in POLICIES}
    for policy in POLICIES:
        level = analyzer_pb2.EnforcementLevel.Name(served[policy.name].enforcementLevel).lower()
        assert level == policy.enforcement_level.value, policy.name
    defaults = served["pat-lifetime-within-cap"].configSchema.properties["maxLifetimeDays"]["default"]
    assert defaults == 90


def test_a_violation_reaches_the_engine_as_mandatory_with_what_to_change(analyzer):
    vault = {"vaultName": "kv-dbp-test", "tags": TAGS,
             "properties": {"enableRbacAuthorization": True, "enablePurgeProtection": False}}
    diagnostics = analyze(analyzer, "azure-native:keyvault:Vault", vault)
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [
        ("key-vault-purge-protection-outside-dev", analyzer_pb2.MANDATORY)]
    assert "databricks-platform:keyVaultPurgeProtection in Pulumi.test.yaml" in diagnostics[0].message
    in_dev = {**vault, "tags": {**TAGS, "stage": "dev"}}
    assert analyze(analyzer, "azure-native:keyvault:Vault", in_dev, stage="dev") == []


def test_the_secret_pat_written_to_key_vault_is_not_a_plaintext_violation(analyzer):
    token = databricks_pat()
    secret = {"secret_name": "databricks-pat", "tags": TAGS, "value": wire_secret(token)}
    assert analyze(analyzer, "pulumi-python:dynamic/databricks-platform:VaultSecret", secret) == []
    job = {"name": "export", "tags": TAGS, "parameters": [{"name": "token", "default": token}]}
    diagnostics = analyze(analyzer, "databricks:index/job:Job", job)
    assert [d.policyName for d in diagnostics] == ["no-plaintext-secrets"]
    assert token not in diagnostics[0].message


def test_unknown_values_give_no_violation_and_no_cannot_run_warning(analyzer):
    pool = {"instancePoolName": "general", "minIdleInstances": UNKNOWN, "customTags": UNKNOWN}
    assert analyze(analyzer, "databricks:index/instancePool:InstancePool", pool) == []


def test_pack_config_sets_the_pat_cap(analyzer):
    pat = "pulumi-python:dynamic/databricks-platform:DatabricksPat"
    assert analyze(analyzer, pat, {"lifetime_days": 60}) == []
    settings = struct_pb2.Struct()
    settings.update({"maxLifetimeDays": 30})
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        "pat-lifetime-within-cap": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY,
                                                             properties=settings)}), timeout=30)
    try:
        diagnostics = analyze(analyzer, pat, {"lifetime_days": 60})
        assert len(diagnostics) == 1 and "to 30 or less" in diagnostics[0].message
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(), timeout=30)
