"""What every ops command shares about its command line: exit codes and one-line usage errors."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

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
    """argparse that reports a usage problem as one line (`<prog>: error: …`) instead of usage + error.

    argparse stops at the first bad value. Options whose type is wrapped in `lenient` keep a bad value as an
    `Invalid` instead, and `refused_values` lists them all, so a command reports every bad value at once.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(one_line_problem(f"{message} (see {self.prog} --help)"))

    def refused_values(self, given: argparse.Namespace) -> list[str]:
        """`argument --x: why` for each value a `lenient` type refused, in the order the options are declared."""
        problems = []
        for action in self._actions:
            value = getattr(given, action.dest, None)
            if isinstance(value, Invalid):
                problems.append(one_line_problem(f"argument {'/'.join(action.option_strings)}: {value.problem}"))
        return problems

    def parse_every_problem(self, argv: Sequence[str], as_written: Callable[[Sequence[str]], argparse.Namespace]
                            ) -> tuple[argparse.Namespace | None, argparse.Namespace, list[str]]:
        """(arguments or None, the arguments as written, every problem): the arguments are None when there is a
        problem. argparse's own refusal (a missing or unknown option, two exclusive ones) comes first, then each
        value a `lenient` type refused, read from ``as_written(argv)`` (a parser without required options) when
        argparse stopped early."""
        problems: list[str] = []
        try:
            args: argparse.Namespace | None = self.parse_args(argv)
            given = args
        except UsageError as error:
            args, given = None, as_written(argv)
            problems.append(str(error))
        refused = self.refused_values(given)
        if refused and not problems:
            refused[-1] += f" (see {self.prog} --help)"
        problems += refused
        return (None if problems else args), given, problems


class Invalid:
    """A command-line value a `lenient` type refused, kept so that every such problem is reported."""

    def __init__(self, problem: str):
        self.problem = problem

    def __repr__(self) -> str:
        return f"Invalid({self.problem!r})"


def lenient(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type that returns `Invalid` instead of stopping the parse at a value ``parse`` refuses."""

    def parse_or_keep(text: str) -> Any:
        try:
            return parse(text)
        except (argparse.ArgumentTypeError, ValueError) as error:
            return Invalid(str(error))

    parse_or_keep.__name__ = getattr(parse, "__name__", "value")
    return parse_or_keep


def one_of(choices: Sequence[str]) -> Callable[[str], str]:
    """An argparse type accepting one of ``choices`` (argparse's `choices` would stop the parse at a bad one)."""

    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(choices)})")
        return text

    return parse


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
