"""One YAML document, built from the parser's events on an explicit stack (never Python's), so no file can
exhaust the stack or the memory.

Duplicate and non-string keys, NaN/Infinity, unpaired surrogates, binary, sets and other explicit tags are
refused with their key path; YAML dates are kept as the text written (as the Pulumi CLI reads them);
nesting deeper than ``MAX_DEPTH`` is refused as it is read, and aliases may expand to at most ``MAX_VALUES``
values (a "billion laughs" file is refused, not expanded). Problems local to one key are all reported;
structural ones stop the reading. ``plain_as_text`` keeps plain scalars as ``core.go_yaml.PlainScalar``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import yaml

from .go_yaml import GO_TAGS, PlainScalar, go_yaml_scalar
from .messages import at_path, in_path, key_path, short_path, shown, shown_name
from .read_limits import MAX_DEPTH, MAX_VALUES, capped, check_text

_YAML_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_YAML_TAG}{name}" for name in ("str", "int", "float", "bool", "null")}
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _tag(tag: str) -> str:
    return shown_name("!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else "a list or mapping"


class _Refused(Exception):
    """A document this reader will not build; the message is the whole problem line."""


def parse_yaml(text: str, *, source: str, problems: list[str], plain_as_text: bool = False) -> Any | None:
    """One YAML document, built from the parser's events without recursion; None with problems.

    ``plain_as_text``: every plain (unquoted) scalar that is not a key, and every ``!!int``, ``!!float``,
    ``!!bool`` or ``!!null`` one, is a ``PlainScalar``: the text as written, with the Pulumi CLI's reading of it.
    """
    loader = _Loader(text)
    builder = _YamlBuilder(loader, source, plain_as_text=plain_as_text)
    try:
        document = builder.document()
        if not builder.soft:
            return document
        problems.extend(capped(builder.soft))
    except _Refused as refusal:
        # What could be read past is reported with what stopped the reading: all problems of a run together.
        problems.extend(capped([*builder.soft, str(refusal)]))
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
_SKIP = object()  # a refused key: its value is read past and dropped
_BAD = object()  # a refused scalar, reported: the document is not returned


class _YamlBuilder:
    def __init__(self, loader: Any, source: str, plain_as_text: bool = False):
        self.loader = loader
        self.source = source
        self.plain_as_text = plain_as_text
        self.stack: list[_Container] = []
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # name → (value, size, height)
        self.open_anchors: set[str] = set()
        self.total = 0
        # Problems local to one key or value: reading goes on past them, so that a file's problems are all
        # reported in one run. Structural ones (depth, size, aliases, a second document) stop it at once.
        self.soft: list[str] = []

    def refuse(self, mark: Any, path: str, message: str) -> _Refused:
        return _Refused(f"{self.source}{_mark(mark)}: {at_path(short_path(path))}{message}")

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
                self.count(1, event, path)
                try:
                    done = self.scalar(event, path)
                except _Refused as refusal:
                    self.soft.append(str(refusal))
                    done = _BAD
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
            parent.value.append(None if value is _BAD else value)
            return
        if parent.key is _NO_KEY:
            self.take_key(parent, value, event)
            return
        key, parent.key = parent.key, _NO_KEY
        if key is _SKIP or (key is _MERGE and value is _BAD):
            return
        if value is _BAD:
            value = None
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
        if key is _BAD:  # reported already
            parent.key, parent.key_mark = _SKIP, mark
            return
        if not isinstance(key, str):
            written = getattr(event, "value", None)
            what = f"{shown(written)}, which YAML reads as {_kind(key)}" if isinstance(written, str) \
                else f"{shown(key)}"
            quoted = f" (quote it: \"{written}\": ...)" if isinstance(written, str) and written.isprintable() \
                and len(written) <= 40 else ""
            self.soft.append(str(self.refuse(mark, parent.path, f"the key {what}, not text; a key must be "
                                             f"text{quoted}")))
            parent.key, parent.key_mark = _SKIP, mark
            return
        if key in parent.explicit_keys:
            self.soft.append(str(self.refuse(mark, "", f"invalid YAML: duplicate key {shown(key)}"
                                             f"{in_path(parent.path)}")))
            parent.key, parent.key_mark = _SKIP, mark
            return
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
        tag = event.tag
        is_key = bool(self.stack) and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is _NO_KEY
        if self.plain_as_text and not is_key and ((tag is None and event.implicit[0]) or tag in GO_TAGS):
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
            check_text(value, path, found)
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
        explicit = GO_TAGS.get(event.tag)
        try:
            value = go_yaml_scalar(event.value, explicit)
        except ValueError:  # the Pulumi CLI stops on it too ("cannot decode !!str `x` as a !!int")
            raise self.refuse(event.start_mark, path, f"{shown(event.value)} is not a valid {explicit}") from None
        found: list[str] = []
        check_text(event.value, path, found)
        if found:
            raise self.refuse(event.start_mark, "", found[0])
        return PlainScalar(event.value, value, f"{self.source}{_mark(event.start_mark)}")
