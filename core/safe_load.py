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

This module imports nothing from ``core`` (the offline plan loads it by path to read the stack files of
a program it plans from another directory). ``shown`` caps every value echoed in a message.

Stack and project files are read as the Pulumi CLI reads them (``plain_as_text=True``, then
``pulumi_value``): see "Files the Pulumi CLI reads" below.

Callers pass a ``problems`` list; the readers append to it and return None when the file cannot be
used. A document that is null (an empty YAML file, JSON ``null``) also reads as None without a
problem: compare ``len(problems)`` before and after when the difference matters.
"""

from __future__ import annotations

import json
import math
import os
import re
import reprlib
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# Caps far above any real input (a stack file is a few KB, a job definition or an ADF pipeline a few
# hundred KB) and far below what hurts: the README lists them.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000
MAX_PROBLEMS_PER_FILE = 10

_YAML_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_YAML_TAG}{name}" for name in ("str", "int", "float", "bool", "null")}
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# Longest value echoed in a message: a 2 MB bad value names itself by its start and its length.
SHOWN_CHARACTERS = 80
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = SHOWN_CHARACTERS
_REPR.maxlevel = 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxlong = 40


def shown(value: Any, limit: int = SHOWN_CHARACTERS) -> str:
    """``repr(value)`` for a message, never longer than about ``limit`` characters.

    A long string keeps its first characters and says its length: ``'aaaa…' (2,097,152 characters)``.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        head = repr(value[:limit])
        return f"{head[:-1]}…{head[-1]} ({len(value):,} characters)"
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def shown_name(name: str, limit: int = SHOWN_CHARACTERS) -> str:
    """A key or file name for a message: as written when it is short printable text, else ``shown``."""
    return name if len(name) <= limit and name.isprintable() and name.strip() == name and name else shown(name)


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


