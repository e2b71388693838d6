"""Read a stack's configuration the way the Pulumi CLI hands it to the program.

Pulumi.yaml defaults are merged with Pulumi.<stack>.yaml; every value reaches the program as a
string (objects and arrays as JSON text); `secure:` values become a masked placeholder and are
marked secret, since no key to decrypt them exists here.

Scalars are read as the CLI's Go YAML reader reads them, not as YAML 1.1 (core/go_yaml.py): a stack value
`2:8` or `010` reaches the program as that text, not as 128 or 8.

Both files are read with core/safe_load.py (regular files inside the project only, size and depth
capped, duplicate keys refused, ...). Every problem of both files is reported in one error.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.machinery
import importlib.util
import json
import math
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pulumi.errors import RunError

SECRET_PLACEHOLDER = "[secret]"
# What a stack file may hold besides config (Pulumi's ProjectStack); anything else is a typo that would
# silently drop every setting under it (`confg:`).
STACK_FILE_KEYS = ("config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt")


def _load_readers(*modules: str) -> tuple[Any, ...]:
    # This checkout's readers (core/safe_load.py and the modules it imports relatively), imported as the package
    # offline_plan._readers, not by `import core.safe_load`: that would bind `core` to this checkout's package,
    # and a program planned from another directory (--against) must import its own core/.
    package = "offline_plan._readers"
    if package not in sys.modules:
        spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
        spec.submodule_search_locations = [str(Path(__file__).resolve().parent.parent / "core")]
        sys.modules[package] = importlib.util.module_from_spec(spec)
    return tuple(importlib.import_module(f"{package}.{module}") for module in modules)


safe_load, go_yaml, messages = _load_readers("safe_load", "go_yaml", "messages")


class StackConfigError(RunError):
    """A project or stack file that cannot be read; one line per problem, each naming the file."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    config: dict[str, str]
    secret_keys: list[str]


def ignore_shell_config(environ: MutableMapping[str, str]) -> list[str]:
    """Remove the variables through which `pulumi up` hands config to a program; return their names.

    Under the engine, PULUMI_CONFIG is the stack's config map. Left over in a shell, it would reach the
    offline plan through pulumi.Config's fallbacks and be blamed on the stack file; the plan reads the
    stack's files only.
    """
    names = sorted(name for name in environ if name == "PULUMI_CONFIG" or name.startswith("PULUMI_CONFIG_"))
    for name in names:
        del environ[name]
    return names


def _decoded(value: Any) -> Any:
    """A scalar as Go's YAML reader decodes it into an untyped value (a Pulumi.yaml default, `value:` or key)."""
    return value.value if isinstance(value, go_yaml.PlainScalar) else value


def _stack_value(value: Any, key: str, problems: list[str]) -> tuple[str, bool]:
    """A Pulumi.<stack>.yaml value as the CLI hands it to the program, and whether it is secret.

    A scalar is the text written (the CLI decodes it into a string: `2:8`, `010`, `yes` stay as they are),
    null is ""; a list or mapping is decoded by the CLI's YAML rules and handed over as JSON.
    """
    if isinstance(value, go_yaml.PlainScalar):
        return ("" if value.value is None else str(value)), False
    if value is None or isinstance(value, str):
        return value or "", False
    decoded = go_yaml.pulumi_value(value, problems=problems, path=messages.key_path("config", key))
    masked, secret = _mask_secure(decoded)
    return (masked if isinstance(masked, str) else json.dumps(masked, sort_keys=True)), secret


