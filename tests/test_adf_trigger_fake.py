"""The ARM fake's Data Factory triggers keep ADF's rules, seen through the real azure-mgmt-datafactory client.

The trigger providers are tested against this fake; these tests make sure it refuses what ADF refuses (so a
provider test that passes proves the provider avoided it) and serves start/stop as the SDK's poller expects.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.fakes.arm_triggers import STARTED, STOPPED, TriggerCloud, running_trigger_cloud, schedule_trigger


@pytest.fixture(scope="module")
def cloud(tls_material) -> Iterator[TriggerCloud]:
    with running_trigger_cloud(tls_material) as trigger_cloud:
        yield trigger_cloud


@pytest.fixture(autouse=True)
def _ca_bundle(cloud: TriggerCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in cloud.environ().items():
        monkeypatch.setenv(name, value)


def put(sdk, factory, name: str, properties: dict):
    return sdk.triggers.create_or_update(factory.group, factory.name, name, {"properties": properties})


def test_azure_natives_update_of_a_started_trigger_is_refused_with_trigger_enabled_cannot_update(cloud):
    factory = cloud.add_factory()
    sdk = cloud.sdk(factory)
    put(sdk, factory, "tr_daily", schedule_trigger(interval=1))
    cloud.arm.triggers.set_by_hand(factory, "tr_daily", STARTED)

    with pytest.raises(HttpResponseError) as refused:
        put(sdk, factory, "tr_daily", schedule_trigger(interval=2))
    assert refused.value.status_code == 400
    assert refused.value.error.code == "TriggerEnabledCannotUpdate"
    trigger = cloud.arm.triggers.get(factory, "tr_daily")
    assert trigger.properties["typeProperties"]["recurrence"]["interval"] == 1, "the refused update changed nothing"
    assert cloud.arm.triggers.actions(factory, "tr_daily")[-1] == ("put-refused", STARTED)


def test_a_new_trigger_is_created_stopped_whatever_runtime_state_its_body_claims(cloud):
    factory = cloud.add_factory()
    written = put(cloud.sdk(factory), factory, "TR_Daily", {**schedule_trigger(), "runtimeState": STARTED})
    assert written.properties.runtime_state == STOPPED
    again = cloud.sdk(factory).triggers.get(factory.group, factory.name, "tr_daily")
    assert again.properties.runtime_state == STOPPED, "ADF names ignore case"


@pytest.mark.parametrize("polls", [0, 3])
def test_start_and_stop_are_long_running_operations_the_sdk_polls_to_completion(cloud, polls):
    factory = cloud.add_factory()
    cloud.arm.triggers.add(factory, "tr_daily")
    cloud.arm.triggers.operation_polls = polls
    sdk = cloud.sdk(factory)
    try:
        sdk.triggers.begin_start(factory.group, factory.name, "tr_daily").result(timeout=30)
        assert cloud.arm.triggers.get(factory, "tr_daily").runtime_state == STARTED
        sdk.triggers.begin_stop(factory.group, factory.name, "tr_daily").result(timeout=30)
    finally:
        cloud.arm.triggers.operation_polls = 2
    assert cloud.arm.triggers.actions(factory, "tr_daily") == [
        ("start-requested", STOPPED), ("started", STARTED), ("stop-requested", STARTED), ("stopped", STOPPED)
    ], "the new state takes effect only when the operation completes"
    polled = [r.status for r in cloud.arm.calls("triggers.operation") if f"/{factory.name}/" in r.path]
    assert polled == ([202] * polls + [200]) * 2 if polls else polled == []


def test_a_trigger_being_started_already_counts_as_enabled(cloud):
    factory = cloud.add_factory()
    cloud.arm.triggers.add(factory, "tr_daily")
    sdk = cloud.sdk(factory)
    # Only the initial call: the operation is still running when the update comes.
    sdk.triggers.begin_start(factory.group, factory.name, "tr_daily", polling=False).result()
    assert cloud.arm.triggers.get(factory, "tr_daily").runtime_state == STOPPED
    with pytest.raises(HttpResponseError, match="TriggerEnabledCannotUpdate"):
        put(sdk, factory, "tr_daily", schedule_trigger(interval=3))


def test_a_started_trigger_cannot_be_deleted_until_it_is_stopped(cloud):
    factory = cloud.add_factory()
    cloud.arm.triggers.add(factory, "tr_daily", runtime_state=STARTED)
    sdk = cloud.sdk(factory)
    with pytest.raises(HttpResponseError) as refused:
        sdk.triggers.delete(factory.group, factory.name, "tr_daily")
    assert refused.value.status_code == 400 and cloud.arm.triggers.get(factory, "tr_daily") is not None

    sdk.triggers.begin_stop(factory.group, factory.name, "tr_daily").result(timeout=30)
    sdk.triggers.delete(factory.group, factory.name, "tr_daily")
    assert cloud.arm.triggers.get(factory, "tr_daily") is None
    sdk.triggers.delete(factory.group, factory.name, "tr_daily")  # 204: already gone is not an error


def test_an_unknown_trigger_is_404_to_get_start_and_stop(cloud):
    factory = cloud.add_factory()
    sdk = cloud.sdk(factory)
    with pytest.raises(ResourceNotFoundError, match="TriggerNotFound"):
        sdk.triggers.get(factory.group, factory.name, "tr_missing")
    for begin in (sdk.triggers.begin_start, sdk.triggers.begin_stop):
        with pytest.raises(ResourceNotFoundError):
            begin(factory.group, factory.name, "tr_missing")


def test_starting_a_started_trigger_does_nothing_as_adf_documents(cloud):
    factory = cloud.add_factory()
    cloud.arm.triggers.add(factory, "tr_daily", runtime_state=STARTED)
    cloud.sdk(factory).triggers.begin_start(factory.group, factory.name, "tr_daily").result(timeout=30)
    assert cloud.arm.triggers.actions(factory, "tr_daily") == [("start-requested", STARTED)]


def test_pipeline_definitions_are_stored_and_logged_in_order_with_the_triggers(cloud):
    factory = cloud.add_factory()
    sdk = cloud.sdk(factory)
    sdk.pipelines.create_or_update(factory.group, factory.name, "load", {"properties": {"activities": []}})
    put(sdk, factory, "tr_daily", schedule_trigger("load"))
    assert cloud.arm.triggers.pipeline_definitions(factory)["load"] == {"activities": []}
    assert cloud.arm.triggers.timeline(factory) == [("pipeline-put", "load"), ("put", "tr_daily")]
