"""clients.datafactory against the loopback ARM fake, with the real azure-identity and azure-mgmt-datafactory.

The fake's route table is what later Data Factory work extends (trigger endpoints); the last test shows how.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from clients.datafactory import arm_endpoint_for, datafactory_client, parse_factory_id
from clients.identity import MANAGEMENT_SCOPES, RESOURCE_MANAGER_ENDPOINTS, deployer_credential
from tests.fakes.arm import FakeArm, FakeFactory, PipelineStep, arm_error
from tests.fakes.entra import FakeEntra
from tests.fakes.faults import Fault
from tests.fakes.server import Reply


@dataclass
class Arm:
    entra: FakeEntra
    arm: FakeArm
    factory: FakeFactory
    credential: object
    client_id: str


@pytest.fixture
def arm(tls_material, monkeypatch) -> Iterator[Arm]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_material.ca_bundle))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    tenant_id, client_id, secret = str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_urlsafe(30)
    with FakeEntra(tls_material, tenant_id) as entra, FakeArm(tls_material, entra) as fake_arm:
        entra.register_secret(client_id, secret)
        credential = deployer_credential("environment", tenant_id=tenant_id, client_id=client_id,
                                         authority_host=entra.authority, environ={"AZURE_CLIENT_SECRET": secret})
        yield Arm(entra, fake_arm, fake_arm.add_factory("rg-dp-test", "adf-dp-test"), credential, client_id)


def client_for(arm: Arm, **options):
    return datafactory_client(arm.credential, arm.factory.subscription, authority_host=arm.entra.authority,
                              arm_endpoint=arm.arm.url, retry_backoff_factor=0.01, **options)


def test_the_client_runs_a_pipeline_with_a_management_token_of_the_deploying_identity(arm):
    arm.factory.pipelines["load"] = [PipelineStep("Succeeded")]
    run_id = client_for(arm).pipelines.create_run("rg-dp-test", "adf-dp-test", "load").run_id
    assert run_id in arm.factory.runs
    assert [request.principal for request in arm.arm.requests] == [arm.client_id]


def test_arm_refuses_a_token_for_another_audience(arm):
    # What makes the smoke tests prove the client asks for the management scope, not just any token.
    from azure.mgmt.datafactory import DataFactoryManagementClient

    wrong = DataFactoryManagementClient(
        arm.credential.credential, arm.factory.subscription, base_url=arm.arm.url,
        credential_scopes=["2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"],
    )
    arm.factory.pipelines["load"] = [PipelineStep("Succeeded")]
    with pytest.raises(ClientAuthenticationError, match="InvalidAuthenticationToken"):
        wrong.pipelines.create_run("rg-dp-test", "adf-dp-test", "load")
    assert arm.factory.runs == {}


@pytest.mark.parametrize("host", ["login.microsoftonline.us", "https://login.chinacloudapi.cn/", None])
def test_each_cloud_gets_its_own_arm_endpoint_and_token_scope(arm, host):
    client = datafactory_client(arm.credential, "00000000-0000-0000-0000-000000000000", authority_host=host)
    hostname = (host or "login.microsoftonline.com").removeprefix("https://").rstrip("/")
    assert client._config.base_url == RESOURCE_MANAGER_ENDPOINTS[hostname]
    assert client._config.credential_scopes == [MANAGEMENT_SCOPES[hostname]]
    assert arm_endpoint_for(host, "https://arm.example.test/") == "https://arm.example.test"


SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"


def test_a_factory_id_is_split_into_its_parts_and_anything_else_is_refused():
    good = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-a/providers/microsoft.datafactory/factories/adf-x"
    ref = parse_factory_id(good)
    assert (ref.subscription_id, ref.resource_group, ref.name) == (SUBSCRIPTION, "rg-a", "adf-x")
    workspace = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w"
    for wrong in ("", "/subscriptions/s/resourceGroups/g", workspace, "adf-x", good + "\n", " " + good, good + "/",
                  good.replace(SUBSCRIPTION, "s-1"), good.replace("adf-x", "adf x"),
                  good.replace("rg-a", "rg\r\nX: 1")):
        with pytest.raises(ValueError, match="Data Factory resource id"):
            parse_factory_id(wrong)


def test_a_trigger_route_added_to_the_fake_is_served_to_the_sdk_with_its_faults(arm):
    triggers = arm.factory.state.setdefault("triggers", {})

    def put_trigger(request, params, factory) -> Reply:
        triggers[params["trigger"]] = {"name": params["trigger"], **request.json()}
        return Reply.json(200, triggers[params["trigger"]])

    def get_trigger(request, params, factory) -> Reply:
        if params["trigger"] not in triggers:
            return arm_error(404, "TriggerNotFound", f"Trigger {params['trigger']} not found.")
        return Reply.json(200, triggers[params["trigger"]])

    trigger = "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.DataFactory" \
              "/factories/{factory}/triggers/{trigger}"
    arm.arm.route("PUT", trigger, "triggers.createOrUpdate", put_trigger)
    arm.arm.route("GET", trigger, "triggers.get", get_trigger)
    arm.arm.inject("triggers.get", Fault(503, "ServiceUnavailable", "Busy", retry_after="0"))

    client = client_for(arm)
    body = {"properties": {"type": "ScheduleTrigger", "typeProperties": {
        "recurrence": {"frequency": "Day", "interval": 1, "startTime": "2030-01-01T00:00:00Z"}}}}
    client.triggers.create_or_update("rg-dp-test", "adf-dp-test", "daily", body)
    got = client.triggers.get("rg-dp-test", "adf-dp-test", "daily")
    assert json.loads(json.dumps(got.as_dict()))["properties"]["type"] == "ScheduleTrigger"
    assert [r.status for r in arm.arm.calls("triggers.get")] == [503, 200], "the SDK retried the injected 503"
    with pytest.raises(HttpResponseError, match="TriggerNotFound"):
        client.triggers.get("rg-dp-test", "adf-dp-test", "weekly")
