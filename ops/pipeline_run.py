"""A Data Factory pipeline run through azure-mgmt-datafactory: pipelines.create_run, pipeline_runs.get and
cancel, activity_runs.query_by_pipeline_run.

A run is Queued (the pipeline's concurrency limit), InProgress or Canceling until it ends Succeeded, Failed
or Cancelled. The failing activity's own error (and, for a Databricks activity, its run page) comes from the
activity runs.

createRun has no idempotency key: sent twice, it starts two runs. So azure-core never resends it (its retry
policy resends a POST on 500/503/504 and on any Retry-After), and after a failed attempt the watcher asks
``find_started`` (pipeline_runs.query_by_factory) whether the attempt started a run anyway before it tries
again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from clients.identity import authority_hostname
from core.messages import shown, shown_name
from ops.outputs import PipelineTarget
from ops.watch import Observation, Outcome, StartedRun, one_line

if TYPE_CHECKING:
    from azure.mgmt.datafactory import DataFactoryManagementClient

ENDED = {"Succeeded": Outcome.SUCCESS, "Failed": Outcome.FAILURE, "Cancelled": Outcome.FAILURE}
NOT_VISIBLE_GRACE = timedelta(seconds=60)
"""A run just created may not be readable yet; until then a 404 for it is worth another try."""
MAX_ACTIVITY_PAGES = 10
MAX_RUN_PAGES = 10
"""queryPipelineRuns pages read when looking for a run a failed createRun may have started (100 runs a page)."""
CLOCK_MARGIN = timedelta(seconds=10)
"""A run whose start ADF dates up to this long before our first createRun may still be ours: ADF's clock and
ours are both NTP-synchronised, but not to the millisecond. Small, because a run someone else started by hand
in that window would be taken for a candidate too."""
MAX_RETRY_AFTER = 600.0
"""Longest Retry-After honoured between two createRun attempts (the deadline ends a longer wait anyway)."""
# ADF Studio's monitoring page of each cloud, by authority host.
STUDIO_HOSTS = {
    "login.microsoftonline.us": "https://adf.azure.us",
    "login.chinacloudapi.cn": "https://adf.azure.cn",
}
PUBLIC_STUDIO = "https://adf.azure.com"


def studio_run_url(factory_id: str, run_id: str, authority_host: str | None) -> str:
    studio = STUDIO_HOSTS.get(authority_hostname(authority_host), PUBLIC_STUDIO)
    return f"{studio}/en/monitoring/pipelineruns/{quote(run_id, safe='')}?factory={quote(factory_id, safe='')}"


def _field(value: Any, key: str) -> Any:
    """``value[key]`` for the dicts ADF puts in an activity's error and output (typed Any by the SDK)."""
    return value.get(key) if isinstance(value, dict) else None


