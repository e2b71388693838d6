"""Stack and project files as the Pulumi CLI reads them: Go's yaml.v2 reading of plain scalars.

The Pulumi CLI reads Pulumi.yaml and Pulumi.<stack>.yaml with Go's gopkg.in/yaml.v2. A config value that is a
scalar reaches the program as the text written (`2:8`, `010`, `yes`, `2026-01-01` stay text; null becomes "");
a list or mapping is decoded by yaml.v2's rules (YAML 1.1 booleans and octals, no base-60 numbers, `1e3` is a
number) and handed over as JSON. PyYAML reads YAML 1.1 (`2:8` is 128), so the offline plan keeps plain scalars
as written (PlainScalar) and decodes them here as yaml.v2 does, to plan what `pulumi up` deploys.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .messages import at_path, key_path, short_path, shown

_YAML_TAG = "tag:yaml.org,2002:"
# The explicit tags yaml.v2 resolves as it resolves plain scalars (parse_yaml keeps them as PlainScalar too).
GO_TAGS = {f"{_YAML_TAG}{name}": name for name in ("int", "float", "bool", "null")}
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
            problems.append(f"{value.where}: {at_path(short_path(path))}{shown(str(value))} is not a finite number; "
                            "NaN and infinity have no JSON form, so Pulumi cannot hand the value to the program")
            return None
        if decoded.is_integer() and abs(decoded) < 1e21:
            return int(decoded)
    return decoded
