"""A trigger's lifecycle across deployments: the providers in `python -m pulumi.dynamic`, driven over gRPC as the
engine drives them, against the loopback ARM fake with the real azure-identity and azure-mgmt-datafactory.

`Stage` plays the engine for one published trigger: on each `up` it checks and diffs the TriggerStopper, the
azure-native Pipeline and Trigger (emulated by the SDK calls azure-native makes: PUT when the definition
changed), then the TriggerRuntimeState, in the order their `depends_on` imposes (test_adf_trigger.py proves
trigger_gate declares those dependencies), and keeps each resource's state between runs as Pulumi does. A step
that fails ends the run, as in Pulumi, leaving later steps' state as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from azure.core.exceptions import HttpResponseError
from google.protobuf import struct_pb2
from pulumi.runtime.proto import provider_pb2

from dynamic_providers.adf_trigger import TriggerRuntimeStateProvider, TriggerStopperProvider
from dynamic_providers.trigger_gate import definition_fingerprint
from tests.fakes.arm import FakeFactory
from tests.fakes.arm_triggers import STARTED, STOPPED, TriggerCloud, running_trigger_cloud, schedule_trigger
from tests.fakes.faults import Fault
from tests.provider_host import ProviderProcess, as_dict, provider_process, serialized_provider, struct

REPO = Path(__file__).resolve().parent.parent
TOKEN = "pulumi-python:dynamic/databricks-platform"
FAST_POLICY = {"connect_timeout": 2.0, "read_timeout": 2.0, "max_retries": 2, "backoff_factor": 0.01,
               "backoff_max": 0.05, "poll_interval": 0.02, "time_budget": 20.0}
NONE, SOME = provider_pb2.DiffResponse.DIFF_NONE, provider_pb2.DiffResponse.DIFF_SOME
PIPELINE = {"activities": [{"name": "Run notebook", "type": "DatabricksNotebook",
                            "typeProperties": {"notebookPath": "/Shared/load"}}]}
TRIGGER_ROUTES = ("triggers.get", "triggers.createOrUpdate", "triggers.delete", "triggers.start", "triggers.stop",
                  "triggers.operation", "pipelines.createOrUpdate")


@pytest.fixture(scope="module")
def cloud(tls_material) -> Iterator[TriggerCloud]:
    with running_trigger_cloud(tls_material) as trigger_cloud:
        yield trigger_cloud


@pytest.fixture(scope="module")
def engine(cloud: TriggerCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    environ = {**cloud.environ(), "PULUMI_PROJECT": "platform"}
    with provider_process(environ, tmp_path_factory.mktemp("trigger-provider-process")) as process:
        yield process


@pytest.fixture(autouse=True)
def _clean(cloud: TriggerCloud, engine: ProviderProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in cloud.environ().items():
        monkeypatch.setenv(name, value)  # for the SDK calls that stand in for azure-native
    yield
    assert {route: cloud.arm.faults.pending(route) for route in TRIGGER_ROUTES if cloud.arm.faults.pending(route)} \
        == {}, "every injected fault was met (so the retry it stands for happened)"
    leaked = [value[:6] + "…" for value in cloud.secret_values() if value in engine.stderr()]
    assert not leaked, f"secret(s) {leaked} in the provider process's stderr"


@dataclass
class Stored:
    id: str
    outputs: struct_pb2.Struct

    @property
    def props(self) -> dict[str, Any]:
        return as_dict(self.outputs)


@dataclass
class Stage:
    """One published trigger (running one pipeline) of one factory, deployed as the engine would."""

    engine: ProviderProcess
    cloud: TriggerCloud
    factory: FakeFactory
    trigger: str = "tr_daily"
    pipeline: str = "load"
    policy: dict[str, float] = field(default_factory=lambda: dict(FAST_POLICY))
    stopper: Stored | None = None
    state: Stored | None = None
    applied: dict[str, Any] = field(default_factory=dict)
    diffs: dict[str, int] = field(default_factory=dict)
    """The last diff of each dynamic resource (DIFF_NONE, DIFF_SOME)."""

    def urn(self, kind: str) -> str:
        role = {"TriggerStopper": "stopper", "TriggerRuntimeState": "runtime-state"}[kind]
        return f"urn:pulumi:test::platform::{TOKEN}:{kind}::factory-trigger-{self.trigger.lower()}-{role}"

    def inputs(self, kind: str, **overrides: Any) -> dict[str, Any]:
        provider = {"TriggerStopper": TriggerStopperProvider,
                    "TriggerRuntimeState": TriggerRuntimeStateProvider}[kind](self.policy)
        inputs = self.cloud.inputs(self.factory, self.trigger, **overrides)
        return {**inputs, "__provider": serialized_provider(provider)}

    def check(self, kind: str, inputs: dict[str, Any]) -> struct_pb2.Struct:
        checked = self.engine.stub.Check(
            provider_pb2.CheckRequest(urn=self.urn(kind), olds=struct({}), news=struct(inputs)))
        assert list(checked.failures) == [], [(f.property, f.reason) for f in checked.failures]
        return checked.inputs

    def apply(self, kind: str, stored: Stored | None, inputs: dict[str, Any]) -> Stored:
        news, urn, stub = self.check(kind, inputs), self.urn(kind), self.engine.stub
        if stored is None:
            created = stub.Create(provider_pb2.CreateRequest(urn=urn, properties=news), timeout=120)
            return Stored(created.id, created.properties)
        diff = stub.Diff(provider_pb2.DiffRequest(id=stored.id, urn=urn, olds=stored.outputs, news=news))
        self.diffs[kind] = diff.changes
        if diff.changes == NONE:
            return stored
        if diff.replaces:
            created = stub.Create(provider_pb2.CreateRequest(urn=urn, properties=news), timeout=120)
            stub.Delete(provider_pb2.DeleteRequest(id=stored.id, urn=urn, properties=stored.outputs), timeout=120)
            return Stored(created.id, created.properties)
        updated = stub.Update(provider_pb2.UpdateRequest(id=stored.id, urn=urn, olds=stored.outputs, news=news),
                              timeout=120)
        return Stored(stored.id, updated.properties)

    def up(self, desired: str, *, trigger: dict | None = None, pipeline: dict | None = None,
           refresh: bool = False) -> None:
        trigger = trigger or schedule_trigger(self.pipeline)
        pipeline = pipeline or PIPELINE
        fingerprint = definition_fingerprint({"trigger": trigger, "pipelines": {self.pipeline: pipeline}})
        if refresh:
            self.refresh()
        self.stopper = self.apply("TriggerStopper", self.stopper,
                                  self.inputs("TriggerStopper", fingerprint=fingerprint))
        # azure-native's Pipeline, then its Trigger (which references the pipeline): both depend on the stopper.
        sdk = self.cloud.sdk(self.factory)
        if self.applied.get("pipeline") != pipeline:
            sdk.pipelines.create_or_update(self.factory.group, self.factory.name, self.pipeline,
                                           {"properties": pipeline})
            self.applied["pipeline"] = pipeline
        if self.applied.get("trigger") != trigger:
            sdk.triggers.create_or_update(self.factory.group, self.factory.name, self.trigger,
                                          {"properties": trigger})
            self.applied["trigger"] = trigger
        self.state = self.apply("TriggerRuntimeState", self.state,
                                self.inputs("TriggerRuntimeState", fingerprint=fingerprint, desired_state=desired))

    def refresh(self) -> None:
        assert self.state is not None
        read = self.engine.stub.Read(provider_pb2.ReadRequest(
            id=self.state.id, urn=self.urn("TriggerRuntimeState"), properties=self.state.outputs), timeout=120)
        self.state = Stored(read.id, read.properties) if read.id else None

    def destroy(self) -> None:
        """Dependents first: the runtime state, then azure-native's Trigger, then the stopper."""
        assert self.state is not None and self.stopper is not None
        self.engine.stub.Delete(provider_pb2.DeleteRequest(
            id=self.state.id, urn=self.urn("TriggerRuntimeState"), properties=self.state.outputs), timeout=120)
        self.cloud.sdk(self.factory).triggers.delete(self.factory.group, self.factory.name, self.trigger)
        self.engine.stub.Delete(provider_pb2.DeleteRequest(
            id=self.stopper.id, urn=self.urn("TriggerStopper"), properties=self.stopper.outputs), timeout=120)

    def runtime_state(self) -> str:
        found = self.cloud.arm.triggers.get(self.factory, self.trigger)
        return found.runtime_state if found else "absent"

    def timeline(self, since: int = 0) -> list[tuple[str, str]]:
        return self.cloud.arm.triggers.timeline(self.factory)[since:]


