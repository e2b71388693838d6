"""What azure-native's Data Factory resources accept, read from the installed SDK's ``*Args`` classes.

Why this exists: the azure-native provider builds the ARM request body from the properties its schema
knows for the chosen ``type`` and drops every other one without a word (``SdkInputsToRequestBody`` walks
the schema's properties, not the inputs), and when no union member matches the ``type`` it sends the map
unconverted, so flattened ``typeProperties`` never reach ``typeProperties``. Its ``Check`` does not look
inside unions either. A published object would silently differ from its file. So every object is held
to the SDK's own classes here, before anything is declared, and each problem names the JSON path.

It also performs azure-native's documented reshaping (the only transformation besides overrides):
``typeProperties`` (and ``properties`` of nested objects such as Change Data Capture's tables) of every object
whose class has no argument of that name is flattened into the object itself, recursively (activities inside
ForEach, IfCondition, Switch, Until too); property names and
discriminator values that differ from the SDK's only in case (ADF Studio writes Change Data Capture
properties in PascalCase, ``authorizationType: Rbac``) are given the SDK's spelling, since ADF reads JSON
case-insensitively but the provider does not.
"""

from __future__ import annotations

import collections.abc
import difflib
import enum
import functools
import inspect
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import described, field_suggestion
from core.factory.kinds import Kind


@dataclass(frozen=True)
class Shape:
    """The accepted shape of one value: a scalar, an ``*Args`` object, a union of them, a list or a map."""

    kind: str  # "str" | "int" | "float" | "bool" | "object" | "union" | "list" | "map" | "any"
    item: Shape | None = None
    args_class: type | None = None
    members: tuple[type, ...] = ()


ANY = Shape("any")
_SCALARS = {str: "str", int: "int", float: "float", bool: "bool"}
_WORDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
          "object": "an object", "union": "an object with a type", "list": "a list", "map": "an object"}


def _types_module() -> Any:
    from pulumi import _types  # the SDK's own reading of its input classes (names and annotations)

    return _types


def _is_plumbing(arg: Any) -> bool:
    """pulumi.Input[T] is Union[T, Awaitable[T], Output[T]]; Optional adds None."""
    if arg is type(None) or typing.get_origin(arg) is collections.abc.Awaitable:
        return True
    origin = typing.get_origin(arg) or arg
    return getattr(origin, "__name__", "") == "Output"


def shape_of(annotation: Any) -> Shape:
    """Map a resolved annotation of an ``*Args`` class to a Shape (``any`` when it is not clear)."""
    _types = _types_module()
    if annotation is Any:
        return ANY
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if not _is_plumbing(arg)]
        plain = [arg for arg in members if not (inspect.isclass(arg) and issubclass(arg, enum.Enum))]
        if len(plain) == 1:
            return shape_of(plain[0])
        if plain and all(inspect.isclass(arg) and _types.is_input_type(arg) for arg in plain):
            return Shape("union", members=tuple(plain))
        return ANY
    if origin in (collections.abc.Sequence, list):
        return Shape("list", item=shape_of(typing.get_args(annotation)[0]))
    if origin in (collections.abc.Mapping, dict):
        return Shape("map", item=shape_of(typing.get_args(annotation)[1]))
    if annotation in _SCALARS:
        return Shape(_SCALARS[annotation])
    if inspect.isclass(annotation) and _types.is_input_type(annotation):
        return Shape("object", args_class=annotation)
    return ANY


@functools.cache
def object_fields(args_class: type) -> Mapping[str, Shape]:
    """Wire (camelCase) name -> Shape of every argument of one ``*Args`` class."""
    return {name: shape_of(annotation) for name, annotation in _types_module().input_type_types(args_class).items()}


@functools.cache
def wire_names(args_class: type) -> Mapping[str, str]:
    """Python argument name -> wire name."""
    return dict(_types_module().input_type_py_to_pulumi_names(args_class))


@functools.cache
def required_fields(args_class: type) -> frozenset[str]:
    names = wire_names(args_class)
    parameters = inspect.signature(args_class.__init__).parameters.values()
    return frozenset(names[p.name] for p in parameters
                     if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty)


@functools.cache
def constants(args_class: type) -> Mapping[str, str]:
    """Arguments the class fixes itself (its discriminator, e.g. ``{"type": "AzureDatabricks"}``).

    The generated ``__init__`` sets them whatever is passed, so an instance built with placeholders for the
    required arguments shows them.
    """
    import pulumi

    names = wire_names(args_class)
    instance = args_class(**{python: None for python, wire in names.items() if wire in required_fields(args_class)})
    fixed = {}
    for python, wire in names.items():
        value = pulumi.get(instance, python)
        if isinstance(value, str):
            fixed[wire] = value
    return fixed


