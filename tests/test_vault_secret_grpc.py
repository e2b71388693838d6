"""`VaultSecret` survives the engine's trip: `python -m pulumi.dynamic` driven over gRPC against the fakes.

As the engine does, the provider process starts in the project directory (the provider is pickled by
reference), reads its port from stdout, and gets Check/Create/Diff/Update/Read/Delete with the `__provider`
property; it reaches the loopback Entra ID and Key Vault through its environment only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.runtime.proto import provider_pb2

from dynamic_providers.vault_secret import VaultSecretProvider
from tests.fakes.key_vault import SECRETS_OFFICER, VaultCloud, running_vault_cloud
from tests.fakes.tls import make_tls_material
from tests.provider_host import ProviderProcess, as_dict, provider_process, serialized_provider, struct

REPO = Path(__file__).resolve().parent.parent
URN = (
    "urn:pulumi:test::databricks-platform::databricks-platform:security:KeyVault$"
    "pulumi-python:dynamic/databricks-platform:VaultSecret::vault-pool-general"
)
FAST_POLICY = {"time_budget": 10.0, "read_timeout": 5.0, "retry_total": 1, "retry_backoff_max": 0.05, "rbac_wait": 0.0}
VAULT = "kv-dbp-test"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultCloud]:
    with running_vault_cloud(make_tls_material(tmp_path_factory.mktemp("vault-tls"))) as vault_cloud:
        yield vault_cloud


@pytest.fixture(scope="module")
def engine_side(cloud: VaultCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    environ = {**cloud.environ(), "PULUMI_PROJECT": "databricks-platform"}
    with provider_process(environ, tmp_path_factory.mktemp("vault-provider-process")) as process:
        yield process


def inputs(cloud: VaultCloud, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "vault_uri": cloud.vault.url,
        "vault_name": VAULT,
        "secret_name": "databricks-pool-general",
        "value": "pool-0123-456789-abcdef",
        "tenant_id": cloud.tenant_id,
        "client_id": cloud.client_id,
        "credential": "environment",
        "content_type": "Databricks instance pool id",
        "tags": {"stage": "test", "project": "databricks-platform"},
        "azure_authority_host": cloud.entra.authority,
        "officer_assignment_id": "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/a",
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def check(engine_side: ProviderProcess, props: dict[str, Any]) -> provider_pb2.CheckResponse:
    # Exactly what pulumi.dynamic.Resource stores in `__provider` (before the engine unwraps the secret).
    serialized = serialized_provider(VaultSecretProvider(FAST_POLICY))
    news = struct({**props, "__provider": serialized})
    return engine_side.stub.Check(provider_pb2.CheckRequest(urn=URN, olds=struct({}), news=news))


def create(engine_side: ProviderProcess, props: dict[str, Any]) -> provider_pb2.CreateResponse:
    checked = check(engine_side, props)
    assert list(checked.failures) == []
    return engine_side.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))


def assert_no_secret_in(text: str, cloud: VaultCloud, where: str) -> None:
    leaked = [value[:6] + "…" for value in cloud.secret_values() if value and value in text]
    assert not leaked, f"secret(s) {leaked} leaked into {where}"


def test_engine_round_trip_recovers_writes_diffs_updates_reads_and_deletes(engine_side, cloud):
    cloud.vault.soft_delete("databricks-pool-general", "pool-id-of-the-removed-pool")
    props = inputs(cloud)

    created = create(engine_side, props)
    assert created.id == f"{cloud.vault.url}secrets/databricks-pool-general"
    assert cloud.vault.live("databricks-pool-general").value == props["value"]
    operations = cloud.vault.operations()
    assert operations.index("recover") < operations.index("set"), operations

    requests_before_diffs = len(cloud.vault.requests)
    same = engine_side.stub.Diff(provider_pb2.DiffRequest(
        id=created.id, urn=URN, olds=created.properties, news=check(engine_side, props).inputs))
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE, "a later `up` with nothing changed does nothing"
    new_value = check(engine_side, inputs(cloud, value="pool-0123-456789-fedcba"))
    changed = engine_side.stub.Diff(provider_pb2.DiffRequest(
        id=created.id, urn=URN, olds=created.properties, news=new_value.inputs))
    assert changed.changes == provider_pb2.DiffResponse.DIFF_SOME and list(changed.replaces) == []
    renamed = engine_side.stub.Diff(provider_pb2.DiffRequest(
        id=created.id, urn=URN, olds=created.properties,
        news=check(engine_side, inputs(cloud, secret_name="etl-pool-id")).inputs))
    assert list(renamed.replaces) == ["secret_name"] and renamed.deleteBeforeReplace is False
    assert len(cloud.vault.requests) == requests_before_diffs, "diff makes no call to the vault"

    updated = engine_side.stub.Update(provider_pb2.UpdateRequest(
        id=created.id, urn=URN, olds=created.properties, news=new_value.inputs))
    live = cloud.vault.live("databricks-pool-general")
    assert live.value == "pool-0123-456789-fedcba" and as_dict(updated.properties)["version"] == live.version

    read = engine_side.stub.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=updated.properties))
    assert read.id == created.id and as_dict(read.properties)["version"] == live.version

    engine_side.stub.Delete(provider_pb2.DeleteRequest(id=created.id, urn=URN, properties=updated.properties))
    assert cloud.vault.is_deleted("databricks-pool-general"), "delete soft-deletes through the data plane"
    assert_no_secret_in(engine_side.stderr(), cloud, "the provider process's stderr")


def test_engine_refresh_drops_a_secret_deleted_out_of_band_and_the_next_create_recovers_it(engine_side, cloud):
    props = inputs(cloud, secret_name="databricks-pat", value="dapi-first-token-value")
    created = create(engine_side, props)
    cloud.vault.soft_delete("databricks-pat", "dapi-first-token-value")

    read = engine_side.stub.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=created.properties))
    assert read.id == "", "a blank id makes the engine drop it, so the next `up` writes the secret again"

    create(engine_side, inputs(cloud, secret_name="databricks-pat", value="dapi-second-token-value"))
    assert cloud.vault.live("databricks-pat").value == "dapi-second-token-value"


def test_engine_check_failures_name_the_property_and_never_echo_the_value(engine_side, cloud):
    oversized = "v" * 30_000
    refused = check(engine_side, inputs(
        cloud, vault_uri="http://kv-dbp-test.vault.azure.net/", secret_name="bad name!", value=oversized,
        expires="next tuesday", tags={f"tag{i}": "x" for i in range(16)}, credential="password",
    ))
    failures = {failure.property: failure.reason for failure in refused.failures}
    assert set(failures) == {"vault_uri", "secret_name", "value", "expires", "tags", "credential"}
    assert "15 tags" in failures["tags"] and "ISO 8601" in failures["expires"]
    assert all(oversized[:50] not in reason for reason in failures.values())


def test_engine_sees_the_firewall_refusal_without_secrets_or_chained_tracebacks(engine_side, cloud):
    cloud.vault.firewall_denies = True
    cloud.vault.client_address = "192.0.2.44"
    try:
        with pytest.raises(grpc.RpcError) as raised:
            create(engine_side, inputs(cloud, secret_name="databricks-pool-spot", value="pool-refused-value"))
    finally:
        cloud.vault.firewall_denies = False

    details = raised.value.details()
    assert f"Key Vault {VAULT} refused writing secret 'databricks-pool-spot' at its firewall" in details
    assert "192.0.2.44" in details and "keyVaultAllowedIpRanges" in details
    assert "During handling of the above exception" not in details and "direct cause" not in details
    assert "pool-refused-value" not in details
    assert_no_secret_in(details, cloud, "the gRPC error")


def test_engine_sees_the_recover_command_when_the_identity_may_not_recover(engine_side, cloud):
    cloud.vault.soft_delete("databricks-pool-gpu")
    cloud.vault.grant(cloud.client_id, SECRETS_OFFICER - {"recover"})
    try:
        with pytest.raises(grpc.RpcError) as raised:
            create(engine_side, inputs(cloud, secret_name="databricks-pool-gpu"))
    finally:
        cloud.vault.grant(cloud.client_id, SECRETS_OFFICER)

    assert f"az keyvault secret recover --vault-name {VAULT} --name databricks-pool-gpu" in raised.value.details()
    assert cloud.vault.is_deleted("databricks-pool-gpu"), "nothing was written over the deleted name"
