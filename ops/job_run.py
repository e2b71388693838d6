"""A Databricks job run through databricks-sdk (Jobs API 2.2): run-now, runs/get, runs/get-output, runs/cancel.

A run's state comes in two shapes, and both are read: the deprecated ``state`` (life_cycle_state,
result_state, state_message, queue_reason) and ``status`` (state, queue_details, termination_details with
code, type and message). A run has succeeded only when every shape it reports says SUCCESS; an unknown
result never counts as success.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.messages import shown
from ops.outputs import JobTarget
from ops.watch import Observation, Outcome, StartedRun, one_line

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.jobs import Run, RunState, RunStatus, RunTask

SUCCESS = "SUCCESS"
SUCCESS_WITH_FAILURES = "SUCCESS_WITH_FAILURES"
LEGACY_TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
"""Life cycle states of the deprecated ``state`` after which a run changes no more."""
NOT_RUN = frozenset({"UPSTREAM_FAILED", "UPSTREAM_CANCELED", "EXCLUDED", "SKIPPED"})
"""Task results that say the task did not run (its own error is elsewhere), not that it failed itself."""
TRACE_LINES = 10
"""How many last lines of a failed task's error trace to print."""
MAX_TASK_OUTPUTS = 5
"""At most this many failed tasks have their output fetched (one call each)."""
MAX_PAGES = 10
"""runs/get pages read per poll (Jobs API 2.2 pages task lists of more than 100)."""


def _name(value: object) -> str | None:
    return getattr(value, "value", None)


def verdicts(state: RunState | None, status: RunStatus | None) -> list[str | None]:
    """One entry per shape that says the run has ended: its result name, or None if this client cannot read it."""
    found: list[str | None] = []
    life_cycle = _name(state.life_cycle_state) if state else None
    if life_cycle in LEGACY_TERMINAL:
        # SKIPPED and INTERNAL_ERROR are results in themselves, whatever result_state says.
        found.append(_name(state.result_state) if life_cycle == "TERMINATED" else life_cycle)
    if status is not None and _name(status.state) == "TERMINATED":
        details = status.termination_details
        found.append(_name(details.code) if details else None)
    return found


def outcome_of(found: list[str | None]) -> Outcome:
    known = [value for value in found if value]
    if known and all(value == SUCCESS for value in known):
        return Outcome.SUCCESS
    if known and all(value in (SUCCESS, SUCCESS_WITH_FAILURES) for value in known):
        return Outcome.SUCCESS_WITH_FAILURES
    return Outcome.FAILURE


def result_name(found: list[str | None]) -> str:
    """FAILED, or FAILED (RUN_EXECUTION_ERROR) when the two shapes name the result differently."""
    names = list(dict.fromkeys(value or "UNKNOWN" for value in found))
    if len(names) > 1 and "UNKNOWN" in names:
        names.remove("UNKNOWN")
    return names[0] + (f" ({', '.join(names[1:])})" if len(names) > 1 else "")


def life_cycle_of(state: RunState | None, status: RunStatus | None) -> str:
    return _name(status.state if status else None) or _name(state.life_cycle_state if state else None) or "UNKNOWN"


def message_of(state: RunState | None, status: RunStatus | None) -> str:
    """The termination message (else the deprecated state_message), tagged with a failing termination type."""
    details = status.termination_details if status else None
    message = (details.message if details else None) or (state.state_message if state else None) or ""
    kind = _name(details.type) if details else None
    tag = f"[{kind}]" if kind and kind != "SUCCESS" else ""
    return one_line(f"{message} {tag}", 300)


def queue_reason_of(state: RunState | None, status: RunStatus | None) -> tuple[str | None, str]:
    details = status.queue_details if status else None
    if details is not None and (details.code or details.message):
        return _name(details.code), one_line(
            f"{details.message or ''}{f' [{_name(details.code)}]' if details.code else ''}", 300
        )
    reason = state.queue_reason if state else None
    return reason, one_line(reason or "", 300)


def describe(state: RunState | None, status: RunStatus | None) -> tuple[str, tuple[str | None, ...], list]:
    """(state in words, what counts as a change, verdicts) of a run or a task run."""
    found = verdicts(state, status)
    life_cycle = life_cycle_of(state, status)
    if found:
        result = result_name(found)
        message = message_of(state, status)
        return f"TERMINATED {result}{f': {message}' if message else ''}", ("ended", result), found
    if life_cycle == "QUEUED" or (state is not None and _name(state.life_cycle_state) == "QUEUED"):
        code, reason = queue_reason_of(state, status)
        return f"QUEUED (waiting, not failed){f': {reason}' if reason else ''}", ("QUEUED", code), found
    message = state.state_message if state and state.state_message else ""
    return f"{life_cycle}{f': {one_line(message, 300)}' if message else ''}", (life_cycle,), found


