"""Data Factory triggers (and pipeline definitions) in the loopback ARM fake, with ADF's own rules.

Registered by `FakeArm` itself, so every fake factory has them; tests reach them through `arm.triggers`.

- `PUT …/triggers/{trigger}` creates or updates a trigger. A new trigger is `Stopped` (ADF ignores a
  `runtimeState` in the body: it is read-only). Updating a trigger that is started, or being started, is
  refused with 400 `TriggerEnabledCannotUpdate`, as ADF refuses it.
- `DELETE …/triggers/{trigger}` deletes a stopped trigger (200; 204 when there is none) and refuses a started
  one (400), as ADF does: a trigger must be stopped before it is deleted.
- `GET …/triggers/{trigger}` answers the TriggerResource with its `runtimeState`, or 404 `TriggerNotFound`.
- `POST …/triggers/{trigger}/start` and `/stop` are long-running operations in the shape azure-mgmt-
  datafactory's `triggers.begin_start` / `begin_stop` poll (its first answer must be 200): 200 with a
  `Location` to poll, which answers 202 `operation_polls` times and then 200, and only then is the new
  runtime state in effect. With `operation_polls = 0` the call completes at once (200, no Location), which
  the SDK's poller also accepts. Starting a started trigger or stopping a stopped one does nothing (200), as
  ADF documents. A trigger that does not exist is 404.
- `PUT …/pipelines/{pipeline}` stores a pipeline definition (what azure-native's Pipeline does); runs keep
  coming from the scripted `FakeFactory.pipelines`.

Every trigger change is appended to `events(factory)`, so a test can tell in what order a deployment stopped,
updated and started a trigger, and whether ADF refused anything. Faults are queued by route name as for
every route: `triggers.get`, `triggers.createOrUpdate`, `triggers.delete`, `triggers.start`, `triggers.stop`,
`triggers.operation`, `pipelines.createOrUpdate`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.server import Reply, Request
from tests.fakes.tls import TlsMaterial

if TYPE_CHECKING:
    from tests.fakes.arm import FakeArm, FakeFactory
    from tests.fakes.entra import FakeEntra

STARTED, STOPPED = "Started", "Stopped"


@dataclass
class FakeTriggerOperation:
    """A start or stop in flight."""

    operation_id: str
    target: str
    """The runtime state the trigger has once the operation completes."""
    polls_left: int


@dataclass
class FakeTrigger:
    name: str
    properties: dict[str, Any]
    """The trigger's properties as last written, without runtimeState."""
    runtime_state: str = STOPPED
    etag: str = field(default_factory=lambda: uuid.uuid4().hex)
    pending: FakeTriggerOperation | None = None

    @property
    def enabled(self) -> bool:
        """Started, or being started: what ADF refuses to update or delete."""
        return self.runtime_state == STARTED or (self.pending is not None and self.pending.target == STARTED)


@dataclass(frozen=True)
class TriggerEvent:
    """One change (or refused change) of a trigger or pipeline definition, in the order the fake saw them."""

    action: str
    """put, put-refused, delete, delete-refused, start-requested, stop-requested, started, stopped, by-hand
    (of a trigger), or pipeline-put."""
    name: str
    """The trigger's (or pipeline's) name."""
    runtime_state: str
    """The trigger's runtime state right after the event ("" for a pipeline)."""