@pytest.fixture
def stage(engine: ProviderProcess, cloud: TriggerCloud) -> Stage:
    return Stage(engine, cloud, cloud.add_factory())


def changed_pipeline(n: int = 2) -> dict:
    return {"activities": [{**PIPELINE["activities"][0], "name": f"Run notebook v{n}"}]}


# -- first deployment ----------------------------------------------------------------------------------------


def test_a_new_trigger_stays_stopped_in_a_stage_that_wants_it_stopped(stage: Stage):
    stage.up(STOPPED)
    assert stage.timeline() == [("pipeline-put", "load"), ("put", "tr_daily")], "never started"
    assert stage.state.props["runtime_state"] == STOPPED
    assert stage.stopper.props["found_state"] == "Absent", "nothing to stop before the trigger existed"


def test_a_new_trigger_is_started_after_it_and_its_pipeline_exist_where_the_stage_wants_it_started(stage: Stage):
    stage.up(STARTED)
    assert stage.timeline() == [("pipeline-put", "load"), ("put", "tr_daily"),
                                ("start-requested", "tr_daily"), ("started", "tr_daily")]
    assert stage.state.props["runtime_state"] == STARTED == stage.runtime_state()
    assert stage.state.id == f"{stage.factory.resource_id}/triggers/tr_daily"