def _project_value(value: Any, key: str, problems: list[str]) -> str:
    """A Pulumi.yaml default or value as the CLI hands it over: a scalar decoded, then printed as Go's %v does."""
    value = _decoded(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float_text(value)
    if isinstance(value, int | str):
        return str(value)
    decoded = go_yaml.pulumi_value(value, problems=problems, path=messages.key_path("config", key))
    return json.dumps(decoded, sort_keys=True)


def _go_float_text(number: float) -> str:
    """fmt.Sprintf("%v", number): the shortest digits, with an exponent below 1e-4 and from 1e+06 up."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    shortest = Decimal(repr(number)).normalize()
    negative, digits, exponent = shortest.as_tuple()
    scientific = int(exponent) + len(digits) - 1
    if -4 <= scientific < 6:
        return format(shortest, "f")
    text = "".join(map(str, digits))
    mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
    return f"{'-' if negative else ''}{mantissa}e{'-' if scientific < 0 else '+'}{abs(scientific):02d}"


def _mask_secure(value: Any) -> tuple[Any, bool]:
    """Replace every `secure:` leaf (set with `pulumi config set --secret [--path]`) by the placeholder."""
    if isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str):
        return SECRET_PLACEHOLDER, True
    if isinstance(value, dict):
        items = {key: _mask_secure(item) for key, item in value.items()}
        return {key: masked for key, (masked, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items = [_mask_secure(item) for item in value]
        return [masked for masked, _ in items], any(s for _, s in items)
    return value, False


def _full_key(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _mapping(value: Any, what: str, problems: list[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{what} must be a mapping of keys to values, got {messages.shown(value)}")
        return {}
    return value


def load_stack_config(program_dir: Path, stack: str) -> StackConfig:
    """The config map `pulumi up -s <stack>` would hand the program; StackConfigError lists every problem."""
    problems: list[str] = []
    project_file = safe_load.read_yaml_document(
        program_dir / "Pulumi.yaml", source="Pulumi.yaml", root=program_dir, problems=problems, plain_as_text=True
    )
    if problems:
        raise StackConfigError(problems)
    if not isinstance(project_file, dict) or not isinstance(project_file.get("name"), str):
        raise StackConfigError("Pulumi.yaml: needs a `name` (the project name)")
    project = str(project_file["name"])

    stack_path = program_dir / f"Pulumi.{stack}.yaml"
    source = messages.shown_name(stack_path.name)
    if not stack_path.exists() and not stack_path.is_symlink():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in program_dir.glob("Pulumi.*.yaml"))
        raise StackConfigError(f"{source}: no such stack file; stacks here: {', '.join(known) or 'none'}")
    stack_file = safe_load.read_yaml_document(stack_path, source=source, root=program_dir, problems=problems,
                                              plain_as_text=True)
    if problems:
        raise StackConfigError(problems)
    stack_file = _mapping(_decoded(stack_file), f"{source}: the file", problems)
    for key in stack_file:
        if key not in STACK_FILE_KEYS:
            close = difflib.get_close_matches(key[:100], STACK_FILE_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{source}: {messages.shown_name(key)}: unknown top-level key; {hint}a stack file "
                            f"holds {', '.join(STACK_FILE_KEYS)}")
    declarations = _mapping(_decoded(project_file.get("config")), "Pulumi.yaml: config", problems)
    stack_values = _mapping(_decoded(stack_file.get("config")), f"{source}: config", problems)

    config: dict[str, str] = {}
    secret_keys: list[str] = []
    missing: list[str] = []
    for key, declaration in declarations.items():
        full = _full_key(project, key)
        if isinstance(declaration, dict) and ({"type", "default", "description", "value"} & declaration.keys()
                                              or not declaration):
            if _decoded(declaration.get("value")) is not None:
                config[full] = _project_value(declaration["value"], f"{key}.value", problems)
            elif _decoded(declaration.get("default")) is not None:
                config[full] = _project_value(declaration["default"], f"{key}.default", problems)
            elif full.startswith(f"{project}:"):
                missing.append(key)
        elif _decoded(declaration) is not None:  # short form `key: value`
            config[full] = _project_value(declaration, key, problems)

    written_as: dict[str, str] = {}
    for key, value in stack_values.items():
        full = _full_key(project, key)
        if full in written_as:  # `prefix:` and `databricks-platform:prefix:` are one key
            problems.append(f"{source}: config: {messages.shown_name(key)} is also given as "
                            f"{messages.shown_name(written_as[full])}; keep one")
            continue
        written_as[full] = key
        missing = [m for m in missing if _full_key(project, m) != full]
        config[full], has_secret = _stack_value(value, key, problems)
        if has_secret:
            secret_keys.append(full)
    if missing:
        problems.append(f"{source}: missing configuration value(s) {', '.join(sorted(missing))} "
                        "(declared in Pulumi.yaml without a default)")
    if problems:
        raise StackConfigError(problems)
    return StackConfig(project=project, stack=stack, config=config, secret_keys=sorted(secret_keys))