class PipelineRun:
    """One run of a published pipeline, through the SDK's DataFactoryManagementClient."""

    part_name = "activity"
    idempotent_start = False

    def __init__(self, connect: Callable[[], DataFactoryManagementClient], target: PipelineTarget):
        self._connect = connect
        self._client: DataFactoryManagementClient | None = None
        self.target = target
        self.what = f"pipeline {shown(target.name)} of factory {shown_name(target.factory.name)}"
        self._started_at: datetime | None = None
        self._first_attempt: datetime | None = None
        self._activities: list[Any] = []

    @property
    def client(self) -> DataFactoryManagementClient:
        if self._client is None:
            self._client = self._connect()
        return self._client

    @property
    def _where(self) -> tuple[str, str]:
        return self.target.factory.resource_group, self.target.factory.name

    def start(self) -> str:
        self._started_at = datetime.now(UTC)
        if self._first_attempt is None:
            self._first_attempt = self._started_at
        # One attempt, never resent by azure-core: see the module docstring.
        return self.client.pipelines.create_run(*self._where, self.target.name, retry_total=0).run_id

    def find_started(self) -> list[StartedRun]:
        """Runs of this pipeline started by hand or through the API (not by a trigger) since the first start()
        attempt, less CLOCK_MARGIN: the runs a failed createRun may have started. Oldest first."""
        from azure.mgmt.datafactory.models import RunFilterParameters, RunQueryFilter

        since = (self._first_attempt or datetime.now(UTC)) - CLOCK_MARGIN
        only_this_pipeline = RunQueryFilter(operand="PipelineName", operator="Equals",
                                            values_property=[self.target.name])
        found, token = [], None
        for _page in range(MAX_RUN_PAGES):
            answer = self.client.pipeline_runs.query_by_factory(*self._where, RunFilterParameters(
                last_updated_after=since,
                last_updated_before=datetime.now(UTC) + timedelta(days=1),
                filters=[only_this_pipeline],
                continuation_token=token,
            ))
            found += [run for run in answer.value or [] if _may_be_ours(run, self.target.name, since)]
            token = answer.continuation_token
            if not token:
                break
        found.sort(key=lambda run: run.run_start or since)
        return [StartedRun(run.run_id, _when(run.run_start)) for run in found]

    def retry_delay(self, error: BaseException) -> float:
        return retry_after_seconds(error)

    def observe(self, run_id: str) -> Observation:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            run = self.client.pipeline_runs.get(*self._where, run_id)
        except ResourceNotFoundError as error:
            if self._started_at and datetime.now(UTC) - self._started_at < NOT_VISIBLE_GRACE:
                raise NotVisibleYet(f"run {run_id} is not visible yet ({_azure_message(error)})") from None
            raise
        status = run.status or "Unknown"
        if status != "Queued":
            self._activities = self._activity_runs(run_id)
        message = one_line(run.message or "", 300)
        outcome = ENDED.get(status)
        if status == "Queued":
            text = f"Queued (waiting, not failed){f': {message}' if message else ''}"
        else:
            text = f"{status}{f': {message}' if message else ''}"
        return Observation(
            state=text,
            key=(status,),
            parts={activity.activity_name or "?": activity.status or "Unknown" for activity in self._activities},
            result=status if outcome else None,
            outcome=outcome,
            message=message if outcome else "",
        )

    def _activity_runs(self, run_id: str) -> list[Any]:
        from azure.mgmt.datafactory.models import RunFilterParameters

        started = self._started_at or datetime.now(UTC)
        # The query needs a time window: from a little before we started the run to well after now.
        window = {
            "last_updated_after": started - timedelta(hours=1),
            "last_updated_before": datetime.now(UTC) + timedelta(days=1),
        }
        activities, token = [], None
        for _page in range(MAX_ACTIVITY_PAGES):
            answer = self.client.activity_runs.query_by_pipeline_run(
                *self._where, run_id, RunFilterParameters(continuation_token=token, **window)
            )
            activities += answer.value or []
            token = answer.continuation_token
            if not token:
                break
        activities.sort(key=lambda activity: activity.activity_run_start or started)
        return activities

    def fallback_url(self, run_id: str) -> str:
        return studio_run_url(self.target.factory.resource_id, run_id, self.target.authority_host)

    def cancel(self, run_id: str) -> None:
        self.client.pipeline_runs.cancel(*self._where, run_id, is_recursive=True)

    def failure_details(self, run_id: str, observation: Observation) -> list[str]:
        lines = []
        for activity in self._activities:
            if activity.status not in ("Failed", "Cancelled"):
                continue
            error = activity.error
            code, message = _field(error, "errorCode"), _field(error, "message")
            failure_type = _field(error, "failureType")
            tags = ", ".join(str(value) for value in (code, failure_type) if value)
            lines.append(
                f"  activity {activity.activity_name} ({activity.activity_type}) {activity.status}"
                f"{f' [{tags}]' if tags else ''}: {one_line(message or 'no error message', 1000)}"
            )
            page = _field(activity.output, "runPageUrl")
            if page:
                lines.append(f"    {page}")
        return lines

    def describe_error(self, error: BaseException) -> tuple[bool, str]:
        return describe_azure_error(error)


class NotVisibleYet(Exception):
    """pipelineruns/get answered 404 for a run created moments ago."""


def _may_be_ours(run: Any, pipeline: str, since: datetime) -> bool:
    # A trigger's run (ScheduleTrigger, BlobEventsTrigger, …) is not; createRun's and ADF Studio's are "Manual".
    invoked_by = getattr(run.invoked_by, "invoked_by_type", None)
    if run.pipeline_name not in (None, pipeline) or invoked_by not in (None, "Manual") or not run.run_id:
        return False
    # No start time yet (a run just queued, on some API versions): counted, as it may be ours.
    return run.run_start is None or run.run_start >= since


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "a moment ago (no start time yet)"


def retry_after_seconds(error: BaseException) -> float:
    """Seconds a 429/503 answer's Retry-After asks for (a number or an HTTP date), 0 when it says none."""
    response = getattr(error, "response", None)
    value = (getattr(response, "headers", None) or {}).get("Retry-After") if response is not None else None
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, IndexError):
            return 0.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if seconds == seconds else 0.0


def describe_azure_error(error: BaseException) -> tuple[bool, str]:
    """(worth another try, one line): 408, 429, 5xx, timeouts and dropped connections are transient."""
    if isinstance(error, NotVisibleYet):
        return True, one_line(str(error))
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    from clients.identity import CredentialError

    if isinstance(error, CredentialError | ClientAuthenticationError):
        # Also a 401 from ARM, or azure-identity not getting a token: retrying does not fix either.
        return False, one_line(f"authentication failed: {_azure_message(error)}")
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        return status in (408, 429) or status >= 500, one_line(f"HTTP {status} {_azure_message(error)}")
    if isinstance(error, ServiceRequestError | ServiceResponseError | TimeoutError | ConnectionError):
        return True, one_line(f"{type(error).__name__}: {error}")
    return False, one_line(f"{type(error).__name__}: {error}")


def _azure_message(error: BaseException) -> str:
    odata = getattr(error, "error", None)
    code, message = getattr(odata, "code", None), getattr(odata, "message", None)
    if message:
        return f"{code}: {message}" if code else message
    return str(getattr(error, "message", None) or error).split("\n")[0]
