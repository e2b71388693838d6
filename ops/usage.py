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


class UsageError(Exception):
    """A problem with the command line, the environment or the outputs file; the text is one line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage problem as one line (`<prog>: error: …`) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


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