# --- JSON -------------------------------------------------------------------------------------------

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
        problems.extend(f"{source}: invalid {what}: {problem}" for problem in _capped(found))
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
        found.append(f"{_at(_short(path))}{value} is not a JSON number; write a finite number")
    elif isinstance(value, float):
        if value - value != 0:  # inf or nan
            found.append(f"{_at(path)}number too large")
    elif isinstance(value, str):
        if not value.isascii():
            _check_text(value, path, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if _needs_check(item):
                _check_json(item, f"{path}[{index}]", found)
    elif isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            found.append(f"duplicate key {shown(key)}{_in(_short(path))}")
        for key, item in value.items():
            if not key.isascii():
                _check_text(key, path, found)
            if _needs_check(item):
                _check_json(item, key_path(path, key), found)


def _needs_check(value: Any) -> bool:
    """Whether a value may hold something to report, decided without building its path."""
    if isinstance(value, str):
        return isinstance(value, _NonFinite) or not value.isascii()
    if isinstance(value, float):
        return value - value != 0
    return isinstance(value, list | dict)


def _check_text(text: str, path: str, found: list[str]) -> None:
    if not text.isascii():  # ASCII text cannot hold a surrogate
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            found.append(f"{_at(path)}text with an unpaired surrogate escape (\\ud800-\\udfff) is not text")


def key_path(path: str, key: Any) -> str:
    """``tasks[0]`` + ``notebook_task`` → ``tasks[0].notebook_task``; odd keys are quoted: ``tags['a b']``."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    text = str(key)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_:.-]{0,79}", text) and text.isascii():
        return f"{path}.{text}" if path else text
    return f"{path}[{shown(key)}]"


def _short(path: str) -> str:
    """A key path for a message: a path 64 levels deep keeps its start and its end."""
    return path if len(path) <= 80 else f"{path[:40]}…{path[-30:]}"


def _tag(tag: str) -> str:
    return shown_name("!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else "a list or mapping"


def _at(path: str) -> str:
    return f"{path}: " if path else ""


def _in(path: str) -> str:
    return f" in {path}" if path else ""


def _capped(found: list[str]) -> list[str]:
    if len(found) <= MAX_PROBLEMS_PER_FILE:
        return found
    return [*found[:MAX_PROBLEMS_PER_FILE], f"and {len(found) - MAX_PROBLEMS_PER_FILE} more problems like these"]


# --- YAML -------------------------------------------------------------------------------------------


class _Refused(Exception):
    """A document this reader will not build; the message is the whole problem line."""


def parse_yaml(text: str, *, source: str, problems: list[str], plain_as_text: bool = False) -> Any | None:
    """One YAML document, built from the parser's events without recursion; None with problems.

    ``plain_as_text``: every plain (unquoted) scalar that is not a key, and every ``!!int``, ``!!float``,
    ``!!bool`` or ``!!null`` one, is a ``PlainScalar``: the text as written, with the Pulumi CLI's reading of it.
    """
    loader = _Loader(text)
    try:
        return _YamlBuilder(loader, source, plain_as_text=plain_as_text).document()
    except _Refused as refusal:
        problems.append(str(refusal))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        what = error.problem or error.context or "not valid YAML"
        problems.append(f"{source}{_mark(mark)}: invalid YAML: {what}")
    except yaml.YAMLError as error:  # a reader error: a character YAML does not allow
        first_line = (str(error).splitlines() or ["not valid YAML"])[0]
        problems.append(f"{source}: invalid YAML: {shown(first_line, 160)[1:-1]}")
    finally:
        loader.dispose()
    return None


def _mark(mark: Any) -> str:
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


class _Container:
    """A sequence or mapping being built, with what aliases and caps need to know about it."""

    __slots__ = ("anchor", "explicit_keys", "height", "key", "key_mark", "merges", "path", "size", "value")

    def __init__(self, value: list | dict, path: str, anchor: str | None):
        self.value = value
        self.path = path
        self.anchor = anchor
        self.height = 1
        self.size = 1
        self.key: Any = _NO_KEY  # a mapping's key waiting for its value
        self.key_mark: Any = None
        self.merges: list[dict] = []
        self.explicit_keys: set[str] = set()


_NO_KEY = object()
_MERGE = object()


class _YamlBuilder:
    def __init__(self, loader: Any, source: str, plain_as_text: bool = False):
        self.loader = loader
        self.source = source
        self.plain_as_text = plain_as_text
        self.stack: list[_Container] = []
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # name → (value, size, height)
        self.open_anchors: set[str] = set()
        self.total = 0

    def refuse(self, mark: Any, path: str, message: str) -> _Refused:
        return _Refused(f"{self.source}{_mark(mark)}: {_at(_short(path))}{message}")

    def document(self) -> Any:
        loader = self.loader
        loader.get_event()  # StreamStart
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # DocumentStart
        value = self.value()
        loader.get_event()  # DocumentEnd
        if not loader.check_event(yaml.StreamEndEvent):
            event = loader.get_event()
            raise self.refuse(event.start_mark, "", "invalid YAML: a second document (---); "
                              "this file holds exactly one")
        return value

    def value(self) -> Any:
        """Build the next node; containers are kept on an explicit stack, never on Python's."""
        while True:
            event = self.loader.get_event()
            path = self.child_path()
            if isinstance(event, yaml.ScalarEvent):
                done = self.scalar(event, path)
                if event.anchor is not None:
                    self.anchors[event.anchor] = (done, 1, 0)
                size, height = 1, 0
            elif isinstance(event, yaml.AliasEvent):
                done, size, height = self.alias(event, path)
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                self.start(event, path)
                continue
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                container = self.stack.pop()
                done, size, height = self.finish(container, event), container.size, container.height
            else:  # the parser yields no other event inside a document
                raise self.refuse(event.start_mark, path, f"invalid YAML: unexpected {type(event).__name__}")
            if not self.stack:
                return done
            self.add(done, size, height, event)

    def child_path(self) -> str:
        if not self.stack:
            return ""
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return f"{parent.path}[{len(parent.value)}]"
        if parent.key is _NO_KEY:
            return parent.path
        return key_path(parent.path, "<<" if parent.key is _MERGE else parent.key)

    def start(self, event: Any, path: str) -> None:
        is_mapping = isinstance(event, yaml.MappingStartEvent)
        expected = f"{_YAML_TAG}{'map' if is_mapping else 'seq'}"
        if event.tag not in (None, "!", expected):
            raise self.refuse(event.start_mark, path, f"the tag {_tag(event.tag)} is not supported; "
                              f"write a plain {'mapping' if is_mapping else 'list'}")
        if self.stack and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is _NO_KEY:
            raise self.refuse(event.start_mark, path, "a key must be text, not a "
                              f"{'mapping' if is_mapping else 'list'}")
        if len(self.stack) >= MAX_DEPTH:
            raise self.refuse(event.start_mark, path, f"nested deeper than {MAX_DEPTH} levels")
        self.count(1, event, path)
        self.stack.append(_Container({} if is_mapping else [], path, event.anchor))
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)

    def finish(self, container: _Container, event: Any) -> Any:
        if isinstance(container.value, dict) and container.key is not _NO_KEY:  # the parser pairs keys
            raise self.refuse(event.start_mark, container.path, "invalid YAML: a key without a value")
        value: Any = container.value
        if container.merges:
            # `<<: *defaults` (YAML merge keys): keys written in the mapping win, then earlier merges.
            merged: dict = {}
            for source in reversed(container.merges):
                merged.update(source)
            merged.update(value)
            value = merged
        if container.anchor is not None:
            self.open_anchors.discard(container.anchor)
            self.anchors[container.anchor] = (value, container.size, container.height)
        return value

    def add(self, value: Any, size: int, height: int, event: Any) -> None:
        parent = self.stack[-1]
        parent.size += size
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.value, list):
            parent.value.append(value)
            return
        if parent.key is _NO_KEY:
            self.take_key(parent, value, event)
            return
        key, parent.key = parent.key, _NO_KEY
        if key is _MERGE:
            sources = value if isinstance(value, list) else [value]
            if not sources or not all(isinstance(source, dict) for source in sources):
                raise self.refuse(parent.key_mark, parent.path, "a merge key (<<) takes a mapping or a list "
                                  "of mappings")
            parent.merges.extend(sources)
        else:
            parent.value[key] = value

    def take_key(self, parent: _Container, key: Any, event: Any) -> None:
        mark = event.start_mark
        if key is _MERGE:
            parent.key, parent.key_mark = _MERGE, mark
            return
        if not isinstance(key, str):
            written = getattr(event, "value", None)
            what = f"{shown(written)}, which YAML reads as {_kind(key)}" if isinstance(written, str) \
                else f"{shown(key)}"
            quoted = f" (quote it: \"{written}\": ...)" if isinstance(written, str) and written.isprintable() \
                and len(written) <= 40 else ""
            raise self.refuse(mark, parent.path, f"the key {what}, not text; a key must be text{quoted}")
        if key in parent.explicit_keys:
            raise self.refuse(mark, "", f"invalid YAML: duplicate key {shown(key)}{_in(parent.path)}")
        parent.explicit_keys.add(key)
        parent.key, parent.key_mark = key, mark

    def alias(self, event: Any, path: str) -> tuple[Any, int, int]:
        if event.anchor in self.open_anchors:
            raise self.refuse(event.start_mark, path, f"the alias *{shown_name(event.anchor)} refers to "
                              "the value that contains it (a recursive alias)")
        if event.anchor not in self.anchors:
            raise self.refuse(event.start_mark, path, f"invalid YAML: undefined alias "
                              f"*{shown_name(event.anchor)}")
        value, size, height = self.anchors[event.anchor]
        if len(self.stack) + height > MAX_DEPTH:
            raise self.refuse(event.start_mark, path, f"the alias *{shown_name(event.anchor)} nests deeper "
                              f"than {MAX_DEPTH} levels")
        self.count(size, event, path)
        return value, size, height

    def count(self, size: int, event: Any, path: str) -> None:
        self.total += size
        if self.total > MAX_VALUES:
            raise self.refuse(event.start_mark, path, f"the document expands to more than {MAX_VALUES:,} "
                              "values (aliases repeated over and over?)")

    def scalar(self, event: Any, path: str) -> Any:
        self.count(1, event, path)
        tag = event.tag
        is_key = bool(self.stack) and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is _NO_KEY
        if self.plain_as_text and not is_key and ((tag is None and event.implicit[0]) or tag in _GO_TAGS):
            return self.plain_scalar(event, path)
        if tag in (None, "!"):
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == f"{_YAML_TAG}merge" and self.stack and isinstance(self.stack[-1].value, dict) \
                and self.stack[-1].key is _NO_KEY:
            return _MERGE
        if tag == f"{_YAML_TAG}timestamp":
            return event.value  # as the Pulumi CLI (Go yaml.v3) reads a date into a config value: its text
        if tag == f"{_YAML_TAG}merge" or (tag == f"{_YAML_TAG}str"):
            value = event.value
            found: list[str] = []
            _check_text(value, path, found)
            if found:
                raise self.refuse(event.start_mark, "", found[0])
            return value
        if tag not in _PLAIN_TAGS:
            raise self.refuse(event.start_mark, path, f"the tag {_tag(tag)} is not supported "
                              "(binary data, sets and custom types are not configuration); write plain text")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        constructor: Callable[..., Any] = yaml.SafeLoader.yaml_constructors[tag]
        try:
            value = constructor(self.loader, node)
        except (ValueError, yaml.YAMLError):  # "!!int x", or more digits than Python converts
            raise self.refuse(event.start_mark, path, f"{shown(event.value)} is not a valid "
                              f"{tag.removeprefix(_YAML_TAG)}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise self.refuse(event.start_mark, path, f"{shown(event.value)} is not a finite number; "
                              "NaN and infinity are not accepted")
        return value

    def plain_scalar(self, event: Any, path: str) -> PlainScalar:
        explicit = _GO_TAGS.get(event.tag)
        try:
            value = go_yaml_scalar(event.value, explicit)
        except ValueError:  # the Pulumi CLI stops on it too ("cannot decode !!str `x` as a !!int")
            raise self.refuse(event.start_mark, path, f"{shown(event.value)} is not a valid {explicit}") from None
        found: list[str] = []
        _check_text(event.value, path, found)
        if found:
            raise self.refuse(event.start_mark, "", found[0])
        return PlainScalar(event.value, value, f"{self.source}{_mark(event.start_mark)}")


