"""The stage's job settings (queueing, concurrency, timeout, failure e-mails, UI lock, schedule pause status)
over rendered jobs.

Pure logic, no Pulumi resources. Stage differences are config values: every rendered job gets the stage's
defaults for the keys it does not set, and keeps what its definition (through its template) sets. The UI
lock is the one exception: it is the stage's guard rail, so a definition cannot loosen it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from core.errors import UserError
from core.jobs import RenderedJob


@dataclass(frozen=True)
class JobDefaults:
    """What a stage gives each job that does not say otherwise."""

    queue: bool
    """Runs over the workspace's concurrency limits wait in a queue (Jobs `queue.enabled`) instead of failing."""
    max_concurrent_runs: int
    """Runs of one job at a time; more are queued (or skipped without queueing)."""
    timeout_seconds: int
    """Timeout of each run of the job; 0 means none."""
    failure_emails: tuple[str, ...]
    """Addresses told when a run fails (`email_notifications.on_failures`)."""
    edit_mode: str
    """UI_LOCKED (only the deployment changes the job) or EDITABLE."""
    schedule_pause_status: str = "UNPAUSED"
    """PAUSED or UNPAUSED, for a schedule, continuous run or trigger whose settings give no pause_status
    (Databricks would take UNPAUSED: a template that forgets it would run its schedule in every stage)."""


# Job settings that start runs by themselves, each with its own pause_status.
RUNNERS = ("schedule", "continuous", "trigger")


def with_job_defaults(settings: Mapping[str, Any], defaults: JobDefaults) -> dict[str, Any]:
    """A copy of rendered job settings (``pulumi_databricks.Job`` keyword arguments) with the stage's
    defaults for every key the settings leave unset; keys the settings set are kept as they are."""
    result = dict(settings)
    result.setdefault("queue", {"enabled": defaults.queue})
    result.setdefault("max_concurrent_runs", defaults.max_concurrent_runs)
    result.setdefault("timeout_seconds", defaults.timeout_seconds)
    if defaults.failure_emails:
        notifications = dict(result.get("email_notifications") or {})
        notifications.setdefault("on_failures", list(defaults.failure_emails))
        result["email_notifications"] = notifications
    result["edit_mode"] = defaults.edit_mode
    for runner in RUNNERS:
        if isinstance(result.get(runner), Mapping) and result[runner].get("pause_status") is None:
            result[runner] = {**result[runner], "pause_status": defaults.schedule_pause_status}
    return result


def apply_job_defaults(jobs: Iterable[RenderedJob], defaults: JobDefaults) -> list[RenderedJob]:
    """Every job with the stage's defaults; raise ``UserError`` naming each definition that sets an
    ``edit_mode`` other than the stage's (``jobsEditMode``)."""
    jobs = list(jobs)
    problems = [
        f"{job.source}: edit_mode {job.settings['edit_mode']!r} differs from this stage's jobsEditMode "
        f"{defaults.edit_mode!r}; whether jobs may be edited in the UI is set per stage, so remove edit_mode "
        "from the definition (or its template)"
        for job in jobs
        if job.settings.get("edit_mode") not in (None, defaults.edit_mode)
    ]
    if problems:
        raise UserError(problems)
    return [replace(job, settings=with_job_defaults(job.settings, defaults)) for job in jobs]