@functools.cache
def union_index(members: tuple[type, ...]) -> tuple[str | None, Mapping[str, tuple[str, type]]]:
    """The discriminating property of a union and lower-cased value -> (SDK spelling, member class)."""
    keys = [set(constants(member)) for member in members]
    common = set.intersection(*keys) if keys else set()
    key = "type" if "type" in common else (sorted(common)[0] if common else None)
    index: dict[str, tuple[str, type]] = {}
    if key is not None:
        for member in members:
            value = constants(member)[key]
            index.setdefault(value.lower(), (value, member))
    return key, index


def display(name: str) -> str:
    """``AzureDatabricksLinkedServiceArgs`` -> ``AzureDatabricksLinkedService``, for messages."""
    return name.removesuffix("Args")


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@functools.cache
def resource_args_class(kind: Kind) -> type:
    from pulumi_azure_native import datafactory

    # Where an input type has the resource's name, azure-native calls the resource's own arguments *InitArgs.
    return getattr(datafactory, f"{kind.resource}InitArgs", None) or getattr(datafactory, f"{kind.resource}Args")


@functools.cache
def flat_arguments(kind: Kind) -> Mapping[str, str]:
    """For a flat kind (Pipeline, ChangeDataCapture): wire name -> Python argument of the file's properties."""
    args_class = resource_args_class(kind)
    python = {wire: py for py, wire in wire_names(args_class).items()}
    own = {"factoryName", "resourceGroupName", wire_names(args_class)[kind.name_arg]}
    return {wire: python[wire] for wire in object_fields(args_class) if wire not in own}


@functools.cache
def _base_keys_by_class() -> Mapping[type, frozenset[str]]:
    """The ADF base-type keys of every class whose typeProperties azure-native flattens."""
    from core.factory.kinds import ACTIVITY_BASE_KEYS, KINDS, PIPELINE

    found: dict[type, frozenset[str]] = {}
    for kind in KINDS:
        if kind.typed and not kind.flat:
            for member in object_fields(resource_args_class(kind))["properties"].members:
                found[member] = kind.base_keys
    activities = object_fields(resource_args_class(PIPELINE))["activities"].item
    for member in activities.members:
        found[member] = ACTIVITY_BASE_KEYS
    return found


