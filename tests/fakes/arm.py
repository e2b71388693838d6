"""A loopback fake of Azure Resource Manager for Data Factory's data-plane-like ARM operations.

Routes live in a table: `FakeArm.route(method, template, name, handler)` adds one, where the template is an
ARM path with `{placeholders}` (matched case-insensitively, as ARM matches) and the handler gets the request,
the placeholders and the factory they name. This module serves pipeline runs — `pipelines/createRun`,
`pipelineruns/{runId}` (get), `pipelineruns/{runId}/cancel`, `pipelineruns/{runId}/queryActivityruns`,
`queryPipelineRuns` (filters on PipelineName and Status) — from scripted state sequences; Data Factory
triggers (get/createOrUpdate/delete/start/stop, with ADF's rules) and pipeline definitions are served by
`tests.fakes.arm_triggers`, registered the same way (`FakeArm.triggers`).

Authentication is ARM's: a bearer token the fake Entra issued for the management audience, else 401
InvalidAuthenticationToken. Every request must carry `api-version=2018-06-01`. Faults are queued per route
name (tests.fakes.faults).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.entra import MANAGEMENT_AUDIENCE, FakeEntra
from tests.fakes.faults import Fault, Faults
from tests.fakes.server import LoopbackHttpsServer, Reply, Request
from tests.fakes.tls import TlsMaterial

API_VERSION = "2018-06-01"
FACTORY = "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.DataFactory/factories/{factory}"


class ArmError(Exception):
    """Raised by a handler to answer an ARM error body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def arm_error(status: int, code: str, message: str) -> Reply:
    return Reply.json(status, {"error": {"code": code, "message": message}})


@dataclass(frozen=True)
class ActivityStep:
    """One activity run as queryActivityruns shows it."""

    name: str
    status: str = "InProgress"
    type: str = "DatabricksNotebook"
    error_code: str = ""
    message: str = ""
    failure_type: str = ""
    output: dict[str, Any] | None = None


@dataclass(frozen=True)
class PipelineStep:
    """One answer of pipelineruns/get (and the activity runs at that moment)."""

    status: str
    """Queued, InProgress, Canceling, Succeeded, Failed or Cancelled."""
    message: str = ""
    activities: tuple[ActivityStep, ...] = ()


@dataclass
class FakePipelineRun:
    run_id: str
    pipeline: str
    steps: list[PipelineStep]
    started: str
    reads: int = 0
    cancelled: bool = False
    invoked_by: str = "Manual"
    """invokedBy.invokedByType: Manual for createRun, ScheduleTrigger and the like for triggers."""
    unlisted_queries: int = 0
    """How many more queryPipelineRuns answers leave this run out (ADF lists a new run moments after)."""

    def current(self) -> PipelineStep:
        if self.cancelled:
            return PipelineStep("Cancelled", "Pipeline run was cancelled.", self.steps[-1].activities)
        return self.steps[min(max(self.reads - 1, 0), len(self.steps) - 1)]


@dataclass
class FakeFactory:
    subscription: str
    group: str
    name: str
    pipelines: dict[str, list[PipelineStep]] = field(default_factory=dict)
    runs: dict[str, FakePipelineRun] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    """Room for other resources of the factory (e.g. triggers) that later routes keep."""

    @property
    def resource_id(self) -> str:
        return FACTORY.format(subscription=self.subscription, group=self.group, factory=self.name)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Callable[[Request, dict[str, str], FakeFactory], Reply]


@dataclass(frozen=True)
class ArmRequest:
    """One request the fake received (no header values: they are tokens)."""

    route: str | None
    method: str
    path: str
    status: int
    principal: str | None


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-z_]+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$", re.IGNORECASE)


