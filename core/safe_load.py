"""Read and parse the files a user writes (stack files, job definitions, templates, factory JSON) safely.

Whatever a file holds, these readers end promptly with a value or with problems, never a traceback, a
crash, a hang or an out-of-memory kill. Each problem is one line naming the file, the line where known
and the key path, e.g. ``jobs/a.yaml:4:3: invalid YAML: duplicate key 'name' in tasks[0]``.

- Files: regular files only (a FIFO, a device such as /dev/zero or a directory is refused before it is
  read); at most ``MAX_FILE_BYTES``; UTF-8, a leading byte-order mark allowed; a symbolic link whose
  target is outside ``root`` is refused naming the link, and nothing of the target is read or shown.
- Documents: duplicate keys, non-string keys, NaN/Infinity, numbers of more digits than Python converts
  and unpaired surrogates are refused with their key path; YAML dates are kept as the text written (as the Pulumi
  CLI reads them), binary, sets and other explicit tags are refused; nesting deeper than ``MAX_DEPTH``
  is refused *before* anything recursive touches the value, and YAML aliases may expand to at most
  ``MAX_VALUES`` values (a "billion laughs" file is refused, not expanded).

The readers are a family of modules that import one another relatively and nothing else from ``core``
(the offline plan imports them as a package of its own, to read the stack files of a program it plans from
another directory: offline_plan/stack_config.py):
- ``core.safe_load`` (this module): the files, ``read_json_document`` and ``read_yaml_document``; the caps.
- ``core.safe_json`` (``parse_json``) and ``core.safe_yaml`` (``parse_yaml``): the documents.
- ``core.go_yaml``: stack and project files as the Pulumi CLI reads them (``plain_as_text=True``, then
  ``pulumi_value``).
- ``core.messages``: ``shown`` caps every value echoed in a message; ``key_path`` names where it is.
- ``core.read_limits``: the caps and what every reader refuses.

Callers pass a ``problems`` list; the readers append to it and return None when the file cannot be
used. A document that is null (an empty YAML file, JSON ``null``) also reads as None without a
problem: compare ``len(problems)`` before and after when the difference matters.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from .messages import shown_name
from .read_limits import MAX_DEPTH, MAX_FILE_BYTES, MAX_PROBLEMS_PER_FILE, MAX_VALUES
from .safe_json import parse_json
from .safe_yaml import parse_yaml

# The caps are part of this reading API (the README lists them): callers and tests name them from here.
__all__ = [
    "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_PROBLEMS_PER_FILE", "MAX_VALUES",
    "decode_utf8", "read_bytes", "read_json_document", "read_text", "read_yaml_document",
]


# --- files ------------------------------------------------------------------------------------------


def read_text(
    path: Path, *, source: str, root: Path | None, problems: list[str], max_bytes: int = MAX_FILE_BYTES
) -> str | None:
    """The text of a regular file inside ``root`` (any file when ``root`` is None), or None with a problem.

    ``source`` is how messages name the file (e.g. ``jobs/a.json``).
    """
    data = read_bytes(path, source=source, root=root, problems=problems, max_bytes=max_bytes)
    return None if data is None else decode_utf8(data, source=source, problems=problems)


def read_bytes(
    path: Path, *, source: str, root: Path | None, problems: list[str], max_bytes: int = MAX_FILE_BYTES
) -> bytes | None:
    """The bytes of a regular file, with every check of ``read_text`` but the decoding; None with a problem.

    For files whose encoding the caller decides (a JSON file PowerShell wrote in UTF-16, for instance).
    """
    try:
        real = os.path.realpath(path, strict=True)
    except FileNotFoundError:
        problems.append(f"{source}: file not found" if not os.path.islink(path)
                        else f"{source}: is a symbolic link to a file that does not exist")
        return None
    except (OSError, RuntimeError):  # a symbolic link loop, a name too long, no permission
        problems.append(f"{source}: cannot be resolved (a symbolic link loop?)")
        return None
    if root is not None and not _is_inside(real, root):
        problems.append(f"{source}: is (or passes through) a symbolic link to a path outside "
                        f"{shown_name(Path(root).name)}/; it is not read: copy the file in instead")
        return None
    try:
        mode = os.stat(real).st_mode
        if not stat.S_ISREG(mode):
            problems.append(f"{source}: is {_file_kind(mode)}, not a regular file; it is not read")
            return None
        # O_NONBLOCK: were the file swapped for a FIFO since the check, opening must still not hang.
        descriptor = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        problems.append(f"{source}: cannot read: {error.strerror}")
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            problems.append(f"{source}: is not a regular file; it is not read")
            return None
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(descriptor, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        problems.append(f"{source}: cannot read: {error.strerror}")
        return None
    finally:
        os.close(descriptor)
    if size > max_bytes:
        problems.append(f"{source}: larger than {_size(max_bytes)}, far beyond any real file of this kind; "
                        "it is not read")
        return None
    return b"".join(chunks)


def decode_utf8(data: bytes, *, source: str, problems: list[str]) -> str | None:
    """UTF-8 text (a leading byte-order mark is dropped), or None with the line and column of the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            problems.append(f"{source}: is UTF-16 text; save it as UTF-8")
            return None
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        problems.append(f"{source}:{line}:{column}: not UTF-8 text (byte 0x{data[error.start]:02x}); "
                        "save the file as UTF-8")
        return None


def _is_inside(real: str, root: Path) -> bool:
    try:
        real_root = os.path.realpath(root)
    except (OSError, RuntimeError):
        return False
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count >= 1024 * 1024 else f"{count // 1024} KiB"


def read_json_document(
    path: Path, *, source: str, root: Path | None, problems: list[str], max_bytes: int = MAX_FILE_BYTES
) -> Any | None:
    """A strict JSON file (see the module doc for what is refused), or None with problems."""
    text = read_text(path, source=source, root=root, problems=problems, max_bytes=max_bytes)
    return None if text is None else parse_json(text, source=source, problems=problems)


def read_yaml_document(
    path: Path, *, source: str, root: Path | None, problems: list[str], max_bytes: int = MAX_FILE_BYTES,
    plain_as_text: bool = False,
) -> Any | None:
    """A YAML file holding one document (JSON is YAML too), or None with problems; ``plain_as_text``: parse_yaml."""
    text = read_text(path, source=source, root=root, problems=problems, max_bytes=max_bytes)
    return None if text is None else parse_yaml(text, source=source, problems=problems, plain_as_text=plain_as_text)
