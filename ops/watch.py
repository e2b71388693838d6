"""Start one run, follow it to its end, and turn its result into an exit code.

What is run (a Databricks job, a Data Factory pipeline) is a RunTarget: it starts the run, reads its state
through the official SDK and says which errors are worth another try. This module owns what the user sees
and what the command promises: the run's URL first, one timestamped line per state change, queued runs
reported as queued, and an end within --timeout (plus a short grace for cancelling or fetching errors)
whatever the servers do.
"""

from __future__ import annotations

import enum
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn, Protocol, TextIO

from ops.deadline import CallTimedOut, Deadline, call_within
from ops.usage import FAILED, SUCCESS, TIMED_OUT

GRACE_SECONDS = 15.0
"""How long after --timeout (or after a failed result) the command may spend cancelling or fetching errors;
never longer than the timeout itself."""
LOOKUPS_AFTER_A_FAILED_START = 3
"""Readings of the run list, one poll interval apart, before a start that failed counts as having started
nothing: a run just created may take moments to appear in the list."""


class Outcome(enum.Enum):
    SUCCESS = "success"
    SUCCESS_WITH_FAILURES = "success with failures"
    FAILURE = "failure"


@dataclass(frozen=True)
class Observation:
    """One reading of a run's state."""

    state: str
    """The run's state in words, e.g. "RUNNING" or "QUEUED: …"; printed when ``key`` changes."""
    key: tuple[str | None, ...]
    """What counts as a change of state (not free-text messages that change while a run goes on)."""
    parts: dict[str, str] = field(default_factory=dict)
    """Task or activity name -> its state in words; a line is printed for each change."""
    result: str | None = None
    """The run's result (e.g. FAILED, Succeeded) once it has ended, else None."""
    outcome: Outcome | None = None
    """What the result means for the exit code, once the run has ended."""
    message: str = ""
    """The run's own message about its end (termination message, pipeline run message)."""
    url: str | None = None
    """The run's page, when the state says it."""


@dataclass(frozen=True)
class StartedRun:
    """A run that a failed start() may have started."""

    run_id: str
    """Its id."""
    started: str
    """When it started, in words for messages."""


class RunTarget(Protocol):
    """Something that can be run once and watched: a job, a pipeline."""

    what: str
    """The thing run, in words for messages: "job 'nightly' (id 42)"."""
    part_name: str
    """What its parts are called: "task", "activity"."""
    idempotent_start: bool
    """True when start() may be retried after an error without starting a second run. When False, the watcher
    asks find_started() after each failed attempt and tries again only when it finds no run."""

    def start(self) -> str: ...

    def find_started(self) -> list[StartedRun]:
        """Runs started since the first start() attempt that may be its own, oldest first (asked only when
        idempotent_start is False)."""
        ...

    def retry_delay(self, error: BaseException) -> float:
        """Seconds the server asked to wait before another attempt (Retry-After), 0 when it did not say."""
        ...

    def observe(self, run_id: str) -> Observation: ...

    def fallback_url(self, run_id: str) -> str: ...

    def failure_details(self, run_id: str, observation: Observation) -> list[str]: ...

    def cancel(self, run_id: str) -> None: ...

    def describe_error(self, error: BaseException) -> tuple[bool, str]:
        """(worth another try, one line saying what went wrong)."""
        ...


@dataclass(frozen=True)
class WatchOptions:
    timeout: float
    """Seconds from start to give up (exit 3)."""
    poll_interval: float
    """Seconds between two readings of the run's state."""
    allow_success_with_failures: bool = False
    """Whether SUCCESS_WITH_FAILURES exits 0."""
    cancel_on_timeout: bool = False
    """Whether our own timeout also cancels the run."""
    grace: float = GRACE_SECONDS
    """Seconds allowed after the end for cancelling the run or fetching its errors (at most ``timeout``)."""


_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")


class Reporter:
    """Prints what the user sees; every line passes through redaction of the given secret values."""

    def __init__(
        self,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        secrets: Iterable[str] = (),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))
        self._now = now

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return _BEARER.sub("Bearer [redacted]", text)

    def line(self, text: str) -> None:
        print(self.redact(text), file=self._out, flush=True)

    def event(self, text: str) -> None:
        """A line with a UTC timestamp: a state change or a warning."""
        self.line(f"{self._now().strftime('%Y-%m-%dT%H:%M:%SZ')} {text}")

    def error(self, lines: list[str]) -> None:
        """The reason the command fails: first line `error: …`, the rest indented as given."""
        first, *rest = lines
        print(self.redact(f"error: {first}"), file=self._err, flush=True)
        for text in rest:
            print(self.redact(text), file=self._err, flush=True)