# -- changes -------------------------------------------------------------------------------------------------


def test_a_changed_pipeline_stops_the_trigger_before_its_update_and_starts_it_again_after(stage: Stage):
    stage.up(STARTED)
    mark = len(stage.timeline())
    stage.up(STARTED, pipeline=changed_pipeline())
    assert stage.timeline(mark) == [("stop-requested", "tr_daily"), ("stopped", "tr_daily"),
                                    ("pipeline-put", "load"), ("start-requested", "tr_daily"),
                                    ("started", "tr_daily")]
    assert stage.stopper.props["found_state"] == STARTED
    assert stage.state.props["runtime_state"] == STARTED


def test_a_changed_trigger_is_never_updated_while_it_is_started(stage: Stage):
    stage.up(STARTED)
    mark = len(stage.timeline())
    stage.up(STARTED, trigger=schedule_trigger(stage.pipeline, interval=6))
    assert stage.timeline(mark) == [("stop-requested", "tr_daily"), ("stopped", "tr_daily"), ("put", "tr_daily"),
                                    ("start-requested", "tr_daily"), ("started", "tr_daily")]
    assert ("put-refused", "tr_daily") not in stage.timeline(), "TriggerEnabledCannotUpdate never happened"
    recurrence = stage.cloud.arm.triggers.get(stage.factory, "tr_daily").properties["typeProperties"]["recurrence"]
    assert recurrence["interval"] == 6


def test_an_unchanged_stage_makes_no_call_to_arm_or_entra_id(stage: Stage):
    stage.up(STARTED)
    requests, tokens = len(stage.cloud.arm.requests), len(stage.cloud.entra.token_requests())
    stage.up(STARTED)
    assert stage.diffs == {"TriggerStopper": NONE, "TriggerRuntimeState": NONE}
    assert (len(stage.cloud.arm.requests), len(stage.cloud.entra.token_requests())) == (requests, tokens), \
        "check and diff work offline, so preview does too"


def test_a_change_of_desired_state_alone_starts_or_stops_without_the_stopper(stage: Stage):
    stage.up(STOPPED)
    mark = len(stage.timeline())
    stage.up(STARTED)
    assert stage.diffs["TriggerStopper"] == NONE
    assert stage.timeline(mark) == [("start-requested", "tr_daily"), ("started", "tr_daily")]
    stage.up(STOPPED)
    assert stage.runtime_state() == STOPPED and stage.state.props["runtime_state"] == STOPPED


