"""What every ops command shares about its command line: exit codes and one-line usage errors."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

SUCCESS = 0
FAILED = 1
"""The run (or starting it) failed: a result that is not success, or the service refused a call."""
USAGE = 2
"""A usage, credential set-up or outputs-file problem: nothing was started."""
TIMED_OUT = 3
"""The command's own --timeout passed before the run ended."""


MAX_PROBLEM_CHARACTERS = 1000
"""One problem in a usage line is cut here: argparse echoes arguments whole, and one may be 128 KB."""


class UsageError(Exception):
    """A problem with the command line, the environment or the outputs file; the text is one line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage problem as one line (`<prog>: error: …`) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(one_line_problem(f"{message} (see {self.prog} --help)"))


def one_line_problem(text: str, limit: int = MAX_PROBLEM_CHARACTERS) -> str:
    """``text`` as one printable line: control characters (a newline, an escape sequence) written escaped, as
    repr writes them, and cut at ``limit`` characters, saying how long it was."""
    head = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    if len(head) <= limit and len(text) <= limit:
        return head
    return f"{head[:limit]}… ({len(text):,} characters in all)"


def positive_seconds(maximum: float) -> Callable[[str], float]:
    """An argparse type: a number of seconds greater than zero and at most ``maximum``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not math.isfinite(value) or not 0 < value <= maximum:
            raise argparse.ArgumentTypeError(
                f"expected a number of seconds greater than 0 and at most {maximum:g}, got {text!r}"
            )
        return value

    return parse