class FakeArm:
    """Fake ARM endpoint; use as a context manager or call start()/stop()."""

    def __init__(self, tls: TlsMaterial, entra: FakeEntra):
        self.entra = entra
        self.factories: dict[tuple[str, str, str], FakeFactory] = {}
        self.routes: list[Route] = []
        self.requests: list[ArmRequest] = []
        self.faults = Faults()
        self.activity_page_size = 100
        self.pipeline_run_page_size = 100
        self.listing_lag = 0
        """queryPipelineRuns answers that leave out each run createRun starts from now on."""
        self._lock = threading.Lock()
        self._server = LoopbackHttpsServer(self._handle, tls)
        self.route("POST", FACTORY + "/pipelines/{pipeline}/createRun", "createRun", self._create_run)
        self.route("GET", FACTORY + "/pipelineruns/{run}", "pipelineruns.get", self._get_run)
        self.route("POST", FACTORY + "/pipelineruns/{run}/cancel", "pipelineruns.cancel", self._cancel_run)
        self.route("POST", FACTORY + "/pipelineruns/{run}/queryActivityruns", "queryActivityruns",
                   self._query_activity_runs)
        self.route("POST", FACTORY + "/queryPipelineRuns", "queryPipelineRuns", self._query_pipeline_runs)
        # Imported here: arm_triggers builds on this module's ArmError and FACTORY.
        from tests.fakes.arm_triggers import TriggerRoutes

        self.triggers = TriggerRoutes(self)

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._server.base_url

    def route(
        self, method: str, template: str, name: str, handler: Callable[[Request, dict[str, str], FakeFactory], Reply]
    ) -> None:
        """Serve ``method template`` with ``handler(request, placeholders, factory)``; faults go by ``name``."""
        self.routes.append(Route(method, _compile(template), name, handler))

    def add_factory(self, group: str, name: str, *, subscription: str | None = None) -> FakeFactory:
        factory = FakeFactory(subscription or str(uuid.uuid4()), group, name)
        self.factories[(factory.subscription.lower(), group.lower(), name.lower())] = factory
        return factory

    def inject(self, route: str, *faults: Fault) -> None:
        assert any(r.name == route for r in self.routes), route
        self.faults.add(route, *faults)

    def start(self) -> FakeArm:
        self._server.start()
        return self

    def stop(self) -> None:
        self.faults.released.set()
        self._server.stop()

    def __enter__(self) -> FakeArm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, route: str) -> list[ArmRequest]:
        return [r for r in self.requests if r.route == route]

    # -- protocol -------------------------------------------------------------------------------
    def _handle(self, request: Request) -> Reply:
        route, params = None, {}
        for candidate in self.routes:
            match = candidate.pattern.match(request.path)
            if match and candidate.method == request.method:
                route, params = candidate, match.groupdict()
                break
        principal, reply = self._authenticate(request)
        if reply is None and route is None:
            reply = arm_error(404, "NoRegisteredProviderFound", f"No route for {request.method} {request.path}")
        if reply is None and (request.query.get("api-version") or [""])[0] != API_VERSION:
            reply = arm_error(400, "InvalidApiVersionParameter", f"The api-version must be '{API_VERSION}'.")
        if reply is None:
            assert route is not None
            reply = self.faults.answer(
                route.name,
                lambda: self._serve(route, request, params),
                lambda fault: arm_error(fault.status or 500, fault.code, fault.message),
            )
        with self._lock:
            self.requests.append(
                ArmRequest(route.name if route else None, request.method, request.path, reply.status, principal)
            )
        return reply

    def _authenticate(self, request: Request) -> tuple[str | None, Reply | None]:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        issued = self.entra.issued(bearer) if scheme == "Bearer" else None
        if issued is None or issued.audience != MANAGEMENT_AUDIENCE:
            return None, arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        return issued.client_id, None

    def _serve(self, route: Route, request: Request, params: dict[str, str]) -> Reply:
        key = (params["subscription"].lower(), params["group"].lower(), params["factory"].lower())
        factory = self.factories.get(key)
        try:
            if factory is None:
                raise ArmError(404, "ResourceNotFound",
                               f"The Resource 'Microsoft.DataFactory/factories/{params['factory']}' was not found.")
            with self._lock:
                return route.handler(request, params, factory)
        except ArmError as error:
            return arm_error(error.status, error.code, error.message)

    # -- pipeline runs --------------------------------------------------------------------------
    def _run(self, factory: FakeFactory, run_id: str) -> FakePipelineRun:
        run = factory.runs.get(run_id)
        if run is None:
            raise ArmError(404, "PipelineRunNotFound", f"Pipeline run {run_id} does not exist.")
        return run

    def _create_run(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        steps = factory.pipelines.get(params["pipeline"])
        if steps is None:
            raise ArmError(404, "PipelineNotFound", f"Pipeline '{params['pipeline']}' not found in the factory.")
        run_id = str(uuid.uuid4())
        factory.runs[run_id] = FakePipelineRun(run_id, params["pipeline"], list(steps), _now(),
                                               unlisted_queries=self.listing_lag)
        return Reply.json(200, {"runId": run_id})

    def _get_run(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        run = self._run(factory, params["run"])
        run.reads += 1
        return Reply.json(200, self._run_json(run))

    def _run_json(self, run: FakePipelineRun) -> dict[str, Any]:
        step = run.current()
        return {
            "runId": run.run_id,
            "runGroupId": run.run_id,
            "isLatest": True,
            "pipelineName": run.pipeline,
            "parameters": {},
            "invokedBy": {"name": run.invoked_by, "id": str(uuid.uuid4()), "invokedByType": run.invoked_by},
            "runStart": run.started,
            "runEnd": _now() if step.status in ("Succeeded", "Failed", "Cancelled") else None,
            "lastUpdated": _now(),
            "status": step.status,
            "message": step.message,
        }

    def _query_pipeline_runs(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        try:
            body = request.json() or {}
        except ValueError:
            body = {}
        after, before = body.get("lastUpdatedAfter"), body.get("lastUpdatedBefore")
        if not after or not before:
            raise ArmError(400, "InvalidRequest", "lastUpdatedAfter and lastUpdatedBefore are required.")
        runs = [run for run in factory.runs.values() if _parse_time(run.started) <= _parse_time(before)
                and datetime.now(UTC) >= _parse_time(after)]
        for run in runs:
            run.unlisted_queries -= 1
        runs = [run for run in runs if run.unlisted_queries < 0]
        for query in body.get("filters") or []:
            operand, operator, values = query.get("operand"), query.get("operator"), query.get("values") or []
            field_of = {"PipelineName": lambda run: run.pipeline, "Status": lambda run: run.current().status}
            if operand not in field_of or operator not in ("Equals", "NotEquals", "In", "NotIn"):
                raise ArmError(400, "InvalidRequest", f"Filter {operand} {operator} is not supported.")
            wanted = operator in ("Equals", "In")
            runs = [run for run in runs if (field_of[operand](run) in values) == wanted]
        runs.sort(key=lambda run: run.started)
        start = int(body.get("continuationToken") or 0)
        page = runs[start : start + self.pipeline_run_page_size]
        more = start + self.pipeline_run_page_size < len(runs)
        return Reply.json(200, {"value": [self._run_json(run) for run in page],
                                "continuationToken": str(start + len(page)) if more else None})

    def _cancel_run(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        self._run(factory, params["run"]).cancelled = True
        return Reply(200)

    def _query_activity_runs(self, request: Request, params: dict[str, str], factory: FakeFactory) -> Reply:
        run = self._run(factory, params["run"])
        try:
            body = request.json() or {}
        except ValueError:
            body = {}
        if not body.get("lastUpdatedAfter") or not body.get("lastUpdatedBefore"):
            raise ArmError(400, "InvalidRequest", "lastUpdatedAfter and lastUpdatedBefore are required.")
        activities = [self._activity_json(run, activity) for activity in run.current().activities]
        start = int(body.get("continuationToken") or 0)
        page = activities[start : start + self.activity_page_size]
        more = start + self.activity_page_size < len(activities)
        return Reply.json(200, {"value": page, "continuationToken": str(start + len(page)) if more else None})

    def _activity_json(self, run: FakePipelineRun, activity: ActivityStep) -> dict[str, Any]:
        return {
            "activityName": activity.name,
            "activityType": activity.type,
            "activityRunId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run.run_id}/{activity.name}")),
            "pipelineName": run.pipeline,
            "pipelineRunId": run.run_id,
            "status": activity.status,
            "activityRunStart": run.started,
            "activityRunEnd": _now() if activity.status in ("Succeeded", "Failed", "Cancelled") else None,
            "input": {},
            "output": activity.output or {},
            "error": {
                "errorCode": activity.error_code,
                "message": activity.message,
                "failureType": activity.failure_type,
                "target": activity.name,
            },
        }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


__all__ = ["API_VERSION", "ActivityStep", "ArmError", "FakeArm", "FakeFactory", "Fault", "PipelineStep", "arm_error"]
