"""What a Jobs API 2.2 runs/get answer says about a run (or a task run), read from its JSON as the server sent it.

A run's state comes in two shapes, and both are read: the deprecated ``state`` (life_cycle_state,
result_state, state_message, queue_reason) and ``status`` (state, queue_details, termination_details with
code, type and message).

The JSON, not databricks-sdk's ``Run``: the SDK turns a value its enums do not know into None, so a new
termination code next to ``result_state: SUCCESS`` would read as a plain success. Here a run has succeeded
only when a shape positively says SUCCESS, every shape that says the run ended agrees, each value is one this
client knows, and ``termination_details`` (where present) has code SUCCESS and type SUCCESS or none. Anything
else fails, naming the value the server sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ops.watch import Observation, Outcome, one_line

SUCCESS = "SUCCESS"
SUCCESS_WITH_FAILURES = "SUCCESS_WITH_FAILURES"
SUCCESSES = (SUCCESS, SUCCESS_WITH_FAILURES)
LEGACY_TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
"""Life cycle states of the deprecated ``state`` after which a run changes no more."""
NOT_RUN = frozenset({"UPSTREAM_FAILED", "UPSTREAM_CANCELED", "EXCLUDED", "SKIPPED"})
"""Task results that say the task did not run (its own error is elsewhere), not that it failed itself."""
RESULT_STATE = "result_state"
LIFE_CYCLE_STATE = "life_cycle_state"
TERMINATION_CODE = "termination_details.code"
TERMINATION_TYPE = "termination_details.type"


@cache
def known_values() -> dict[str, frozenset[str]]:
    """The values this client knows for each field that names a result: databricks-sdk's enums."""
    from databricks.sdk.service.jobs import (
        RunLifeCycleState,
        RunResultState,
        TerminationCodeCode,
        TerminationTypeType,
    )

    return {
        RESULT_STATE: frozenset(item.value for item in RunResultState),
        LIFE_CYCLE_STATE: frozenset(item.value for item in RunLifeCycleState),
        TERMINATION_CODE: frozenset(item.value for item in TerminationCodeCode),
        TERMINATION_TYPE: frozenset(item.value for item in TerminationTypeType),
    }


def raw(shape: Any, key: str) -> str | None:
    """``shape[key]`` as the server wrote it: None when absent, null or empty; JSON text for a non-string."""
    value = shape.get(key) if isinstance(shape, Mapping) else None
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)[:100]


@dataclass(frozen=True)
class Ending:
    """What the shapes of a run that has ended say about its result."""

    results: tuple[tuple[str, str | None], ...]
    """(field, value as sent) of each field that names the result; None where termination_details has no code."""
    termination_type: str | None
    """termination_details.type as sent, None when absent."""

    @property
    def name(self) -> str:
        """The result in words: FAILED, or SUCCESS (RUN_EXECUTION_ERROR) when the shapes name it differently."""
        names = list(dict.fromkeys(value or "UNKNOWN" for _field, value in self.results)) or ["UNKNOWN"]
        if len(names) > 1 and "UNKNOWN" in names:
            names.remove("UNKNOWN")
        return names[0] + (f" ({', '.join(names[1:])})" if len(names) > 1 else "")

    @property
    def first(self) -> str | None:
        """The first result named (the deprecated one, the more specific: UPSTREAM_FAILED, not a generic code)."""
        return next((value for _field, value in self.results if value), None)

    @property
    def outcome(self) -> Outcome:
        values = [value for _field, value in self.results]
        if not values or any(value not in SUCCESSES for value in values):
            return Outcome.FAILURE
        if self.termination_type not in (None, SUCCESS):
            return Outcome.FAILURE
        return Outcome.SUCCESS if all(value == SUCCESS for value in values) else Outcome.SUCCESS_WITH_FAILURES

    def _unknown(self) -> list[str]:
        known = known_values()
        found = [f"{field} {value!r}" for field, value in self.results if value and value not in known[field]]
        if self.termination_type and self.termination_type not in known[TERMINATION_TYPE]:
            found.append(f"{TERMINATION_TYPE} {self.termination_type!r}")
        return found

    def why_not_success(self) -> str:
        """Why this ending is not a success, where that is not plain from its name ("" then): values this client
        does not know (as sent), a missing code, or shapes or a type that contradict a SUCCESS."""
        if self.outcome is not Outcome.FAILURE:
            return ""
        reasons = [] if self.results else ["the run ended without naming a result (no result_state, no "
                                           "termination_details)"]
        unknown = self._unknown()
        if unknown:
            reasons.append(f"{' and '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not known to this command")
        reasons += [f"{field} is missing" for field, value in self.results if value is None]
        said = next(((field, value) for field, value in self.results if value in SUCCESSES), None)
        if said is not None:
            known = known_values()
            others = [f"{field} says {value}" for field, value in self.results
                      if value and value not in SUCCESSES and value in known[field]]
            if others:
                reasons.append(f"{said[0]} says {said[1]} but {' and '.join(others)}")
            if self.termination_type not in (None, SUCCESS) and self.termination_type in known[TERMINATION_TYPE]:
                reasons.append(f"{TERMINATION_TYPE} is {self.termination_type}, not SUCCESS")
        return f"not a success: {'; '.join(reasons)}" if reasons else ""