class TriggerRoutes:
    """The trigger and pipeline-definition routes of one FakeArm, and what tests set up and inspect."""

    def __init__(self, arm: FakeArm):
        from tests.fakes.arm import FACTORY

        self._arm = arm
        self.operation_polls = 2
        """202 answers each start/stop's Location gives before it completes (0: complete at once)."""
        self.operation_retry_after: str | None = None
        """Retry-After on those 202 answers (None: the client's own polling interval)."""
        trigger = FACTORY + "/triggers/{trigger}"
        arm.route("GET", trigger, "triggers.get", self._get)
        arm.route("PUT", trigger, "triggers.createOrUpdate", self._put)
        arm.route("DELETE", trigger, "triggers.delete", self._delete)
        arm.route("POST", trigger + "/start", "triggers.start", self._start)
        arm.route("POST", trigger + "/stop", "triggers.stop", self._stop)
        arm.route("GET", trigger + "/operationResults/{operation}", "triggers.operation", self._operation)
        arm.route("PUT", FACTORY + "/pipelines/{pipeline}", "pipelines.createOrUpdate", self._put_pipeline)

    # -- what tests set up and inspect -----------------------------------------------------------
    @staticmethod
    def of(factory: FakeFactory) -> dict[str, FakeTrigger]:
        """The factory's triggers by lower-cased name (ADF names ignore case)."""
        return factory.state.setdefault("triggers", {})

    @staticmethod
    def events(factory: FakeFactory) -> list[TriggerEvent]:
        return factory.state.setdefault("trigger_events", [])

    @staticmethod
    def pipeline_definitions(factory: FakeFactory) -> dict[str, dict[str, Any]]:
        return factory.state.setdefault("pipeline_definitions", {})

    def get(self, factory: FakeFactory, name: str) -> FakeTrigger | None:
        return self.of(factory).get(name.lower())

    def add(
        self, factory: FakeFactory, name: str, properties: dict[str, Any] | None = None, *, runtime_state: str = STOPPED
    ) -> FakeTrigger:
        """A trigger that exists before the test begins."""
        trigger = FakeTrigger(name, properties or schedule_trigger(), runtime_state)
        with self._arm_lock():
            self.of(factory)[name.lower()] = trigger
        return trigger

    def set_by_hand(self, factory: FakeFactory, name: str, runtime_state: str) -> None:
        """Someone started or stopped the trigger in ADF Studio."""
        with self._arm_lock():
            trigger = self.of(factory)[name.lower()]
            trigger.runtime_state, trigger.pending = runtime_state, None
            self.events(factory).append(TriggerEvent("by-hand", trigger.name, runtime_state))

    def actions(self, factory: FakeFactory, name: str) -> list[tuple[str, str]]:
        """(action, runtime state after it) of one trigger's events."""
        return [(e.action, e.runtime_state) for e in self.events(factory) if e.name.lower() == name.lower()]

    def timeline(self, factory: FakeFactory) -> list[tuple[str, str]]:
        """(action, name) of every trigger and pipeline-definition event of the factory, in order."""
        return [(e.action, e.name) for e in self.events(factory)]

    def _arm_lock(self) -> Any:
        # The fake's own lock, which its request handling holds while a handler runs.
        return self._arm._lock

    # -- protocol (called with the fake's lock held) ---------------------------------------------
    def _trigger(self, factory: FakeFactory, params: dict[str, str]) -> FakeTrigger:
        from tests.fakes.arm import ArmError

        trigger = self.of(factory).get(params["trigger"].lower())
        if trigger is None:
            raise ArmError(404, "TriggerNotFound",
                           f"Trigger '{params['trigger']}' not found in factory '{factory.name}'.")
        return trigger

    def _resource(self, factory: FakeFactory, trigger: FakeTrigger) -> dict[str, Any]:
        return {
            "id": f"{factory.resource_id}/triggers/{trigger.name}",
            "name": trigger.name,
            "type": "Microsoft.DataFactory/factories/triggers",
            "etag": trigger.etag,
            "properties": {**trigger.properties, "runtimeState": trigger.runtime_state},
        }

    def _record(self, factory: FakeFactory, action: str, trigger: FakeTrigger) -> None:
        self.events(factory).append(TriggerEvent(action, trigger.name, trigger.runtime_state))

    def _get(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        return Reply.json(200, self._resource(factory, self._trigger(factory, params)))

    def _put(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        from tests.fakes.arm import ArmError

        try:
            body = request.json()
        except ValueError:
            body = None
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict) or not isinstance(properties.get("type"), str):
            raise ArmError(400, "BadRequest", "The request body must have properties with a trigger type.")
        existing = self.of(factory).get(params["trigger"].lower())
        if existing is not None and existing.enabled:
            self._record(factory, "put-refused", existing)
            raise ArmError(400, "TriggerEnabledCannotUpdate",
                           f"Cannot update enabled Trigger '{existing.name}'; it needs to be disabled first.")
        properties = {key: value for key, value in properties.items() if key != "runtimeState"}
        if existing is None:
            existing = FakeTrigger(params["trigger"], properties)
            self.of(factory)[params["trigger"].lower()] = existing
        else:
            existing.properties, existing.etag = properties, uuid.uuid4().hex
        self._record(factory, "put", existing)
        return Reply.json(200, self._resource(factory, existing))

    def _delete(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        from tests.fakes.arm import ArmError

        trigger = self.of(factory).get(params["trigger"].lower())
        if trigger is None:
            return Reply(204)
        if trigger.enabled:
            self._record(factory, "delete-refused", trigger)
            raise ArmError(400, "TriggerEnabledCannotDelete",
                           f"Trigger '{trigger.name}' is started and cannot be deleted; stop it first.")
        del self.of(factory)[params["trigger"].lower()]
        self._record(factory, "delete", trigger)
        return Reply(200)

    def _start(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        return self._begin(factory, self._trigger(factory, params), STARTED)

    def _stop(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        return self._begin(factory, self._trigger(factory, params), STOPPED)

    def _begin(self, factory: FakeFactory, trigger: FakeTrigger, target: str) -> Reply:
        self._record(factory, f"{'start' if target == STARTED else 'stop'}-requested", trigger)
        if trigger.runtime_state == target and trigger.pending is None:
            return Reply(200)
        if self.operation_polls <= 0:
            self._complete(factory, trigger, target)
            return Reply(200)
        operation = FakeTriggerOperation(uuid.uuid4().hex, target, self.operation_polls)
        trigger.pending = operation
        location = (f"{self._arm.url}{factory.resource_id}/triggers/{trigger.name}/operationResults/"
                    f"{operation.operation_id}?api-version=2018-06-01")
        return Reply(200, b"", {"Location": location})

    def _complete(self, factory: FakeFactory, trigger: FakeTrigger, target: str) -> None:
        trigger.runtime_state, trigger.pending = target, None
        self._record(factory, "started" if target == STARTED else "stopped", trigger)

    def _operation(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        trigger = self._trigger(factory, params)
        operation = trigger.pending
        if operation is None or operation.operation_id != params["operation"]:
            # Completed (or superseded by a later start/stop): ARM answers a finished operation with 200.
            return Reply(200)
        if operation.polls_left > 0:
            operation.polls_left -= 1
            headers = {"Location": request_url(self._arm.url, request)}
            if self.operation_retry_after is not None:
                headers["Retry-After"] = self.operation_retry_after
            return Reply(202, b"", headers)
        self._complete(factory, trigger, operation.target)
        return Reply(200)

    def _put_pipeline(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        from tests.fakes.arm import ArmError

        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise ArmError(400, "BadRequest", "The request body must have properties.")
        self.pipeline_definitions(factory)[params["pipeline"].lower()] = body["properties"]
        self.events(factory).append(TriggerEvent("pipeline-put", params["pipeline"], ""))
        return Reply.json(200, {
            "id": f"{factory.resource_id}/pipelines/{params['pipeline']}",
            "name": params["pipeline"],
            "type": "Microsoft.DataFactory/factories/pipelines",
            "etag": uuid.uuid4().hex,
            "properties": body["properties"],
        })


def request_url(base_url: str, request: Request) -> str:
    query = "&".join(f"{key}={value}" for key, values in request.query.items() for value in values)
    return f"{base_url}{request.path}{f'?{query}' if query else ''}"


def schedule_trigger(pipeline: str = "load", *, interval: int = 1) -> dict[str, Any]:
    """Properties of a daily schedule trigger that runs ``pipeline`` (as ADF Studio writes one)."""
    return {
        "type": "ScheduleTrigger",
        "annotations": [],
        "pipelines": [{"pipelineReference": {"referenceName": pipeline, "type": "PipelineReference"},
                       "parameters": {}}],
        "typeProperties": {"recurrence": {"frequency": "Day", "interval": interval,
                                          "startTime": "2030-01-01T02:00:00Z", "timeZone": "UTC"}},
    }


@dataclass
class TriggerCloud:
    """A tenant with one service principal and the ARM fake, for the trigger providers' tests."""

    entra: FakeEntra
    arm: FakeArm
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    ca_bundle: str

    def add_factory(self) -> FakeFactory:
        """A factory of its own (in a subscription of its own) for one test."""
        suffix = uuid.uuid4().hex[:8]
        return self.arm.add_factory(f"rg-dp-{suffix}", f"adf-dp-{suffix}")

    def inputs(self, factory: FakeFactory, trigger: str = "tr_daily", **overrides: Any) -> dict[str, Any]:
        """TriggerStopper / TriggerRuntimeState inputs for ``trigger`` of ``factory`` (None drops a key)."""
        inputs: dict[str, Any] = {
            "subscription_id": factory.subscription,
            "resource_group_name": factory.group,
            "factory_name": factory.name,
            "trigger_name": trigger,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "credential": "environment",
            "azure_authority_host": self.entra.authority,
            "arm_endpoint": self.arm.url,
            "fingerprint": "0" * 64,
        }
        inputs.update(overrides)
        return {key: value for key, value in inputs.items() if value is not None}

    def environ(self) -> dict[str, str]:
        """What a process needs to reach the fakes with the client-secret credential."""
        return {
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def secret_values(self) -> list[str]:
        """Everything that must never be printed, logged or raised: the client secret and every AAD token."""
        return [self.client_secret, *self.entra.issued_values()]

    def sdk(self, factory: FakeFactory) -> Any:
        """azure-mgmt-datafactory as azure-native would call ARM, for what Pulumi's Trigger/Pipeline do."""
        from clients.datafactory import datafactory_client
        from clients.identity import deployer_credential

        credential = deployer_credential(
            "environment", tenant_id=self.tenant_id, client_id=self.client_id, authority_host=self.entra.authority,
            environ={"AZURE_CLIENT_SECRET": self.client_secret},
        )
        return datafactory_client(credential, factory.subscription, authority_host=self.entra.authority,
                                  arm_endpoint=self.arm.url, retry_backoff_factor=0.01, retry_total=0,
                                  polling_interval=0.01)


@contextmanager
def running_trigger_cloud(tls: TlsMaterial) -> Iterator[TriggerCloud]:
    """Start the fake Entra ID and ARM with a fresh service principal (its secret random per run)."""
    from tests.fakes.arm import FakeArm
    from tests.fakes.entra import FakeEntra

    tenant_id, client_id, secret = str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_urlsafe(30)
    with FakeEntra(tls, tenant_id) as entra, FakeArm(tls, entra) as arm:
        entra.register_secret(client_id, secret)
        yield TriggerCloud(entra, arm, tenant_id, client_id, secret, str(tls.ca_bundle))