# --- files the Pulumi CLI reads ---------------------------------------------------------------------
#
# The Pulumi CLI reads Pulumi.yaml and Pulumi.<stack>.yaml with Go's gopkg.in/yaml.v2. A config value that is a
# scalar reaches the program as the text written (`2:8`, `010`, `yes`, `2026-01-01` stay text; null becomes "");
# a list or mapping is decoded by yaml.v2's rules (YAML 1.1 booleans and octals, no base-60 numbers, `1e3` is a
# number) and handed over as JSON. PyYAML reads YAML 1.1 (`2:8` is 128), so the offline plan keeps plain scalars
# as written (PlainScalar) and decodes them here as yaml.v2 does, to plan what `pulumi up` deploys.

_GO_TAGS = {f"{_YAML_TAG}{name}": name for name in ("int", "float", "bool", "null")}
_GO_CONSTANTS: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
# yaml.v2's first-character hints: only text starting with one of these can be anything but a string.
_GO_HINTS = set("+-0123456789yYnNtTfFoO~.")
# strconv.ParseInt(text, 0, 64): an optional sign, then 0b/0o/0x, a leading 0 (octal) or decimal digits.
_GO_INT = re.compile(r"([+-]?)(?:0[bB]([01]+)|0[oO]([0-7]+)|0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


class PlainScalar(str):
    """A scalar of a file the Pulumi CLI reads, kept as the text written (``parse_yaml(plain_as_text=True)``).

    ``value`` is what the CLI's YAML reader makes of it inside a list or mapping; ``where`` is ``file:line:column``.
    """

    value: Any
    where: str

    def __new__(cls, text: str, value: Any, where: str) -> PlainScalar:
        scalar = super().__new__(cls, text)
        scalar.value = value
        scalar.where = where
        return scalar


def go_yaml_scalar(text: str, tag: str | None = None) -> Any:
    """What Go's yaml.v2 makes of a plain scalar (``tag``: an explicit int, float, bool or null tag).

    Raises ValueError when the text does not fit the explicit tag.
    """
    value = _go_resolve(text)
    if tag is None:
        return value
    kind = {bool: "bool", int: "int", float: "float", type(None): "null"}.get(type(value), "str")
    if kind == tag:
        return value
    if tag == "float" and kind == "int":
        return float(value)
    raise ValueError(f"{text!r} is not a {tag}")


def _go_resolve(text: str) -> Any:
    if text and text[0] not in _GO_HINTS:
        return text
    if text in _GO_CONSTANTS:
        return _GO_CONSTANTS[text]
    if text.startswith("."):
        number = _finite_float(text)
        return text if number is None else number
    if text[0] not in "+-0123456789":
        return text
    plain = text.replace("_", "")  # yaml.v2 drops every underscore before it tries a number
    match = _GO_INT.fullmatch(plain)
    if match:
        sign, binary, octal, hexadecimal, leading_zero, decimal = match.groups()
        if binary or octal or hexadecimal:
            number = int(binary or octal or hexadecimal, 2 if binary else 8 if octal else 16)
        else:
            number = int(leading_zero, 8) if leading_zero else int(decimal)
        number = -number if sign == "-" else number
        if -(2**63) <= number < 2**63 or (not sign and number < 2**64):  # int64, else uint64 (unsigned text)
            return number
    if _GO_FLOAT.fullmatch(plain):
        number = _finite_float(plain)
        if number is not None:
            return number
    return text


def _finite_float(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None  # Go's ParseFloat fails on 1e400: the text stays a string


def pulumi_value(value: Any, *, problems: list[str], path: str = "") -> Any:
    """A list or mapping read with ``plain_as_text``, decoded as the Pulumi CLI decodes it before it hands it over
    as JSON: plain scalars by yaml.v2's rules, and whole floats as integers (Go's JSON writes 8.0 as 8).

    NaN and infinity have no JSON form (the CLI stops on them): each is a problem naming its file, line and path.
    """
    if isinstance(value, dict):
        return {key: pulumi_value(item, problems=problems, path=key_path(path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [pulumi_value(item, problems=problems, path=f"{path}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, PlainScalar):
        return value
    decoded = value.value
    if isinstance(decoded, float):
        if not math.isfinite(decoded):
            problems.append(f"{value.where}: {_at(_short(path))}{shown(str(value))} is not a finite number; NaN "
                            "and infinity have no JSON form, so Pulumi cannot hand the value to the program")
            return None
        if decoded.is_integer() and abs(decoded) < 1e21:
            return int(decoded)
    return decoded