def ending_of(state: Any, status: Any) -> Ending | None:
    """How a run (or a task run) ended, None while it has not."""
    results: list[tuple[str, str | None]] = []
    termination_type = None
    ended = False
    life_cycle = raw(state, LIFE_CYCLE_STATE)
    if life_cycle in LEGACY_TERMINAL:
        ended = True
        if life_cycle != "TERMINATED":  # SKIPPED and INTERNAL_ERROR are results in themselves
            results.append((LIFE_CYCLE_STATE, life_cycle))
        elif raw(state, RESULT_STATE):
            results.append((RESULT_STATE, raw(state, RESULT_STATE)))
    if raw(status, "state") == "TERMINATED":
        ended = True
        details = status.get("termination_details")
        if details is not None:
            # Where the details are given, their code must say how the run ended.
            results.append((TERMINATION_CODE, raw(details, "code")))
            termination_type = raw(details, "type")
    return Ending(tuple(results), termination_type) if ended else None


def life_cycle_of(state: Any, status: Any) -> str:
    return raw(status, "state") or raw(state, LIFE_CYCLE_STATE) or "UNKNOWN"


def message_of(state: Any, status: Any) -> str:
    """The termination message (else the deprecated state_message), tagged with a failing termination type."""
    details = status.get("termination_details") if isinstance(status, Mapping) else None
    message = raw(details, "message") or raw(state, "state_message") or ""
    kind = raw(details, "type")
    tag = f"[{kind}]" if kind and kind != SUCCESS else ""
    return one_line(f"{message} {tag}", 300)


def queue_reason_of(state: Any, status: Any) -> tuple[str | None, str]:
    details = status.get("queue_details") if isinstance(status, Mapping) else None
    code, message = raw(details, "code"), raw(details, "message")
    if code or message:
        return code, one_line(f"{message or ''}{f' [{code}]' if code else ''}", 300)
    reason = raw(state, "queue_reason")
    return reason, one_line(reason or "", 300)


def describe(state: Any, status: Any) -> tuple[str, tuple[str | None, ...], Ending | None]:
    """(state in words, what counts as a change, how it ended) of a run or a task run."""
    ending = ending_of(state, status)
    if ending is not None:
        message = message_of(state, status)
        return f"TERMINATED {ending.name}{f': {message}' if message else ''}", ("ended", ending.name), ending
    life_cycle = life_cycle_of(state, status)
    if life_cycle == "QUEUED" or raw(state, LIFE_CYCLE_STATE) == "QUEUED":
        code, reason = queue_reason_of(state, status)
        return f"QUEUED (waiting, not failed){f': {reason}' if reason else ''}", ("QUEUED", code), None
    message = raw(state, "state_message") or ""
    return f"{life_cycle}{f': {one_line(message, 300)}' if message else ''}", (life_cycle,), None


def tasks_of(run: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tasks = run.get("tasks")
    return [task for task in tasks if isinstance(task, Mapping)] if isinstance(tasks, list) else []


def observe_run(run: Mapping[str, Any]) -> Observation:
    """What a runs/get answer (its JSON) says, for the watcher."""
    state, status = run.get("state"), run.get("status")
    text, key, ending = describe(state, status)
    parts = {}
    for task in tasks_of(run):
        task_ending = ending_of(task.get("state"), task.get("status"))
        name = raw(task, "task_key") or "?"
        parts[name] = task_ending.name if task_ending else life_cycle_of(task.get("state"), task.get("status"))
    message = ""
    if ending is not None:
        why = ending.why_not_success()
        message = "; ".join(part for part in (message_of(state, status), why) if part)
    return Observation(
        state=text,
        key=key,
        parts=parts,
        result=ending.name if ending else None,
        outcome=ending.outcome if ending else None,
        message=message,
        url=raw(run, "run_page_url"),
    )


def own_failures(run: Mapping[str, Any]) -> tuple[list[tuple[Mapping, str]], list[tuple[Mapping, str]]]:
    """(tasks that failed themselves, tasks that did not run because of others), each with its result name."""
    failed, not_run = [], []
    for task in tasks_of(run):
        ending = ending_of(task.get("state"), task.get("status"))
        if ending is None or ending.outcome is Outcome.SUCCESS:
            continue
        (not_run if ending.first in NOT_RUN else failed).append((task, ending.name))
    return failed, not_run
