"""Errors that are the user's to fix (stack config, job definitions, templates, provider input).

They derive from ``pulumi.RunError`` so that ``pulumi up`` prints the message without a Python
traceback, and the offline plan turns them into one line per problem and exit status 1.
"""

from __future__ import annotations

from collections.abc import Iterable

from pulumi.errors import RunError


class UserError(RunError):
    """One or more problems in something the user wrote; each problem names its file and key."""

    def __init__(self, problems: Iterable[str]):
        self.problems: list[str] = list(problems)
        if not self.problems:
            raise ValueError("UserError needs at least one problem")
        super().__init__("\n".join(self.problems))
