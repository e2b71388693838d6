"""Strict JSON: duplicate keys, NaN/Infinity, numbers of more digits than Python converts, unpaired
surrogates and nesting deeper than ``MAX_DEPTH`` are refused, each problem naming its key path.

Nesting is bounded *before* the text is parsed, so nothing recursive ever sees a value too deep for it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .messages import at_path, in_path, key_path, short_path, shown
from .read_limits import MAX_DEPTH, capped, check_text

_JSON_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)
# Decoded text holds an unpaired surrogate only if the JSON wrote one as an escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _NonFinite(str):
    """What ``NaN``/``Infinity`` parse to, so the check names their key path."""


class _Duplicates(dict):
    """An object that had duplicate keys (JSON keeps the last silently); the check names them."""

    duplicates: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict:
    result: dict[str, Any] = {}
    duplicates = []
    for key, value in pairs:
        if key in result:
            duplicates.append(key)
        result[key] = value
    if duplicates:
        marked = _Duplicates(result)
        marked.duplicates = duplicates
        return marked
    return result


def parse_json(text: str, *, source: str, problems: list[str], what: str = "JSON") -> Any | None:
    """Strict JSON: no duplicate keys, no NaN/Infinity, bounded nesting. None with problems otherwise.

    ``what`` names the text in messages (e.g. ``"JSON"``, or the output of a template).
    """
    too_deep = _json_depth_exceeded(text) if text.count("[") + text.count("{") > MAX_DEPTH else None
    if too_deep is not None:
        line = text.count("\n", 0, too_deep) + 1
        problems.append(f"{source}:{line}: invalid {what}: nested deeper than {MAX_DEPTH} levels")
        return None
    suspicious: list[bool] = []  # set by the hooks: only then is the whole value walked for its paths

    def pairs(items: list[tuple[str, Any]]) -> dict:
        result = _object(items)
        if isinstance(result, _Duplicates):
            suspicious.append(True)
        return result

    def constant(name: str) -> _NonFinite:
        suspicious.append(True)
        return _NonFinite(name)

    def number(literal: str) -> float:
        value = float(literal)
        if value - value != 0:  # 1e400 is infinite
            suspicious.append(True)
        return value

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_float=number)
    except json.JSONDecodeError as error:
        problems.append(f"{source}:{error.lineno}:{error.colno}: invalid {what}: {error.msg}")
        return None
    except (ValueError, RecursionError):  # an integer of more than 4300 digits
        problems.append(f"{source}: invalid {what}: a number has more digits than any system accepts")
        return None
    found: list[str] = []
    if suspicious or _SURROGATE_ESCAPE.search(text):
        _check_json(value, "", found)
    if found:
        problems.extend(f"{source}: invalid {what}: {problem}" for problem in capped(found))
        return None
    return value


def _json_depth_exceeded(text: str) -> int | None:
    """Offset of the first bracket nested deeper than MAX_DEPTH, found without recursion."""
    depth = 0
    in_string = False
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue
        elif token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        else:
            depth -= 1
    return None


def _check_json(value: Any, path: str, found: list[str]) -> None:
    # Recursion is safe here: nesting was bounded before the text was parsed. Paths are built only for
    # values that have something to report (this runs over every value of every definition).
    if isinstance(value, _NonFinite):
        found.append(f"{at_path(short_path(path))}{value} is not a JSON number; write a finite number")
    elif isinstance(value, float):
        if value - value != 0:  # inf or nan
            found.append(f"{at_path(path)}number too large")
    elif isinstance(value, str):
        if not value.isascii():
            check_text(value, path, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if _needs_check(item):
                _check_json(item, f"{path}[{index}]", found)
    elif isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            found.append(f"duplicate key {shown(key)}{in_path(short_path(path))}")
        for key, item in value.items():
            if not key.isascii():
                check_text(key, path, found)
            if _needs_check(item):
                _check_json(item, key_path(path, key), found)


def _needs_check(value: Any) -> bool:
    """Whether a value may hold something to report, decided without building its path."""
    if isinstance(value, str):
        return isinstance(value, _NonFinite) or not value.isascii()
    if isinstance(value, float):
        return value - value != 0
    return isinstance(value, list | dict)
