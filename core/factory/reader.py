"""A strict reader for the JSON files of ``factory/``: one small function the rest of the package calls.

``read_json`` refuses what Python's ``json`` would accept silently or choke on: NaN/Infinity, duplicate keys
(the last one would win without a word), nesting deeper than a cap (a RecursionError, not a message), files
over a size cap, bytes that are not UTF-8, and paths that are not regular files inside the folder (a FIFO
would hang the plan; a symlink to /dev/zero would never end; a symlink out of ``factory/`` reads a file the
repository does not hold). It is the seam where the project's shared safe loader can replace it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

MAX_BYTES = 4 * 1024 * 1024
"""Larger than any object ADF Studio writes; a bigger file is not an ADF object."""
MAX_DEPTH = 64
"""Deeper than the deepest nesting ADF allows (ForEach > If > Switch > activities > typeProperties ...)."""


class UnreadableFile(Exception):
    """The file cannot be read as one JSON document; the message says why, without the path."""


def _refuse_constant(name: str) -> Any:
    raise UnreadableFile(f"{name} is not JSON (ADF writes numbers only)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise UnreadableFile(f"key {key!r} appears twice in one object; keep one")
        result[key] = value
    return result


def _check_depth(text: str) -> None:
    # Counted before parsing: json's recursion would otherwise fail with a RecursionError far deeper.
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise UnreadableFile(f"nested deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def regular_file_inside(path: Path, root: Path) -> Path:
    """The resolved path of ``path`` if it is a regular file inside ``root``; raise UnreadableFile otherwise."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise UnreadableFile(f"is a symbolic link to {resolved}, outside {root.name}/")
    try:
        mode = os.stat(resolved).st_mode
    except OSError as error:
        raise UnreadableFile(f"cannot be read: {error.strerror}") from None
    if not stat.S_ISREG(mode):
        raise UnreadableFile("is not a regular file")
    return resolved


def read_json(path: Path, root: Path) -> Any:
    """The JSON document in ``path`` (a file under ``root``), read strictly; raise UnreadableFile."""
    resolved = regular_file_inside(path, root)
    try:
        with open(resolved, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise UnreadableFile(f"cannot be read: {error.strerror}") from None
    if len(data) > MAX_BYTES:
        raise UnreadableFile(f"is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        # utf-8-sig: editors on Windows may add a byte-order mark; ADF itself never needs one.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"is not UTF-8 (byte {error.start})") from None
    _check_depth(text)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise UnreadableFile(f"line {error.lineno} column {error.colno}: not valid JSON: {error.msg}") from None