def test_a_failure_between_stop_and_start_leaves_it_stopped_and_the_next_up_starts_it_again(stage: Stage):
    stage.up(STARTED)
    stage.cloud.arm.inject("pipelines.createOrUpdate",
                           Fault(400, "BadRequest", "Activity 'Run notebook v2' refers to a missing linked service"))
    with pytest.raises(HttpResponseError, match="missing linked service"):
        stage.up(STARTED, pipeline=changed_pipeline())
    assert stage.runtime_state() == STOPPED, "the run ended after the stopper, before the runtime state"

    mark = len(stage.timeline())
    stage.up(STARTED, pipeline=changed_pipeline())  # the next run, with the cause fixed
    assert stage.diffs["TriggerStopper"] == NONE, "its new fingerprint was recorded when it stopped the trigger"
    assert stage.diffs["TriggerRuntimeState"] == SOME, "it still carries the old fingerprint"
    assert stage.timeline(mark) == [("pipeline-put", "load"), ("start-requested", "tr_daily"),
                                    ("started", "tr_daily")]
    assert stage.runtime_state() == STARTED


# -- hand changes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("wanted", "by_hand"), [(STOPPED, STARTED), (STARTED, STOPPED)])
def test_a_trigger_changed_by_hand_is_left_until_a_refresh_sees_it_and_then_put_back(stage: Stage, wanted, by_hand):
    stage.up(wanted)
    stage.cloud.arm.triggers.set_by_hand(stage.factory, "tr_daily", by_hand)

    stage.up(wanted)
    assert stage.diffs["TriggerRuntimeState"] == NONE, "without a refresh nothing knows"
    assert stage.runtime_state() == by_hand

    stage.up(wanted, refresh=True)
    assert stage.diffs["TriggerRuntimeState"] == SOME, "the refresh recorded the drift"
    assert stage.runtime_state() == wanted == stage.state.props["runtime_state"]


def test_a_trigger_started_by_hand_is_stopped_before_the_next_change_even_without_refresh(stage: Stage):
    stage.up(STOPPED)
    stage.cloud.arm.triggers.set_by_hand(stage.factory, "tr_daily", STARTED)
    stage.up(STOPPED, trigger=schedule_trigger(stage.pipeline, interval=2))
    assert ("put-refused", "tr_daily") not in stage.timeline()
    assert stage.stopper.props["found_state"] == STARTED
    assert stage.runtime_state() == STOPPED


# -- deletion and missing triggers ---------------------------------------------------------------------------


def test_deleting_stops_a_started_trigger_before_its_trigger_is_deleted(stage: Stage):
    stage.up(STARTED)
    mark = len(stage.timeline())
    stage.destroy()
    assert stage.timeline(mark) == [("stop-requested", "tr_daily"), ("stopped", "tr_daily"), ("delete", "tr_daily")]


def test_where_there_is_no_trigger_nothing_needs_stopping(stage: Stage):
    stopper = stage.apply("TriggerStopper", None, stage.inputs("TriggerStopper"))
    assert stopper.props["found_state"] == "Absent"
    stage.up(STARTED)
    stage.cloud.arm.triggers.set_by_hand(stage.factory, "tr_daily", STOPPED)
    stage.cloud.sdk(stage.factory).triggers.delete(stage.factory.group, stage.factory.name, "tr_daily")

    stage.engine.stub.Delete(provider_pb2.DeleteRequest(
        id=stage.state.id, urn=stage.urn("TriggerRuntimeState"), properties=stage.state.outputs), timeout=60)
    stage.refresh()
    assert stage.state is None, "a refresh drops the runtime state of a trigger deleted out of band"
    assert [action for action, _ in stage.timeline() if action.startswith("stop")] == []


def test_bringing_a_missing_trigger_to_a_state_fails_naming_it_and_its_factory(stage: Stage):
    with pytest.raises(grpc.RpcError) as raised:
        stage.apply("TriggerRuntimeState", None, stage.inputs("TriggerRuntimeState", desired_state=STARTED))
    details = raised.value.details()
    assert f"trigger 'tr_daily' of factory '{stage.factory.name}'" in details
    assert "does not exist" in details and "depend on" in details


# -- ARM misbehaving -----------------------------------------------------------------------------------------


def test_throttling_and_server_errors_are_retried_within_the_budget(stage: Stage):
    arm = stage.cloud.arm
    arm.inject("triggers.get", Fault(429, "TooManyRequests", "Rate limit exceeded", retry_after="1"),
               Fault(503, "ServiceUnavailable", "Busy"))
    # Start is idempotent, so even a 502 on it is retried.
    arm.inject("triggers.start", Fault(502, "BadGateway", "Bad gateway"), Fault(500, "InternalServerError", "Oops"))
    arm.inject("triggers.operation", Fault(503, "ServiceUnavailable", "Busy", retry_after="0"))
    stage.up(STARTED)
    assert stage.runtime_state() == STARTED
    assert [r.status for r in arm.calls("triggers.start") if stage.factory.name in r.path] == [502, 500, 200]


