"""A Databricks job run through databricks-sdk (Jobs API 2.2): run-now, runs/get, runs/get-output, runs/cancel.

runs/get is read as the JSON the server sent (ops.job_state says why), through the SDK's own API client.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from core.messages import shown
from ops.credential import CountingCredential
from ops.deadline import Deadline
from ops.job_state import message_of, observe_run, own_failures, raw, tasks_of
from ops.outputs import JobTarget
from ops.watch import Observation, StartedRun, one_line

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.clock import Clock

TRACE_LINES = 10
"""How many last lines of a failed task's error trace to print."""
MAX_TASK_OUTPUTS = 5
"""At most this many failed tasks have their output fetched (one call each)."""
MAX_PAGES = 10
"""runs/get pages read per poll (Jobs API 2.2 pages task lists of more than 100)."""
RUNS_GET = "/api/2.2/jobs/runs/get"


def watch_clock(deadline: Deadline) -> Clock:
    """databricks-sdk's clock for the command's deadline: the SDK's retry loop pauses through ``sleep`` for a
    Retry-After (read by clients.databricks into [0, a day]) or its backoff; each pause is cut to the time left,
    and with none left the call ends (CallTimedOut) instead of retrying."""
    from databricks.sdk.clock import Clock

    class WatchClock(Clock):
        def time(self) -> float:
            return time.time()

        def sleep(self, seconds: float) -> None:
            deadline.pause_before_retry(seconds)

    return WatchClock()


class UnreadableAnswer(Exception):
    """runs/get answered something that is not a JSON object."""


def get_run_json(client: WorkspaceClient, run_id: int, page_token: str | None = None) -> dict[str, Any]:
    """runs/get as databricks-sdk's ``jobs.get_run`` sends it (same path, query, headers, retries), but the
    JSON it answered rather than the SDK's Run: see ops.job_state."""
    query: dict[str, Any] = {"run_id": run_id}
    if page_token is not None:
        query["page_token"] = page_token
    headers = {"Accept": "application/json"}
    if client.config.workspace_id:
        headers["X-Databricks-Workspace-Id"] = client.config.workspace_id
    answer = client.api_client.do("GET", RUNS_GET, query=query, headers=headers)
    if not isinstance(answer, dict):
        raise UnreadableAnswer(f"runs/get answered {type(answer).__name__}, not a JSON object")
    return answer


