"""Errors that are the user's to fix (stack config, job definitions, templates, provider input).

They derive from ``pulumi.RunError`` so that ``pulumi up`` prints the message without a Python
traceback, and the offline plan turns them into one line per problem and exit status 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pulumi.errors import RunError

# Re-exported: every message that echoes a value uses them (core/messages.py has no imports from core).
from core.messages import SHOWN_CHARACTERS, shown, shown_name  # noqa: F401


class UserError(RunError):
    """One or more problems in something the user wrote; each problem names its file and key."""

    def __init__(self, problems: Iterable[str]):
        # A safety net under every producer: no single problem line may flood a terminal or CI log.
        self.problems: list[str] = [_bounded(problem) for problem in problems]
        if not self.problems:
            raise ValueError("UserError needs at least one problem")
        super().__init__("\n".join(self.problems))


def raise_problems(problems: Iterable[str]) -> None:
    """Raise one UserError listing every problem collected by a run's validators, if there is any."""
    problems = list(problems)
    if problems:
        raise UserError(problems)


MAX_PROBLEM_CHARACTERS = 2000


def _bounded(problem: str) -> str:
    if len(problem) <= MAX_PROBLEM_CHARACTERS:
        return problem
    cut = f"(message cut at {MAX_PROBLEM_CHARACTERS:,} of {len(problem):,} characters)"
    return f"{problem[:MAX_PROBLEM_CHARACTERS]}… {cut}"


def described(value: Any) -> str:
    """A value's kind and, for a scalar, its start: `string 'abc'`, `boolean true`, `an object`, `a list`."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    kind = {str: "string", int: "integer", float: "number"}.get(type(value), type(value).__name__)
    return f"{kind} {shown(value, 40)}"


def field_suggestion(key: Any, fields: Iterable[str]) -> str:
    """`; did you mean 'x'?` for a field name close to ``key``, else `; allowed here: <every field>`."""
    fields = list(fields)
    close = difflib.get_close_matches(str(key)[:100], fields, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; allowed here: {', '.join(sorted(fields))}"
