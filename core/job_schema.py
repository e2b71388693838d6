"""What ``pulumi_databricks.Job`` accepts, read from the installed provider's argument classes.

Checking rendered job settings against the provider's own ``JobArgs`` and nested ``*Args`` classes makes a
template typo fail at render time with a JSON path, instead of being silently dropped or failing at
``pulumi up``; and the schema follows the pinned provider version without a hand-kept copy.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import described, field_suggestion, shown


@dataclass(frozen=True)
class Field:
    """The accepted shape of one argument: a scalar, a nested ``*Args`` object, a list or a mapping."""

    kind: str  # "str" | "int" | "float" | "bool" | "object" | "list" | "map" | "any"
    item: Field | None = None  # element of a list or value of a map
    args_class: type | None = None  # for "object"
    required: bool = False


_ANY = Field("any")
_SCALARS = {str: "str", int: "int", float: "float", bool: "bool"}
_KIND_WORDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
               "object": "an object", "list": "a list", "map": "an object of string keys"}


@functools.cache
def job_args_fields() -> Mapping[str, Field]:
    """The keyword arguments of ``pulumi_databricks.Job`` (imported lazily: the provider costs ~2 s)."""
    import pulumi_databricks

    return object_fields(pulumi_databricks.JobArgs)


@functools.cache
def object_fields(args_class: type) -> Mapping[str, Field]:
    """Field name → Field for one ``*Args`` class; nested classes are resolved lazily, on first use."""
    module_namespace = vars(sys.modules[args_class.__module__])
    fields = {}
    for name, param in inspect.signature(args_class.__init__).parameters.items():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue  # the generated classes name ``self`` ``__self__``; every argument is keyword-only
        field = _field(param.annotation, module_namespace)
        required = param.default is inspect.Parameter.empty
        fields[name] = Field(field.kind, field.item, field.args_class, required)
    return fields


def _field(annotation: Any, namespace: Mapping[str, Any]) -> Field:
    """Strip ``Optional``/``pulumi.Input`` wrappers and map what is left to a Field (``any`` if unclear)."""
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        if annotation.isidentifier():
            annotation = namespace.get(annotation, annotation)
        else:
            # Provider versions built with postponed annotations store text such as
            # "Optional[pulumi.Input['JobTaskArgs']]": evaluate it the way typing.get_type_hints would.
            try:
                annotation = eval(annotation, dict(namespace))  # noqa: S307 - installed package's own text
            except Exception:  # noqa: BLE001 - an unreadable annotation only weakens the check
                return _ANY
        if isinstance(annotation, str):
            return _ANY
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        # pulumi.Input[T] is Union[T, Awaitable[T], Output[T]]; Optional adds None.
        members = [arg for arg in typing.get_args(annotation) if not _is_input_wrapper(arg)]
        return _field(members[0], namespace) if len(members) == 1 else _ANY
    if origin in (collections.abc.Sequence, list):
        return Field("list", item=_field(typing.get_args(annotation)[0], namespace))
    if origin in (collections.abc.Mapping, dict):
        return Field("map", item=_field(typing.get_args(annotation)[1], namespace))
    if annotation in _SCALARS:
        return Field(_SCALARS[annotation])
    if isinstance(annotation, type) and annotation.__name__.endswith("Args"):
        return Field("object", args_class=annotation)
    return _ANY


def _is_input_wrapper(arg: Any) -> bool:
    if arg is type(None) or typing.get_origin(arg) is collections.abc.Awaitable:
        return True
    text = arg.__forward_arg__ if isinstance(arg, typing.ForwardRef) else arg
    return (isinstance(text, str) and text.startswith("Output[")) or getattr(arg, "__name__", "") == "Output"


def check_job_settings(settings: Any) -> tuple[Any, list[str]]:
    """Check rendered settings against ``pulumi_databricks.Job``.

    Returns the settings with Jobs API 2.1 spellings renamed to the provider's (see ``_provider_name``) and
    the problems, each ``<json path>: <what is wrong>``.
    """
    import pulumi_databricks

    problems: list[str] = []
    checked = _check(settings, Field("object", args_class=pulumi_databricks.JobArgs), "", problems)
    return checked, problems


def _check(value: Any, field: Field, path: str, problems: list[str]) -> Any:
    if value is None or field.kind == "any":
        return value  # None leaves an optional argument unset; the parent reports missing required ones
    if field.kind == "object":
        if not isinstance(value, dict):
            return _wrong_type(value, field, path, problems)
        return _check_object(value, object_fields(field.args_class), path, problems)
    if field.kind == "list":
        if not isinstance(value, list):
            return _wrong_type(value, field, path, problems)
        return [_check(item, field.item, f"{path}[{index}]", problems) for index, item in enumerate(value)]
    if field.kind == "map":
        if not isinstance(value, dict):
            return _wrong_type(value, field, path, problems)
        return {key: _check(item, field.item, _join(path, key), problems) for key, item in value.items()}
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
    }[field.kind]
    if ok and field.kind == "int" and not -(2**63) <= value < 2**63:
        problems.append(f"{path}: {described(value)} does not fit in 64 bits")
    return value if ok else _wrong_type(value, field, path, problems)


def _check_object(value: dict, fields: Mapping[str, Field], path: str, problems: list[str]) -> dict:
    checked: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in fields else _provider_name(key, fields)
        if name is None:
            problems.append(f"{_join(path, key)}: unknown field{field_suggestion(key, fields)}")
            continue
        if name in checked:
            problems.append(f"{_join(path, key)}: given twice, as {name!r} and as {key!r}; keep one")
            continue
        checked[name] = _check(item, fields[name], _join(path, key), problems)
    for name, field in fields.items():
        if field.required and checked.get(name) is None:
            problems.append(f"{_join(path, name)}: required field missing")
    return checked


def _provider_name(key: str, fields: Mapping[str, Field]) -> str | None:
    """The provider's name for a Jobs API 2.1 spelling, so JSON copied from the Jobs UI/API works.

    The provider pluralises list fields the API names in the singular (``depends_on`` → ``depends_ons``,
    ``on_success`` → ``on_successes``) and drops the ``git_`` prefix inside ``git_source``.
    """
    for candidate in (f"{key}s", f"{key}es"):
        if candidate in fields and fields[candidate].kind == "list":
            return candidate
    if key.startswith("git_") and key[4:] in fields and "provider" in fields and "url" in fields:
        return key[4:]
    return None


def _wrong_type(value: Any, field: Field, path: str, problems: list[str]) -> Any:
    problems.append(f"{path or '<document>'}: expected {_expected(field)}, got {described(value)}")
    return value


def _expected(field: Field) -> str:
    """What a field takes, with the required keys of an object, so that a wrong shape shows the right one:
    ``depends_on: "a"`` → ``a list of objects like [{"task_key": …}]``."""
    if field.kind == "object" and field.args_class is not None:
        required = [name for name, inner in object_fields(field.args_class).items() if inner.required]
        return f"an object like {_object_example(required)}" if required else "an object"
    if field.kind == "list" and field.item is not None and field.item.kind == "object" \
            and field.item.args_class is not None:
        required = [name for name, inner in object_fields(field.item.args_class).items() if inner.required]
        return f"a list of objects like [{_object_example(required)}]" if required else "a list of objects"
    return _KIND_WORDS[field.kind]


def _object_example(required: list[str]) -> str:
    return "{" + ", ".join(f'"{name}": …' for name in required) + "}"


def _join(path: str, key: str) -> str:
    part = key if isinstance(key, str) and key.isidentifier() and len(key) <= 100 else f"[{shown(key)}]"
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"
