"""The trigger providers' check and diff, their calls in-process against the ARM fake, and trigger_gate under
Pulumi's mocks (the dependencies that make Pulumi stop a trigger before changing it and start it after)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import dill
import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.rpc import UNKNOWN

from dynamic_providers.adf_trigger import TriggerRuntimeStateProvider, TriggerStopperProvider
from dynamic_providers.trigger_api import TriggerError
from dynamic_providers.trigger_gate import TriggerGateArgs, definition_fingerprint, trigger_gate
from tests.fakes.arm_triggers import STARTED, STOPPED, TriggerCloud, running_trigger_cloud
from tests.fakes.faults import Fault

FAST_POLICY = {"connect_timeout": 2.0, "read_timeout": 2.0, "max_retries": 1, "backoff_factor": 0.01,
               "backoff_max": 0.05, "poll_interval": 0.02, "time_budget": 10.0}
SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa"
STATIC_INPUTS = {
    "subscription_id": SUBSCRIPTION,
    "resource_group_name": "rg-dp-test",
    "factory_name": "adf-dp-test",
    "trigger_name": "tr_daily",
    "tenant_id": "contoso.onmicrosoft.com",
    "client_id": "00000000-0000-0000-0000-000000000001",
    "fingerprint": "f" * 64,
    "desired_state": STOPPED,
}


@pytest.fixture(scope="module")
def cloud(tls_material) -> Iterator[TriggerCloud]:
    with running_trigger_cloud(tls_material) as trigger_cloud:
        yield trigger_cloud


@pytest.fixture
def arm_env(cloud: TriggerCloud, monkeypatch: pytest.MonkeyPatch) -> TriggerCloud:
    from tests.conftest import CREDENTIAL_VARIABLES

    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in cloud.environ().items():
        monkeypatch.setenv(name, value)
    return cloud


def check(provider: Any, inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    result = provider.check({}, inputs)
    return result.inputs, {failure.property: failure.reason for failure in result.failures}


# -- check ---------------------------------------------------------------------------------------------------


def test_check_applies_defaults_and_normalises_hosts_and_the_desired_state():
    inputs, failures = check(TriggerRuntimeStateProvider(), {
        **STATIC_INPUTS, "desired_state": "started", "arm_endpoint": "https://Management.USGovCloudAPI.net/",
        "azure_authority_host": "https://login.microsoftonline.us/"})
    assert failures == {}
    assert inputs["desired_state"] == STARTED
    assert inputs["arm_endpoint"] == "https://management.usgovcloudapi.net"
    assert inputs["azure_authority_host"] == "https://login.microsoftonline.us"
    assert inputs["credential"] == "environment"
    defaulted, _ = check(TriggerStopperProvider(), STATIC_INPUTS)
    assert defaulted["azure_authority_host"] == "login.microsoftonline.com"
    assert "desired_state" not in defaulted, "a stopper is not told the desired state: changing it is no reason to stop"


@pytest.mark.parametrize(("prop", "value"), [
    ("subscription_id", "my-subscription"),
    ("resource_group_name", "rg with spaces"),
    ("resource_group_name", "rg-ends-with."),
    ("factory_name", "ad"),
    ("factory_name", "adf--double"),
    ("factory_name", "adf_underscore"),
    ("trigger_name", "tr/slash"),
    ("trigger_name", "-leading"),
    ("trigger_name", "x" * 261),
    ("tenant_id", "not a tenant!"),
    ("client_id", "not-a-guid"),
    ("credential", "client_secret"),
    ("azure_authority_host", "http://login.microsoftonline.us"),
    ("arm_endpoint", "http://management.azure.com"),
    ("arm_endpoint", "https://management.azure.com/subscriptions"),
    ("fingerprint", ""),
    ("fingerprint", 42),
    ("fingerprint", "f" * 257),
    ("desired_state", "Running"),
    ("desired_state", True),
])
def test_check_refuses_a_bad_input_naming_the_property_and_what_is_allowed(prop: str, value: Any):
    _, failures = check(TriggerRuntimeStateProvider(), {**STATIC_INPUTS, prop: value})
    assert list(failures) == [prop]
    assert repr(value)[:40] in failures[prop] and "must be" in failures[prop]


@pytest.mark.parametrize("prop", ["subscription_id", "resource_group_name", "factory_name", "trigger_name",
                                  "tenant_id", "client_id", "fingerprint", "desired_state"])
def test_check_requires_the_trigger_the_identity_and_the_fingerprint(prop: str):
    inputs = {key: value for key, value in STATIC_INPUTS.items() if key != prop}
    _, failures = check(TriggerRuntimeStateProvider(), inputs)
    assert list(failures) == [prop] and "required" in failures[prop]


@pytest.mark.parametrize("credential", ["managed_identity", "azure_cli"])
def test_a_managed_identity_or_cli_login_needs_no_client_id(credential: str):
    inputs = {key: value for key, value in STATIC_INPUTS.items() if key != "client_id"}
    assert check(TriggerStopperProvider(), {**inputs, "credential": credential})[1] == {}


def test_check_lets_unknown_values_through_during_preview():
    inputs, failures = check(TriggerRuntimeStateProvider(), {
        **STATIC_INPUTS, "factory_name": UNKNOWN, "fingerprint": UNKNOWN, "desired_state": UNKNOWN})
    assert failures == {} and inputs["fingerprint"] == UNKNOWN


# -- diff (never calls ARM: no fake is even running here) ------------------------------------------------------


def state_of(**overrides: Any) -> dict[str, Any]:
    """Outputs as they are in state after a TriggerRuntimeState create."""
    return {**STATIC_INPUTS, "credential": "environment", "azure_authority_host": "login.microsoftonline.com",
            "runtime_state": STOPPED, **overrides}


def test_a_stopper_updates_when_the_fingerprint_changes_and_never_replaces():
    stopper = TriggerStopperProvider()
    olds = {**state_of(), "found_state": "Absent"}
    assert not stopper.diff("id", olds, state_of()).changes
    changed = stopper.diff("id", olds, state_of(fingerprint="e" * 64))
    assert changed.changes and changed.replaces == []
    assert stopper.diff("id", olds, state_of(fingerprint=UNKNOWN)).changes, "preview shows a possible change"


def test_the_runtime_state_updates_on_a_new_fingerprint_or_desired_state():
    provider = TriggerRuntimeStateProvider()
    assert not provider.diff("id", state_of(), state_of()).changes
    for news in (state_of(fingerprint="e" * 64), state_of(desired_state=STARTED)):
        diff = provider.diff("id", state_of(), news)
        assert diff.changes and diff.replaces == []


@pytest.mark.parametrize(("recorded", "desired", "drifted"), [
    (STARTED, STOPPED, True), (STOPPED, STARTED, True), ("Disabled", STARTED, True), ("Disabled", STOPPED, True),
    (STARTED, STARTED, False), (STOPPED, STOPPED, False),
])
def test_a_runtime_state_recorded_by_a_refresh_that_differs_from_the_desired_one_is_a_change(recorded, desired,
                                                                                            drifted):
    diff = TriggerRuntimeStateProvider().diff(
        "id", state_of(runtime_state=recorded, desired_state=desired), state_of(desired_state=desired))
    assert bool(diff.changes) is drifted


def test_another_trigger_is_a_replacement_but_a_change_of_case_is_the_same_trigger():
    provider = TriggerRuntimeStateProvider()
    moved = provider.diff("id", state_of(), state_of(factory_name="adf-dp-other"))
    assert moved.replaces == ["factory_name"] and moved.delete_before_replace is False
    assert not provider.diff("id", state_of(), state_of(trigger_name="TR_DAILY")).changes, "ADF names ignore case"


# -- calls, in-process ---------------------------------------------------------------------------------------


def test_a_stopper_whose_fingerprint_did_not_change_calls_nothing(arm_env: TriggerCloud):
    factory = arm_env.add_factory()
    arm_env.arm.triggers.add(factory, "tr_daily", runtime_state=STARTED)
    stopper = TriggerStopperProvider(FAST_POLICY)
    inputs = check(stopper, arm_env.inputs(factory))[0]
    created = stopper.create(inputs)
    arm_env.arm.triggers.set_by_hand(factory, "tr_daily", STARTED)
    requests = len(arm_env.arm.requests)
    # Only the identity changed (e.g. deployerClientId set explicitly): the trigger keeps running.
    updated = stopper.update(created.id, created.outs, {**inputs, "tenant_id": arm_env.tenant_id.upper()})
    assert len(arm_env.arm.requests) == requests
    assert updated.outs["found_state"] == STARTED and created.outs["found_state"] == STARTED


def test_a_stopper_moved_to_another_factory_stops_the_old_trigger_too(arm_env: TriggerCloud):
    old, new = arm_env.add_factory(), arm_env.add_factory()
    arm_env.arm.triggers.add(old, "tr_daily", runtime_state=STARTED)
    stopper = TriggerStopperProvider(FAST_POLICY)
    created = stopper.create(check(stopper, {**arm_env.inputs(old), "fingerprint": "a"})[0])
    arm_env.arm.triggers.set_by_hand(old, "tr_daily", STARTED)
    updated = stopper.update(created.id, created.outs, check(stopper, {**arm_env.inputs(new), "fingerprint": "a"})[0])
    assert arm_env.arm.triggers.get(old, "tr_daily").runtime_state == STOPPED, "Pulumi changes or deletes that one"
    assert updated.outs["found_state"] == "Absent", "the new factory has no such trigger yet"


def test_the_managed_identity_credential_reaches_arm(arm_env: TriggerCloud, monkeypatch: pytest.MonkeyPatch):
    factory = arm_env.add_factory()
    arm_env.arm.triggers.add(factory, "tr_daily")
    arm_env.entra.register_managed_identity(arm_env.client_id)
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    monkeypatch.setenv("IDENTITY_ENDPOINT", arm_env.entra.managed_identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", arm_env.entra.managed_identity_header)
    provider = TriggerRuntimeStateProvider(FAST_POLICY)
    inputs = check(provider, arm_env.inputs(factory, credential="managed_identity", desired_state=STARTED))[0]
    assert provider.create(inputs).outs["runtime_state"] == STARTED


def test_a_wrong_client_secret_fails_with_entra_ids_message_without_the_secret_or_a_chained_cause(
    arm_env: TriggerCloud, monkeypatch: pytest.MonkeyPatch
):
    import secrets

    factory = arm_env.add_factory()
    wrong = secrets.token_urlsafe(30)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", wrong)
    provider = TriggerRuntimeStateProvider(FAST_POLICY)
    with pytest.raises(TriggerError) as raised:
        provider.read("id", check(provider, arm_env.inputs(factory, desired_state=STOPPED))[0])
    assert "AADSTS7000215" in str(raised.value) and wrong not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_an_environment_credential_without_a_secret_names_the_variables(arm_env, monkeypatch):
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    provider = TriggerStopperProvider(FAST_POLICY)
    with pytest.raises(TriggerError, match="AZURE_CLIENT_SECRET, or AZURE_CLIENT_CERTIFICATE_PATH"):
        provider.create(check(provider, arm_env.inputs(arm_env.add_factory()))[0])


def test_a_bad_gateway_that_outlasts_the_retries_says_arm_gave_up(arm_env: TriggerCloud):
    factory = arm_env.add_factory()
    arm_env.arm.inject("triggers.get", *[Fault(502, body=b"<html>502 Bad Gateway</html>")] * 2)
    provider = TriggerRuntimeStateProvider(FAST_POLICY)
    with pytest.raises(TriggerError) as raised:
        provider.read("id", check(provider, arm_env.inputs(factory, desired_state=STOPPED))[0])
    assert "HTTP 502" in str(raised.value) and "still failing after 1 retries" in str(raised.value)
    assert factory.name in str(raised.value)


def test_state_without_its_inputs_fails_naming_what_is_missing():
    with pytest.raises(TriggerError, match="factory_name, trigger_name") as raised:
        TriggerRuntimeStateProvider().delete("id", {"subscription_id": SUBSCRIPTION, "resource_group_name": "rg",
                                                    "tenant_id": "t"})
    assert raised.value.__cause__ is None


@pytest.mark.parametrize("provider_class", [TriggerStopperProvider, TriggerRuntimeStateProvider])
def test_providers_pickle_by_reference_with_only_their_policy(provider_class):
    serialized = serialize_provider(provider_class({"time_budget": 60.0}))
    raw = base64.b64decode(serialized)
    assert b"dynamic_providers.adf_trigger" in raw and provider_class.__name__.encode() in raw
    assert b"def create" not in raw and len(raw) < 1000, "the class must not be pickled by value"
    restored = dill.loads(raw)
    assert type(restored) is provider_class and restored.policy == {"time_budget": 60.0}
    assert serialize_provider(provider_class({"time_budget": 60.0})) == serialized, "stable: no diffs"


# -- fingerprint -------------------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@given(definition=st.dictionaries(st.text(max_size=6), _json, min_size=1, max_size=5))
def test_a_fingerprint_ignores_key_order_and_changes_with_any_value(definition: dict):
    reordered = dict(reversed(list(definition.items())))
    assert definition_fingerprint(reordered) == definition_fingerprint(definition)
    key = next(iter(definition))
    assert definition_fingerprint({**definition, key: [definition[key]]}) != definition_fingerprint(definition)


# -- trigger_gate under Pulumi's mocks ----------------------------------------------------------------------------


class _EchoMocks(pulumi_mocks.Mocks):
    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Any] = []
        self.urns: dict[str, str] = {}

    def RegisterResource(self, request):
        self.registrations.append(request)
        response = super().RegisterResource(request)
        self.urns[request.name] = response.urn
        return response


def gate_args(**overrides: Any) -> TriggerGateArgs:
    values = {key: value for key, value in STATIC_INPUTS.items()}
    values.update(overrides)
    return TriggerGateArgs(**values)


def test_trigger_gate_orders_stop_before_the_trigger_and_pipelines_and_the_runtime_state_after_them():
    from pulumi_azure_native import datafactory

    mocks = _EchoMocks()
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="platform", stack="test", preview=False, monitor=monitor)

    class Objects(pulumi.ComponentResource):
        def __init__(self, name: str):
            super().__init__("databricks-platform:datafactory:FactoryObjects", name)
            gate = trigger_gate(f"{name}-trigger-tr_daily", gate_args(desired_state=STARTED), parent=self)
            where = {"factory_name": "adf-dp-test", "resource_group_name": "rg-dp-test"}
            pipeline = datafactory.Pipeline(f"{name}-pipeline-load", pipeline_name="load", **where,
                                            opts=pulumi.ResourceOptions(parent=self, depends_on=gate.depends_on))
            trigger = datafactory.Trigger(f"{name}-trigger-tr_daily", trigger_name="tr_daily", **where,
                                          properties={"type": "ScheduleTrigger"},
                                          opts=pulumi.ResourceOptions(parent=self,
                                                                      depends_on=[pipeline, *gate.depends_on]))
            self.state = gate.runtime_state(trigger, [pipeline])
            with pytest.raises(ValueError, match="already called"):
                gate.runtime_state(trigger, [pipeline])
            self.register_outputs({})

    @pulumi.runtime.test
    def declare() -> pulumi.Output:
        return Objects("factory-objects").state.runtime_state

    declare()
    by_name = {request.name: request for request in monitor.registrations}
    stopper = by_name["factory-objects-trigger-tr_daily-stopper"]
    state = by_name["factory-objects-trigger-tr_daily-runtime-state"]
    trigger, pipeline = by_name["factory-objects-trigger-tr_daily"], by_name["factory-objects-pipeline-load"]
    urn = monitor.urns

    assert stopper.type == "pulumi-python:dynamic/databricks-platform:TriggerStopper"
    assert state.type == "pulumi-python:dynamic/databricks-platform:TriggerRuntimeState"
    assert urn[stopper.name] in trigger.dependencies and urn[stopper.name] in pipeline.dependencies
    assert set(state.dependencies) >= {urn[trigger.name], urn[pipeline.name]}
    assert stopper.parent == state.parent == urn["factory-objects"], "children of the publishing component"
    fields = state.object.fields
    assert fields["desired_state"].string_value == STARTED and fields["trigger_name"].string_value == "tr_daily"
    assert fields["fingerprint"].string_value == stopper.object.fields["fingerprint"].string_value
    assert "desired_state" not in stopper.object.fields
    assert state.deleteBeforeReplaceDefined and state.deleteBeforeReplace is False


def test_trigger_gate_refuses_a_desired_state_that_is_neither_started_nor_stopped():
    with pytest.raises(ValueError, match="Started or Stopped"):
        trigger_gate("t", gate_args(desired_state="started"))