class Checker:
    """Checks one document against a Shape, collecting problems as ``<path>: <what is wrong>``.

    ``inexpressible``: what the document holds that the typed azure-native resource cannot carry as written (a
    property or type newer than the pinned SDK, a property its flattening would collide with): no mistake of
    the file's, but the object must then be published as written through ARM's generic resource.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.inexpressible: list[str] = []

    def check(self, value: Any, shape: Shape, path: str) -> Any:
        if value is None or shape.kind == "any":
            return value
        if not isinstance(value, dict | list | str | int | float | bool):
            return value  # an override's placeholder: known only after deployment, checked by the provider
        if shape.kind == "object":
            if not isinstance(value, dict):
                return self._wrong(value, shape, path)
            return self._object(value, shape.args_class, path, {})
        if shape.kind == "union":
            return self._union(value, shape, path)
        if shape.kind == "list":
            if not isinstance(value, list):
                return self._wrong(value, shape, path)
            return [self.check(item, shape.item, join(path, index)) for index, item in enumerate(value)]
        if shape.kind == "map":
            if not isinstance(value, dict):
                return self._wrong(value, shape, path)
            return {key: self.check(item, shape.item, join(path, key)) for key, item in value.items()}
        ok = {
            "str": isinstance(value, str),
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
        }[shape.kind]
        return value if ok else self._wrong(value, shape, path)

    def check_kind(self, kind: Kind, properties: Any, path: str) -> Any:
        """Check a file's ``properties`` as the resource of ``kind`` takes them; return them reshaped."""
        args_class = resource_args_class(kind)
        if not kind.flat:
            return self.check(properties, object_fields(args_class)["properties"], path)
        if not isinstance(properties, dict):
            return self._wrong(properties, Shape("object"), path)
        own = frozenset(object_fields(args_class)) - frozenset(flat_arguments(kind))
        return self._object(properties, args_class, path, {}, skip=own)

    def _union(self, value: Any, shape: Shape, path: str) -> Any:
        if not isinstance(value, dict):
            return self._wrong(value, shape, path)
        key, index = union_index(shape.members)
        if key is None:
            return value  # the SDK gives no way to tell its members apart; nothing to hold it to
        tag = value.get(key)
        if not isinstance(tag, str):
            self.problems.append(f"{join(path, key)}: required, one of the types azure-native knows here "
                                 f"(e.g. {_examples(index)})")
            return value
        found = index.get(tag.lower())
        if found is None:
            spellings = [spelling for spelling, _ in index.values()]
            typo = likely_typo(tag, spellings)
            if typo is not None:
                self.problems.append(f"{join(path, key)}: unknown type {tag!r} here; did you mean {typo!r}?{_TYPO}")
            else:
                close = difflib.get_close_matches(tag, spellings, n=3)
                hint = f"close: {', '.join(map(repr, close))}" if close else f"known: {_examples(index)}"
                self.inexpressible.append(f"{join(path, key)}: type {tag!r} is not one azure-native's typed "
                                          f"resource knows here ({hint})")
            return value
        return self._object(value, found[1], path, {})

    def _object(self, value: dict, args_class: type, path: str, origin: dict[str, str],
                *, skip: frozenset[str] = frozenset()) -> dict:
        fields = object_fields(args_class)
        if skip:  # a flat resource's own arguments (its name, factory, group) are not the file's to set
            fields = {name: shape for name, shape in fields.items() if name not in skip}
        merged = dict(value)
        base = _base_keys_by_class().get(args_class)
        if base is not None and "typeProperties" not in fields:
            # Beside typeProperties, ADF reads only its base keys; azure-native would move a misplaced one into
            # typeProperties and publish what the file (and ADF Studio) does not mean.
            for key in merged:
                if key not in base and key != "typeProperties" and (key in fields or _same_but_case(key, fields)):
                    self.problems.append(f"{join(path, key)}: belongs in {join(path, 'typeProperties')}; ADF does "
                                         "not read it here, azure-native would move it")
        for container in _FLATTENED:
            if container in merged and container not in fields:
                self._flatten(merged, container, args_class, path, origin)
        result: dict[str, Any] = {}
        for key, item in merged.items():
            where = origin.get(key, join(path, key))
            name = key if key in fields else _same_but_case(key, fields)
            if name is None:
                typo = likely_typo(key, fields)
                if typo is not None:
                    self.problems.append(f"{where}: unknown property for {display(args_class.__name__)}; did you "
                                         f"mean {typo!r}?{_TYPO}")
                else:
                    self.inexpressible.append(f"{where}: a property azure-native's {display(args_class.__name__)} "
                                              f"does not know{field_suggestion(key, fields)}")
                continue
            if name in result:
                self.problems.append(f"{where}: given twice, as {name!r} and as {key!r}; keep one")
                continue
            result[name] = self.check(item, fields[name], where)
        for name, fixed in constants(args_class).items():
            if isinstance(result.get(name), str) and result[name].lower() == fixed.lower():
                result[name] = fixed  # the provider matches discriminators exactly
        for name in sorted(required_fields(args_class)):
            if result.get(name) is None and name in fields:
                self.problems.append(f"{join(path, name)}: required by {display(args_class.__name__)}, missing")
        return result

    def _flatten(self, merged: dict, container: str, args_class: type, path: str, origin: dict[str, str]) -> None:
        """Move ``merged[container]``'s keys into ``merged``, as azure-native's SDK shape has them."""
        nested = merged.pop(container)
        where = join(path, container)
        if not isinstance(nested, dict):
            self.problems.append(f"{where}: expected an object, got {described(nested)}")
            return
        base = _base_keys_by_class().get(args_class, frozenset()) if container == "typeProperties" else frozenset()
        for key, item in nested.items():
            if key in merged or key in base:
                # Both levels would be one SDK argument: the typed resource cannot send both.
                self.inexpressible.append(
                    f"{join(where, key)}: azure-native's typed resource flattens {container} into the object, "
                    f"where {key!r} is {display(args_class.__name__)}'s own {join(path, key)} "
                    "(pulumi/pulumi-azure-native#2006)"
                )
                continue
            merged[key] = item
            origin[key] = join(where, key)

    def _wrong(self, value: Any, shape: Shape, path: str) -> Any:
        self.problems.append(f"{path}: expected {_WORDS[shape.kind]}, got {described(value)}")
        return value


# Containers azure-native flattens into their object (x-ms-client-flatten in ADF's API): typeProperties of
# every object that has them, and properties of a few nested types (Change Data Capture's mapper tables).
_FLATTENED = ("typeProperties", "properties")


# Why a near miss is an error while any other unknown name is published as written.
_TYPO = (" (a name the pinned azure-native does not know is published as written, but one this close to a "
         "known name is taken for a typo)")


def likely_typo(name: Any, known: Iterable[str]) -> str | None:
    """The known name ``name`` is most likely a misspelling of, or None when it looks like a name of its own.

    A near miss (one or two letters off) is a typo; a known name with something added (``SnowflakeV2`` beside
    ``Snowflake``) is a newer name, as ADF adds them.
    """
    if not isinstance(name, str) or len(name) > 200:
        return None
    candidates = [other for other in known if not name.lower().startswith(other.lower())]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.85)
    return close[0] if close else None


def _same_but_case(key: str, fields: Mapping[str, Shape]) -> str | None:
    matches = [name for name in fields if name.lower() == key.lower()]
    return matches[0] if len(matches) == 1 else None


def _examples(index: Mapping[str, tuple[str, type]]) -> str:
    spellings = sorted(spelling for spelling, _ in index.values())
    return ", ".join(spellings[:6]) + (", ..." if len(spellings) > 6 else "")