@pytest.mark.parametrize("where", ["triggers.get", "triggers.start", "poll", "entra"])
def test_a_stalled_arm_or_entra_fails_the_operation_within_its_time_budget(stage: Stage, where):
    stage.up(STOPPED)
    cloud = stage.cloud
    # Production-like timeouts and a 3 s budget: only the budget can end an answer that never comes.
    stage.policy.update(read_timeout=60.0, connect_timeout=60.0, poll_interval=0.02, time_budget=3.0)
    if where == "poll":
        cloud.arm.triggers.operation_retry_after = "3600"
    elif where == "entra":
        cloud.entra.token_delay = 600
    else:
        # One stall is enough: the attempt it holds uses up the budget, so no retry is ever sent.
        cloud.arm.inject(where, Fault(stall=600))
    try:
        with pytest.raises(grpc.RpcError) as raised:
            # The gRPC deadline only guards the test run: unbounded, the call would answer DEADLINE_EXCEEDED.
            stage.engine.stub.Update(provider_pb2.UpdateRequest(
                id=stage.state.id, urn=stage.urn("TriggerRuntimeState"), olds=stage.state.outputs,
                news=stage.check("TriggerRuntimeState", stage.inputs("TriggerRuntimeState", desired_state=STARTED)),
            ), timeout=45)
    finally:
        cloud.arm.triggers.operation_retry_after = None
        cloud.entra.token_delay = 0
    assert raised.value.code() == grpc.StatusCode.UNKNOWN, raised.value.details()
    details = raised.value.details()
    assert f"trigger 'tr_daily' of factory '{stage.factory.name}'" in details
    assert "time_budget 3s" in details, "the message says what ran out: the operation's time budget"


def test_an_arm_reply_that_trickles_in_byte_by_byte_ends_at_the_time_budget(stage: Stage):
    """A read timeout applies to each receive: only a deadline on the whole operation ends this."""
    stage.up(STOPPED)
    stage.policy.update(read_timeout=60.0, connect_timeout=60.0, time_budget=3.0)
    stage.cloud.arm.inject("triggers.get", Fault(trickle=0.5))
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        stage.engine.stub.Update(provider_pb2.UpdateRequest(
            id=stage.state.id, urn=stage.urn("TriggerRuntimeState"), olds=stage.state.outputs,
            news=stage.check("TriggerRuntimeState", stage.inputs("TriggerRuntimeState", desired_state=STARTED)),
        ), timeout=45)
    assert time.monotonic() - started < 3.0 + 2.0, "the reply would take minutes; the budget is 3 s"
    assert "time_budget 3s" in raised.value.details()


def test_a_refused_start_names_the_role_the_deploying_identity_needs_without_secrets_or_chained_causes(stage: Stage):
    stage.cloud.arm.inject("triggers.start", Fault(
        403, "AuthorizationFailed", "The client does not have authorization to perform action "
        "'Microsoft.DataFactory/factories/triggers/start/action' over scope '/subscriptions/…'."))
    with pytest.raises(grpc.RpcError) as raised:
        stage.up(STARTED)
    details = raised.value.details()
    assert "HTTP 403 AuthorizationFailed" in details
    assert "Data Factory Contributor" in details and "triggers/start/action" in details
    assert f"client id {stage.cloud.client_id}" in details and stage.factory.name in details
    assert "During handling of the above exception" not in details and "direct cause" not in details
    leaked = [value[:6] + "…" for value in stage.cloud.secret_values() if value in details]
    assert not leaked


def test_check_failures_name_each_bad_property(stage: Stage):
    checked = stage.engine.stub.Check(provider_pb2.CheckRequest(
        urn=stage.urn("TriggerRuntimeState"), olds=struct({}),
        news=struct(stage.inputs("TriggerRuntimeState", subscription_id="not-a-guid", desired_state="Running",
                                 credential="password", fingerprint=None))))
    failures = {failure.property: failure.reason for failure in checked.failures}
    assert set(failures) == {"subscription_id", "desired_state", "credential", "fingerprint"}
    assert "Started or Stopped" in failures["desired_state"] and "'Running'" in failures["desired_state"]