def observe_run(run: Run) -> Observation:
    """What a runs/get answer says, for the watcher."""
    text, key, found = describe(run.state, run.status)
    parts = {}
    for task in run.tasks or []:
        task_found = verdicts(task.state, task.status)
        parts[task.task_key] = result_name(task_found) if task_found else life_cycle_of(task.state, task.status)
    ended = bool(found)
    return Observation(
        state=text,
        key=key,
        parts=parts,
        result=result_name(found) if ended else None,
        outcome=outcome_of(found) if ended else None,
        message=message_of(run.state, run.status) if ended else "",
        url=run.run_page_url,
    )


def own_failures(run: Run) -> tuple[list[tuple[RunTask, str]], list[tuple[RunTask, str]]]:
    """(tasks that failed themselves, tasks that did not run because of others), each with its result name."""
    failed, not_run = [], []
    for task in run.tasks or []:
        found = verdicts(task.state, task.status)
        known = [value for value in found if value]
        if not found or (known and all(value == SUCCESS for value in known)):
            continue
        # The deprecated result comes first and is the more specific (UPSTREAM_FAILED, not a generic code).
        if known and known[0] in NOT_RUN:
            not_run.append((task, result_name(found)))
        else:
            failed.append((task, result_name(found)))
    return failed, not_run


class JobRun:
    """One run of a deployed job, through the SDK's WorkspaceClient."""

    part_name = "task"
    idempotent_start = True

    def __init__(self, connect: Callable[[], WorkspaceClient], target: JobTarget):
        # Building the client probes the workspace once, so it happens in start(), under the deadline.
        self._connect = connect
        self._client: WorkspaceClient | None = None
        self.target = target
        self.what = f"job {shown(target.name)} (id {target.job_id})"
        # Databricks starts exactly one run per token: run-now can be retried after any error.
        self.idempotency_token = f"smoke-{uuid.uuid4().hex}"
        self._last_run: Run | None = None

    @property
    def client(self) -> WorkspaceClient:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def start(self) -> str:
        waiter = self.client.jobs.run_now(self.target.job_id, idempotency_token=self.idempotency_token)
        return str(waiter.response.run_id)

    def find_started(self) -> list[StartedRun]:
        # Never asked: run-now is idempotent (idempotent_start), a retry returns the run an earlier try started.
        return []

    def retry_delay(self, error: BaseException) -> float:
        return 0.0  # the SDK itself waits as long as a 429's Retry-After asks before it gives up

    def observe(self, run_id: str) -> Observation:
        run = self.client.jobs.get_run(int(run_id))
        pages = 1
        # Jobs API 2.2 returns at most 100 tasks per page.
        while run.next_page_token and pages < MAX_PAGES:
            page = self.client.jobs.get_run(int(run_id), page_token=run.next_page_token)
            run.tasks = [*(run.tasks or []), *(page.tasks or [])]
            run.next_page_token = page.next_page_token
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
            lines.append("  not run: " + ", ".join(f"{task.task_key} ({result})" for task, result in not_run))
        return lines

    def _task_error(self, task: RunTask, result: str) -> list[str]:
        own_message = message_of(task.state, task.status)
        header = f"  task {task.task_key} {result}"
        if task.run_id is None:
            return [f"{header}: {own_message or 'no message'}"]
        try:
            output = self.client.jobs.get_run_output(task.run_id)
        except Exception as error:  # noqa: BLE001 - the task's own state still says something
            reason = self.describe_error(error)[1]
            return [f"{header}: {own_message or 'no message'} (its output could not be read: {reason})"]
        lines = [f"{header}: {one_line(output.error or own_message or 'no error message', 1000)}"]
        trace = [line.rstrip() for line in (output.error_trace or "").strip().splitlines() if line.strip()]
        if trace:
            lines.append(f"    last {min(len(trace), TRACE_LINES)} lines of its error trace:")
            lines += [f"      {line[:300]}" for line in trace[-TRACE_LINES:]]
        if task.run_page_url:
            lines.append(f"    {task.run_page_url}")
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
    if isinstance(error, requests.RequestException | TimeoutError | ConnectionError):
        return True, one_line(f"{type(error).__name__}: {error}")
    # azure-identity could not get a token (wrong secret, unknown tenant, no az login): not for retrying.
    return False, one_line(f"{type(error).__name__}: {error}")
