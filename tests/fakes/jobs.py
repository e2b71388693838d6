"""A loopback fake of the Databricks Jobs API 2.2 runs endpoints that databricks-sdk calls.

`run-now` (with idempotency tokens), `runs/get`, `runs/get-output` (per task run; a multi-task job run is
refused as Databricks does) and `runs/cancel`. Each job has a scripted sequence of states: every runs/get
of a run answers the next step and then keeps answering the last. A step renders the run in the deprecated
`state` shape, the `status` shape (queue_details, termination_details), or both, as the real API does.

Authentication is Azure Databricks': an Entra ID token the fake Entra issued for the Databricks audience,
and, for a principal that is not a workspace user yet, the management-token headers that admit it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.entra import DATABRICKS_AUDIENCE, MANAGEMENT_AUDIENCE, FakeEntra
from tests.fakes.faults import Fault, Faults
from tests.fakes.server import LoopbackHttpsServer, Reply, Request
from tests.fakes.tls import TlsMaterial

RESOURCE_ID_HEADER = "x-databricks-azure-workspace-resource-id"
MANAGEMENT_TOKEN_HEADER = "x-databricks-azure-sp-management-token"
ENDPOINTS = {
    "run-now": ("POST", "/api/2.2/jobs/run-now"),
    "get": ("GET", "/api/2.2/jobs/runs/get"),
    "get-output": ("GET", "/api/2.2/jobs/runs/get-output"),
    "cancel": ("POST", "/api/2.2/jobs/runs/cancel"),
}
WORKSPACE_ID = "1234567890123456"
# status.state for each deprecated life_cycle_state.
STATUS_STATES = {
    "QUEUED": "QUEUED",
    "PENDING": "PENDING",
    "BLOCKED": "BLOCKED",
    "RUNNING": "RUNNING",
    "WAITING_FOR_RETRY": "WAITING",
    "TERMINATING": "TERMINATING",
    "TERMINATED": "TERMINATED",
    "SKIPPED": "TERMINATED",
    "INTERNAL_ERROR": "TERMINATED",
}
# The termination code a result shows in the status shape unless a step names one.
TERMINATION = {
    "SUCCESS": ("SUCCESS", "SUCCESS"),
    "SUCCESS_WITH_FAILURES": ("SUCCESS_WITH_FAILURES", "SUCCESS"),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "TIMEDOUT": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "CANCELED": ("CANCELED", "SUCCESS"),
    "UPSTREAM_FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "UPSTREAM_CANCELED": ("CANCELED", "SUCCESS"),
    "MAXIMUM_CONCURRENT_RUNS_REACHED": ("MAX_CONCURRENT_RUNS_EXCEEDED", "CLIENT_ERROR"),
    "EXCLUDED": ("SKIPPED", "SUCCESS"),
    "DISABLED": ("DISABLED", "CLIENT_ERROR"),
    "SKIPPED": ("SKIPPED", "SUCCESS"),
    "INTERNAL_ERROR": ("INTERNAL_ERROR", "INTERNAL_ERROR"),
}


@dataclass(frozen=True)
class TaskStep:
    """One task run as a runs/get step shows it, and what runs/get-output says of it."""

    key: str
    life_cycle: str = "RUNNING"
    result: str | None = None
    message: str = ""
    termination_code: str | None = None
    error: str | None = None
    error_trace: str | None = None


@dataclass(frozen=True)
class RunStep:
    """One answer of runs/get for a job run."""

    life_cycle: str
    """The deprecated life_cycle_state (QUEUED, PENDING, RUNNING, TERMINATED, SKIPPED, INTERNAL_ERROR, ...)."""
    result: str | None = None
    """The deprecated result_state once TERMINATED."""
    message: str = ""
    queue_code: str | None = None
    """status.queue_details.code while QUEUED (ACTIVE_RUNS_LIMIT_REACHED, MAX_CONCURRENT_RUNS_REACHED, ...)."""
    termination_code: str | None = None
    """status.termination_details.code; derived from `result` unless given."""
    termination_type: str | None = None
    tasks: tuple[TaskStep, ...] = ()
    shape: str = "both"
    """"state" (only the deprecated shape), "status" (only the new one) or "both"."""


def queued(code: str = "ACTIVE_RUNS_LIMIT_REACHED", message: str = "Queued: workspace run limit reached", **kw):
    return RunStep("QUEUED", message=message, queue_code=code, **kw)


def running(*tasks: TaskStep, **kw) -> RunStep:
    return RunStep("RUNNING", tasks=tasks, **kw)


def ended(result: str, message: str = "", *tasks: TaskStep, **kw) -> RunStep:
    life_cycle = result if result in ("SKIPPED", "INTERNAL_ERROR") else "TERMINATED"
    return RunStep(life_cycle, result=None if life_cycle != "TERMINATED" else result, message=message, tasks=tasks,
                   termination_code=kw.pop("termination_code", None) or TERMINATION[result][0], **kw)


def _state_json(life_cycle: str, result: str | None, message: str, queue_code: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {"life_cycle_state": life_cycle, "state_message": message,
                             "user_cancelled_or_timedout": False}
    if result:
        state["result_state"] = result
    if life_cycle == "QUEUED":
        state["queue_reason"] = message
    return state


def _status_json(
    life_cycle: str, result: str | None, message: str, queue_code: str | None, code: str | None, kind: str | None
) -> dict[str, Any]:
    status: dict[str, Any] = {"state": STATUS_STATES[life_cycle]}
    if life_cycle == "QUEUED":
        status["queue_details"] = {"code": queue_code or "ACTIVE_RUNS_LIMIT_REACHED", "message": message}
    if status["state"] == "TERMINATED":
        default_code, default_type = TERMINATION.get(result or life_cycle, ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"))
        status["termination_details"] = {
            "code": code or default_code, "type": kind or default_type, "message": message
        }
    return status


@dataclass
class FakeRun:
    run_id: int
    job_id: int
    steps: list[RunStep]
    reads: int = 0
    cancelled: bool = False
    task_run_ids: dict[str, int] = field(default_factory=dict)

    def current(self) -> RunStep:
        return self.steps[min(max(self.reads - 1, 0), len(self.steps) - 1)]


@dataclass(frozen=True)
class JobsRequest:
    """One request the fake received (no header values: they are tokens)."""

    endpoint: str | None
    method: str
    path: str
    status: int
    body: Any = None
    query: dict[str, list[str]] = field(default_factory=dict)


class FakeJobs:
    """Fake Azure Databricks workspace serving the Jobs API runs endpoints."""

    def __init__(self, tls: TlsMaterial, entra: FakeEntra, *, workspace_resource_id: str):
        self.entra = entra
        self.workspace_resource_id = workspace_resource_id
        self.users: set[str] = set()
        self.jobs: dict[int, list[RunStep]] = {}
        self.runs: dict[int, FakeRun] = {}
        self.requests: list[JobsRequest] = []
        self.faults = Faults()
        self._tokens: dict[str, int] = {}
        self._next_run_id = 7000
        self._lock = threading.Lock()
        self._server = LoopbackHttpsServer(self._handle, tls)

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._server.base_url

    def add_job(self, job_id: int, *steps: RunStep) -> None:
        """A job whose runs go through ``steps`` (one per runs/get, the last repeated)."""
        self.jobs[job_id] = list(steps)

    def inject(self, endpoint: str, *faults: Fault) -> None:
        """Queue faults for an endpoint of ENDPOINTS, consumed one per request."""
        assert endpoint in ENDPOINTS, endpoint
        self.faults.add(endpoint, *faults)

    def start(self) -> FakeJobs:
        self._server.start()
        return self

    def stop(self) -> None:
        self.faults.released.set()
        self._server.stop()

    def __enter__(self) -> FakeJobs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests inspect ---------------------------------------------------------------------
    def calls(self, endpoint: str) -> list[JobsRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def run_page_url(self, job_id: int, run_id: int) -> str:
        return f"{self.url}/?o={WORKSPACE_ID}#job/{job_id}/run/{run_id}"

    # -- protocol -------------------------------------------------------------------------------
    def _handle(self, request: Request) -> Reply:
        endpoint = next((name for name, (m, p) in ENDPOINTS.items() if p == request.path), None)
        if request.path == "/.well-known/databricks-config":
            reply = _error(404, "ENDPOINT_NOT_FOUND", "No API found for '/.well-known/databricks-config'")
        elif endpoint is None:
            reply = _error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{request.method} {request.path}'")
        elif request.method != ENDPOINTS[endpoint][0]:
            reply = _error(405, "BAD_REQUEST", f"{request.method} is not allowed on {request.path}")
        else:
            reply = self._authenticate(request) or self.faults.answer(
                endpoint,
                lambda: getattr(self, "_" + endpoint.replace("-", "_"))(request),
                lambda fault: _error(fault.status or 500, fault.code, fault.message),
            )
        try:
            body = request.json() if request.method == "POST" else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(JobsRequest(endpoint, request.method, request.path, reply.status, body, request.query))
        return reply

    def _authenticate(self, request: Request) -> Reply | None:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        issued = self.entra.issued(bearer) if scheme == "Bearer" else None
        if issued is None or issued.audience != DATABRICKS_AUDIENCE:
            return _error(401, "UNAUTHENTICATED", "Invalid access token.")
        resource_id = request.headers.get(RESOURCE_ID_HEADER)
        management = self.entra.issued(request.headers.get(MANAGEMENT_TOKEN_HEADER, ""))
        if resource_id is not None or management is not None:
            if (resource_id or "").lower() != self.workspace_resource_id.lower():
                return _error(403, "PERMISSION_DENIED", "Workspace resource id does not match this workspace.")
            if management is None or management.audience != MANAGEMENT_AUDIENCE:
                return _error(403, "PERMISSION_DENIED", "Invalid management token.")
            if management.client_id != issued.client_id:
                return _error(403, "PERMISSION_DENIED", "Management token belongs to another principal.")
            with self._lock:
                self.users.add(issued.client_id)
        if issued.client_id not in self.users:
            return _error(403, "PERMISSION_DENIED", f"Principal {issued.client_id} is not a user of this workspace.")
        return None

    def _run_now(self, request: Request) -> Reply:
        payload = request.json() or {}
        job_id, token = payload.get("job_id"), payload.get("idempotency_token")
        with self._lock:
            if job_id not in self.jobs:
                return _error(400, "INVALID_PARAMETER_VALUE", f"Job {job_id} does not exist.")
            if token is not None and token in self._tokens:
                run_id = self._tokens[token]
            else:
                self._next_run_id += 1
                run_id = self._next_run_id
                self.runs[run_id] = FakeRun(run_id, job_id, list(self.jobs[job_id]))
                if token is not None:
                    self._tokens[token] = run_id
        return Reply.json(200, {"run_id": run_id, "number_in_job": run_id})

    def _find_run(self, request: Request) -> FakeRun | Reply:
        value = (request.query.get("run_id") or [""])[0]
        run = self.runs.get(int(value)) if value.isdigit() else None
        return run if run is not None else _error(404, "RESOURCE_DOES_NOT_EXIST", f"Run {value} does not exist.")

    def _get(self, request: Request) -> Reply:
        run = self._find_run(request)
        if isinstance(run, Reply):
            return run
        with self._lock:
            run.reads += 1
            step = run.current()
            if run.cancelled:
                step = RunStep("TERMINATED", "CANCELED", "Run cancelled.", termination_code="USER_CANCELED",
                               termination_type="SUCCESS", tasks=step.tasks, shape=step.shape)
        return Reply.json(200, self._render(run, step))

    def _render(self, run: FakeRun, step: RunStep) -> dict[str, Any]:
        def shapes(target: dict, life_cycle, result, message, queue_code, code, kind) -> None:
            if step.shape in ("state", "both"):
                target["state"] = _state_json(life_cycle, result, message, queue_code)
            if step.shape in ("status", "both"):
                target["status"] = _status_json(life_cycle, result, message, queue_code, code, kind)

        answer: dict[str, Any] = {
            "job_id": run.job_id,
            "run_id": run.run_id,
            "number_in_job": run.run_id,
            "run_page_url": self.run_page_url(run.job_id, run.run_id),
            "run_type": "JOB_RUN",
            "tasks": [],
        }
        shapes(answer, step.life_cycle, step.result, step.message, step.queue_code, step.termination_code,
               step.termination_type)
        for task in step.tasks:
            task_run_id = run.task_run_ids.setdefault(task.key, run.run_id * 100 + len(run.task_run_ids) + 1)
            rendered: dict[str, Any] = {
                "task_key": task.key,
                "run_id": task_run_id,
                "run_page_url": self.run_page_url(run.job_id, task_run_id),
            }
            shapes(rendered, task.life_cycle, task.result, task.message, None, task.termination_code, None)
            answer["tasks"].append(rendered)
        return answer

    def _get_output(self, request: Request) -> Reply:
        value = (request.query.get("run_id") or [""])[0]
        with self._lock:
            for run in self.runs.values():
                if value.isdigit() and int(value) == run.run_id and run.current().tasks:
                    return _error(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the "
                        "output of each individual task run instead.",
                    )
                for key, task_run_id in run.task_run_ids.items():
                    if value == str(task_run_id):
                        task = next(t for t in run.current().tasks if t.key == key)
                        answer: dict[str, Any] = {"metadata": {"run_id": task_run_id, "task_key": key}}
                        if task.error is not None:
                            answer["error"] = task.error
                        if task.error_trace is not None:
                            answer["error_trace"] = task.error_trace
                        return Reply.json(200, answer)
        return _error(404, "RESOURCE_DOES_NOT_EXIST", f"Run {value} does not exist.")

    def _cancel(self, request: Request) -> Reply:
        run_id = (request.json() or {}).get("run_id")
        with self._lock:
            run = self.runs.get(run_id) if isinstance(run_id, int) else None
            if run is None:
                return _error(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.")
            run.cancelled = True
        return Reply.json(200, {})


def _error(status: int, error_code: str, message: str) -> Reply:
    return Reply(status, json.dumps({"error_code": error_code, "message": message}).encode(),
                 {"Content-Type": "application/json"})
