"""Errors that are the user's to fix (stack config, job definitions, templates, provider input).

They derive from ``pulumi.RunError`` so that ``pulumi up`` prints the message without a Python
traceback, and the offline plan turns them into one line per problem and exit status 1.
"""

from __future__ import annotations

from collections.abc import Iterable

from pulumi.errors import RunError

# Re-exported: every message that echoes a value uses them (core/safe_load.py has no imports from core).
from core.safe_load import SHOWN_CHARACTERS, shown, shown_name  # noqa: F401


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
