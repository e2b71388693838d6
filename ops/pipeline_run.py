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
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from clients.identity import authority_hostname
from clients.retry_after import bounded_pause, retry_after_seconds
from core.messages import shown, shown_name
from ops.credential import CountingCredential
from ops.deadline import MAX_RETRY_PAUSE
from ops.outputs import PipelineTarget
from ops.watch import Observation, Outcome, StartedRun, one_line

if TYPE_CHECKING:
    from azure.mgmt.datafactory import DataFactoryManagementClient

ENDED = {"Succeeded": Outcome.SUCCESS, "Failed": Outcome.FAILURE, "Cancelled": Outcome.FAILURE}
GOING = ("Queued", "InProgress", "Canceling")
"""The statuses ADF documents for a run that has not ended. Any other status than these and ENDED's (another
spelling, a new value) ends the watch as a failure naming it: only "Succeeded" is a success, and waiting for
a status this client cannot read would only end at --timeout."""
NOT_VISIBLE_GRACE = timedelta(seconds=60)
"""A run just created may not be readable yet; until then a 404 for it is worth another try."""
MAX_ACTIVITY_PAGES = 10
MAX_RUN_PAGES = 10
"""queryPipelineRuns pages read when looking for a run a failed createRun may have started (100 runs a page)."""
CLOCK_MARGIN = timedelta(seconds=10)
"""A run whose start ADF dates up to this long before our first createRun may still be ours: ADF's clock and
ours are both NTP-synchronised, but not to the millisecond. Small, because a run someone else started by hand
in that window would be taken for a candidate too."""
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

    def __init__(self, connect: Callable[[], DataFactoryManagementClient], target: PipelineTarget, *,
                 tokens: CountingCredential):
        self._connect = connect
        self._tokens = tokens
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

    def unauthenticated(self) -> str | None:
        return None if self._tokens.issued else self._tokens.source

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
        return retry_after_of(error)

    def observe(self, run_id: str) -> Observation:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            run = self.client.pipeline_runs.get(*self._where, run_id)
        except ResourceNotFoundError as error:
            if self._started_at and datetime.now(UTC) - self._started_at < NOT_VISIBLE_GRACE:
                raise NotVisibleYet(f"run {run_id} is not visible yet ({_azure_message(error)})") from None
            raise
        # No status at all is read as not ended yet (nothing to name); any other unknown one ends the watch.
        status = run.status or "Unknown"
        if status != "Queued":
            self._activities = self._activity_runs(run_id)
        message = one_line(run.message or "", 300)
        outcome = ENDED.get(status)
        if run.status and outcome is None and status not in GOING:
            outcome = Outcome.FAILURE
            known = ", ".join((*GOING, *ENDED))
            message = "; ".join(part for part in (message, (
                f"status {shown(status)} is not one ADF documents ({known}), so it is not counted as success; "
                "the run may still be going on")) if part)
        if status == "Queued":
            text = f"Queued (waiting, not failed){f': {message}' if message else ''}"
        else:
            text = f"{shown_name(status, 100)}{f': {message}' if message else ''}"
        return Observation(
            state=text,
            key=(status,),
            parts={activity.activity_name or "?": activity.status or "Unknown" for activity in self._activities},
            result=shown_name(status, 100) if outcome else None,
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


def retry_after_of(error: BaseException) -> float:
    """Seconds a 429/503 answer's Retry-After asks for (clients.retry_after), at most MAX_RETRY_PAUSE; 0 when it
    says none or nothing readable."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) if response is not None else None
    try:
        value = headers.get("Retry-After") if headers is not None else None
    except Exception:  # noqa: BLE001 - a headers object of another shape: no Retry-After to honour
        value = None
    seconds = retry_after_seconds(value) if isinstance(value, str) else None
    return bounded_pause(seconds, MAX_RETRY_PAUSE) if seconds is not None else 0.0


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

    if isinstance(error, CredentialError):  # no token: it names the credential and where it asked
        return False, one_line(str(error))
    if isinstance(error, ClientAuthenticationError):  # a 401 from ARM: retrying does not fix it
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
