"""The provider survives the engine's trip: `python -m pulumi.dynamic` driven over gRPC.

The Pulumi engine starts `python -m pulumi.dynamic` for dynamic resources, reads its port from stdout, and
calls Check/Create/Diff/Read/Delete with the `__provider` property as `pulumi.dynamic` serialized it. This
does the same, with the provider process pointed at the loopback fakes through its environment only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.runtime.proto import provider_pb2

from dynamic_providers.databricks_pat import DatabricksPatProvider
from tests.fakes import FakeCloud, Fault, running_fake_cloud
from tests.provider_host import ProviderProcess, as_dict, provider_process, serialized_provider, struct

REPO = Path(__file__).resolve().parent.parent
URN = "urn:pulumi:dev::platform::pulumi-python:dynamic/databricks-platform:DatabricksPat::workspace-pat"
FAST_POLICY = {"request_timeout": 2.0, "retry_after_cap": 0.3, "time_budget": 10.0}


def pat_provider() -> str:
    return serialized_provider(DatabricksPatProvider(FAST_POLICY))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCloud]:
    with running_fake_cloud(tmp_path_factory.mktemp("grpc-cloud")) as fake_cloud:
        yield fake_cloud


@contextmanager
def pat_process(cloud: FakeCloud, workdir: Path, **environ: str) -> Iterator[ProviderProcess]:
    """The engine's provider process with the fake cloud's environment and ``environ``."""
    with provider_process({**cloud.environ(), "PULUMI_PROJECT": "platform", **environ}, workdir) as process:
        yield process


@pytest.fixture(scope="module")
def engine_side(cloud: FakeCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    with pat_process(cloud, tmp_path_factory.mktemp("provider-process")) as process:
        yield process


def check(engine_side: ProviderProcess, inputs: dict[str, Any]) -> provider_pb2.CheckResponse:
    news = struct({**inputs, "__provider": pat_provider()})
    return engine_side.stub.Check(provider_pb2.CheckRequest(urn=URN, olds=struct({}), news=news))


def assert_no_secret_in(text: str, cloud: FakeCloud, where: str) -> None:
    leaked = [secret[:6] + "…" for secret in cloud.secret_values() if secret in text]
    assert not leaked, f"secret(s) {leaked} leaked into {where}"


def test_engine_round_trip_creates_diffs_reads_and_revokes_a_token(engine_side: ProviderProcess, cloud):
    checked = check(engine_side, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    assert list(checked.failures) == []
    assert as_dict(checked.inputs)["lifetime_days"] == 90

    created = engine_side.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
    live = {token.token_id: token for token in cloud.databricks.live_tokens()}
    assert created.id in live, "Create minted a token on the workspace"
    outs = as_dict(created.properties)
    assert outs["token_value"] == live[created.id].token_value
    assert outs["token_id"] == created.id and outs["expiry_time"].endswith("Z")

    same = engine_side.stub.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=checked.inputs)
    )
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE

    longer = check(
        engine_side, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id, lifetime_days=180)
    )
    replaced = engine_side.stub.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=longer.inputs)
    )
    assert replaced.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(replaced.replaces) == ["lifetime_days"]
    assert replaced.deleteBeforeReplace is False

    read = engine_side.stub.Read(
        provider_pb2.ReadRequest(id=created.id, urn=URN, properties=created.properties)
    )
    assert read.id == created.id
    assert as_dict(read.properties)["token_value"] == outs["token_value"]

    engine_side.stub.Delete(provider_pb2.DeleteRequest(id=created.id, urn=URN, properties=created.properties))
    assert created.id not in {token.token_id for token in cloud.databricks.live_tokens()}, "Delete revokes"

    assert_no_secret_in(engine_side.stderr(), cloud, "the provider process's stderr")


def test_engine_refresh_of_a_token_revoked_out_of_band_reads_as_gone(engine_side: ProviderProcess, cloud):
    checked = check(engine_side, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    created = engine_side.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
    cloud.databricks.revoke(created.id)

    read = engine_side.stub.Read(
        provider_pb2.ReadRequest(id=created.id, urn=URN, properties=created.properties)
    )
    assert read.id == "", "a blank id makes the engine drop the resource, so `up` creates a new token"


def test_engine_check_failures_name_the_property(engine_side: ProviderProcess, cloud):
    refused = check(
        engine_side, cloud.inputs(workspace_url="http://adb-1.2.azuredatabricks.net", lifetime_days=0)
    )
    assert {failure.property for failure in refused.failures} == {"workspace_url", "lifetime_days"}


def test_engine_sees_a_clear_error_without_secrets_or_chained_tracebacks(engine_side: ProviderProcess, cloud):
    cloud.databricks.inject(
        "create", Fault(status=400, error_code="QUOTA_EXCEEDED", message="Too many tokens for this user")
    )
    checked = check(engine_side, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    with pytest.raises(grpc.RpcError) as raised:
        engine_side.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))

    details = raised.value.details()
    assert "HTTP 400 QUOTA_EXCEEDED: Too many tokens for this user" in details
    assert "During handling of the above exception" not in details
    assert "direct cause" not in details
    assert_no_secret_in(details, cloud, "the gRPC error")
    assert_no_secret_in(engine_side.stderr(), cloud, "the provider process's stderr")


def test_engine_reads_and_deletes_a_token_as_another_admin_and_refuses_a_non_admin_naming_the_owner(
    engine_side: ProviderProcess, cloud: FakeCloud, tmp_path: Path
):
    checked = check(engine_side, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    created = engine_side.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
    owner = as_dict(created.properties)["created_by_username"]
    assert owner == cloud.client_id

    # Another service principal runs the next `pulumi refresh` / `destroy`: state names the first one.
    admin_id, admin_secret = cloud.new_principal()
    non_admin_id, non_admin_secret = cloud.new_principal()
    cloud.databricks.contributors = {cloud.client_id, admin_id}  # the non-admin is a plain workspace user
    cloud.databricks.add_user(non_admin_id)
    as_principal = {"AZURE_TENANT_ID": cloud.tenant_id}
    with pat_process(
        cloud, tmp_path, **as_principal, AZURE_CLIENT_ID=non_admin_id, AZURE_CLIENT_SECRET=non_admin_secret
    ) as non_admin:
        for call in (non_admin.stub.Read, non_admin.stub.Delete):
            request_type = provider_pb2.ReadRequest if call is non_admin.stub.Read else provider_pb2.DeleteRequest
            with pytest.raises(grpc.RpcError) as raised:
                call(request_type(id=created.id, urn=URN, properties=created.properties))
            details = raised.value.details()
            assert f"It belongs to Databricks user {owner}" in details and "Nothing was changed" in details
            assert f"Databricks user {non_admin_id}" in details
            assert_no_secret_in(details, cloud, "the gRPC error")
        assert created.id in {token.token_id for token in cloud.databricks.live_tokens()}, "never dropped"

    (tmp_path / "admin").mkdir()
    before = len(cloud.databricks.requests)
    with pat_process(
        cloud, tmp_path / "admin", **as_principal, AZURE_CLIENT_ID=admin_id, AZURE_CLIENT_SECRET=admin_secret
    ) as admin:
        read = admin.stub.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=created.properties))
        assert read.id == created.id, "a live token stays in state whoever refreshes"
        admin.stub.Delete(provider_pb2.DeleteRequest(id=created.id, urn=URN, properties=created.properties))
        assert created.id not in {token.token_id for token in cloud.databricks.live_tokens()}
        revokers = {r.principal for r in cloud.databricks.requests[before:] if r.endpoint == "tm_delete"}
        assert revokers == {admin_id}
        assert_no_secret_in(admin.stderr(), cloud, "the provider process's stderr")