class JobRun:
    """One run of a deployed job, through the SDK's WorkspaceClient."""

    part_name = "task"
    idempotent_start = True

    def __init__(self, connect: Callable[[], WorkspaceClient], target: JobTarget, *, tokens: CountingCredential):
        # Building the client probes the workspace once, so it happens in start(), under the deadline.
        self._connect = connect
        self._tokens = tokens
        self._client: WorkspaceClient | None = None
        self.target = target
        self.what = f"job {shown(target.name)} (id {target.job_id})"
        # Databricks starts exactly one run per token: run-now can be retried after any error.
        self.idempotency_token = f"smoke-{uuid.uuid4().hex}"
        self._last_run: dict[str, Any] | None = None

    @property
    def client(self) -> WorkspaceClient:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def start(self) -> str:
        waiter = self.client.jobs.run_now(self.target.job_id, idempotency_token=self.idempotency_token)
        return str(waiter.response.run_id)

    def unauthenticated(self) -> str | None:
        return None if self._tokens.issued else self._tokens.source

    def find_started(self) -> list[StartedRun]:
        # Never asked: run-now is idempotent (idempotent_start), a retry returns the run an earlier try started.
        return []

    def retry_delay(self, error: BaseException) -> float:
        return 0.0  # the SDK itself waits as a 429's Retry-After asks (within the deadline) before it gives up

    def observe(self, run_id: str) -> Observation:
        run = get_run_json(self.client, int(run_id))
        pages = 1
        # Jobs API 2.2 returns at most 100 tasks per page.
        while raw(run, "next_page_token") and pages < MAX_PAGES:
            page = get_run_json(self.client, int(run_id), page_token=raw(run, "next_page_token"))
            run["tasks"] = [*tasks_of(run), *tasks_of(page)]
            run["next_page_token"] = page.get("next_page_token")
            pages += 1
        self._last_run = run
        return observe_run(run)

    def fallback_url(self, run_id: str) -> str:
        return f"{self.target.workspace_url}/#job/{self.target.job_id}/run/{run_id}"

    def cancel(self, run_id: str) -> None:
        self.client.jobs.cancel_run(int(run_id))

    def failure_details(self, run_id: str, observation: Observation) -> list[str]:
        run = self._last_run
        if run is None:
            return []
        failed, not_run = own_failures(run)
        lines: list[str] = []
        for task, result in failed[:MAX_TASK_OUTPUTS]:
            lines += self._task_error(task, result)
        if len(failed) > MAX_TASK_OUTPUTS:
            lines.append(f"  ... and {len(failed) - MAX_TASK_OUTPUTS} more failed tasks")
        if not_run:
            lines.append("  not run: " + ", ".join(f"{raw(task, 'task_key') or '?'} ({result})"
                                                   for task, result in not_run))
        return lines

    def _task_error(self, task: Mapping[str, Any], result: str) -> list[str]:
        own_message = message_of(task.get("state"), task.get("status"))
        header = f"  task {raw(task, 'task_key') or '?'} {result}"
        task_run_id = task.get("run_id")
        if not isinstance(task_run_id, int) or isinstance(task_run_id, bool):
            return [f"{header}: {own_message or 'no message'}"]
        try:
            output = self.client.jobs.get_run_output(task_run_id)
        except Exception as error:  # noqa: BLE001 - the task's own state still says something
            reason = self.describe_error(error)[1]
            return [f"{header}: {own_message or 'no message'} (its output could not be read: {reason})"]
        lines = [f"{header}: {one_line(output.error or own_message or 'no error message', 1000)}"]
        trace = [line.rstrip() for line in (output.error_trace or "").strip().splitlines() if line.strip()]
        if trace:
            lines.append(f"    last {min(len(trace), TRACE_LINES)} lines of its error trace:")
            lines += [f"      {line[:300]}" for line in trace[-TRACE_LINES:]]
        if raw(task, "run_page_url"):
            lines.append(f"    {raw(task, 'run_page_url')}")
        return lines

    def describe_error(self, error: BaseException) -> tuple[bool, str]:
        return describe_databricks_error(error)


def describe_databricks_error(error: BaseException) -> tuple[bool, str]:
    """(worth another try, one line): throttling, 5xx, timeouts and dropped connections are transient."""
    import requests
    from databricks.sdk.errors import DatabricksError, platform

    from clients.identity import CredentialError

    if isinstance(error, CredentialError):
        return False, one_line(str(error))
    if isinstance(error, UnreadableAnswer):  # a gateway's page in place of the API's answer, as a 502 would be
        return True, one_line(str(error))
    if isinstance(error, DatabricksError):
        permanent = (
            platform.BadRequest,
            platform.Unauthenticated,
            platform.PermissionDenied,
            platform.NotFound,
            platform.ResourceConflict,
            platform.NotImplemented,
        )
        code = f" {error.error_code}" if error.error_code else ""
        return not isinstance(error, permanent), one_line(f"{type(error).__name__}{code}: {error}")
    if isinstance(error, requests.exceptions.JSONDecodeError):
        return True, "the answer was not JSON (a proxy's or gateway's page?)"
    if isinstance(error, requests.RequestException | TimeoutError | ConnectionError):
        return True, one_line(f"{type(error).__name__}: {error}")
    # azure-identity could not get a token (wrong secret, unknown tenant, no az login): not for retrying.
    return False, one_line(f"{type(error).__name__}: {error}")