def one_line(text: str, limit: int = 400) -> str:
    """Whitespace collapsed and cut to ``limit`` characters, for messages of one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class _Stop(Exception):
    def __init__(self, exit_code: int):
        self.exit_code = exit_code


class Watch:
    """One smoke run: start, follow, conclude."""

    def __init__(self, target: RunTarget, options: WatchOptions, reporter: Reporter):
        self.target = target
        self.options = options
        self.report = reporter
        self.deadline = Deadline(options.timeout)
        self.grace = min(options.grace, options.timeout)
        self._last: Observation | None = None
        self._parts: dict[str, str] = {}

    def run(self) -> int:
        try:
            run_id = self._start()
        except _Stop as stop:
            return stop.exit_code
        return self._follow(run_id)

    # -- starting -------------------------------------------------------------------------------
    def _start(self) -> str:
        what, last_error = self.target.what, "no answer"
        may_have_started = False  # an attempt failed in a way that may have started a run anyway
        while True:
            try:
                run_id = call_within(self.deadline.remaining(), self.target.start)
            except CallTimedOut:
                self._timed_out_starting(last_error)
            except Exception as error:  # noqa: BLE001 - classified by the target, reported in one line
                transient, last_error = self.target.describe_error(error)
                if not transient:
                    self.report.error([f"could not start {what}: {last_error}"])
                    raise _Stop(FAILED) from None
                if not self.target.idempotent_start:
                    may_have_started = True
                    found = self._run_started_anyway(last_error)
                    if found is not None:
                        return found
                self.report.event(f"warning: starting {what}: {last_error}; trying again")
                self.deadline.sleep(max(self.options.poll_interval, self.target.retry_delay(error)))
                if self.deadline.expired():
                    self._timed_out_starting(last_error)
            else:
                if may_have_started:
                    self._warn_of_earlier_runs(run_id, last_error)
                return run_id

    def _run_started_anyway(self, last_error: str) -> str | None:
        """After a failed start that may have started a run: that run's id to follow, None when the run list
        shows none in LOOKUPS_AFTER_A_FAILED_START readings (so another attempt is safe), else _Stop: when it
        cannot be listed, or when several runs may be this command's."""
        what, readings, tries, lookup_error = self.target.what, 0, 0, ""
        while readings < LOOKUPS_AFTER_A_FAILED_START and tries < 2 * LOOKUPS_AFTER_A_FAILED_START:
            if tries:
                self.deadline.sleep(self.options.poll_interval)
            tries += 1
            try:
                runs = call_within(self.deadline.remaining(), self.target.find_started)
            except CallTimedOut:
                self._timed_out_starting(last_error)
            except Exception as error:  # noqa: BLE001 - classified by the target
                transient, lookup_error = self.target.describe_error(error)
                if not transient:
                    break
                continue
            readings += 1
            if len(runs) == 1:
                [run] = runs
                self.report.event(f"warning: starting {what}: {last_error}; but run {run.run_id} of it started at "
                                  f"{run.started}, after this command began: following it, not starting another")
                return run.run_id
            if runs:
                self.report.error([
                    f"could not start {what} for sure: {last_error}; {len(runs)} runs of it started since this "
                    "command began and nothing tells which one is this command's (createRun has no idempotency "
                    "key), so it follows none and starts no other:",
                    *[f"  run {run.run_id} started at {run.started}: {self.target.fallback_url(run.run_id)}"
                      for run in runs],
                ])
                raise _Stop(FAILED)
        if readings == LOOKUPS_AFTER_A_FAILED_START:
            return None
        # Without the run list, another attempt could start a second run.
        self.report.error([f"could not start {what}: {last_error}; it may have started a run anyway, and the "
                           f"pipeline's runs could not be listed to see ({lookup_error}); not starting another"])
        raise _Stop(FAILED)

    def _warn_of_earlier_runs(self, run_id: str, last_error: str) -> None:
        """A start succeeded after a failed one: say if the failed one started a run after all (seen late)."""
        try:
            runs = call_within(min(self.grace, self.deadline.remaining()), self.target.find_started)
        except Exception:  # noqa: BLE001 - only a warning; the run we follow is known
            return
        for run in runs:
            if run.run_id != run_id:
                self.report.event(f"warning: run {run.run_id} (started at {run.started}) may have been started by "
                                  f"the attempt that failed ({last_error}); this command follows run {run_id} "
                                  f"only: {self.target.fallback_url(run.run_id)}")

    def _timed_out_starting(self, last_error: str) -> NoReturn:
        what = self.target.what
        lines = [f"timed out after {self.options.timeout:g}s starting {what} (last error: {last_error}); "
                 "a run may have started anyway: look for it before starting another"]
        if not self.target.idempotent_start:
            # Any attempt, even one still unanswered, may have started a run: name those the list shows.
            try:
                runs = call_within(self.grace, self.target.find_started)
            except Exception:  # noqa: BLE001 - the advice above stands
                runs = []
            lines += [f"  run {run.run_id} started at {run.started}: {self.target.fallback_url(run.run_id)}"
                      for run in runs]
        self.report.error(lines)
        raise _Stop(TIMED_OUT)

    # -- following ------------------------------------------------------------------------------
    def _follow(self, run_id: str) -> int:
        shown_url = False
        while True:
            try:
                observation = call_within(self.deadline.remaining(), self.target.observe, run_id)
            except CallTimedOut:
                if not shown_url:
                    self.report.line(f"Run URL: {self.target.fallback_url(run_id)}")
                return self._timed_out(run_id)
            except Exception as error:  # noqa: BLE001 - classified by the target, reported in one line
                transient, text = self.target.describe_error(error)
                if not shown_url:
                    self.report.line(f"Run URL: {self.target.fallback_url(run_id)}")
                    shown_url = True
                if not transient:
                    self.report.error([f"{self.target.what} run {run_id}: reading its state failed: {text}"])
                    return FAILED
                self.report.event(f"warning: reading the state of run {run_id}: {text}; trying again")
            else:
                if not shown_url:
                    self.report.line(f"Run URL: {observation.url or self.target.fallback_url(run_id)}")
                    shown_url = True
                self._show(observation)
                if observation.outcome is not None:
                    return self._conclude(run_id, observation)
            if self.deadline.expired():
                return self._timed_out(run_id)
            self.deadline.sleep(self.options.poll_interval)
            if self.deadline.expired():
                return self._timed_out(run_id)

    def _show(self, observation: Observation) -> None:
        if self._last is None or observation.key != self._last.key:
            self.report.event(observation.state)
        for name, state in observation.parts.items():
            if self._parts.get(name) != state:
                self.report.event(f"  {self.target.part_name} {name}: {state}")
                self._parts[name] = state
        self._last = observation

    # -- the end --------------------------------------------------------------------------------
    def _conclude(self, run_id: str, observation: Observation) -> int:
        what, result = self.target.what, observation.result
        elapsed = _duration(self.options.timeout - self.deadline.remaining())
        if observation.outcome is Outcome.SUCCESS:
            self.report.line(f"{what} run {run_id} succeeded ({result}) after {elapsed}")
            return SUCCESS
        if observation.outcome is Outcome.SUCCESS_WITH_FAILURES and self.options.allow_success_with_failures:
            self.report.line(
                f"{what} run {run_id} ended {result} after {elapsed}: accepted by --allow-success-with-failures"
            )
            return SUCCESS
        headline = f"{what} run {run_id} ended {result} after {elapsed}"
        if observation.message:
            headline += f": {observation.message}"
        if observation.outcome is Outcome.SUCCESS_WITH_FAILURES:
            headline += " (some tasks failed; --allow-success-with-failures accepts this result)"
        try:
            details = call_within(self.grace, self.target.failure_details, run_id, observation)
        except CallTimedOut:
            details = [f"  (the failing {self.target.part_name}'s error could not be fetched: no answer)"]
        except Exception as error:  # noqa: BLE001 - the run failed either way; say why details are missing
            details = [f"  (the failing {self.target.part_name}'s error could not be fetched: "
                       f"{self.target.describe_error(error)[1]})"]
        self.report.error([headline, *details])
        return FAILED

    def _timed_out(self, run_id: str) -> int:
        last = self._last.state if self._last else "not read yet"
        lines = [
            f"timed out after {self.options.timeout:g}s waiting for {self.target.what} run {run_id} "
            f"(last state: {last})"
        ]
        if self.options.cancel_on_timeout:
            try:
                call_within(self.grace, self.target.cancel, run_id)
                lines.append(f"  cancelled run {run_id} (--cancel-on-timeout; it stops within moments)")
            except CallTimedOut:
                lines.append(f"  could not cancel run {run_id}: no answer; it may still be running")
            except Exception as error:  # noqa: BLE001 - reported; the exit code stays the timeout's
                lines.append(f"  could not cancel run {run_id}: {self.target.describe_error(error)[1]}")
        else:
            lines.append(f"  run {run_id} goes on; --cancel-on-timeout cancels it")
        self.report.error(lines)
        return TIMED_OUT
