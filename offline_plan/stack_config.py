"""Read a stack's configuration the way the Pulumi CLI hands it to the program.

Pulumi.yaml defaults are merged with Pulumi.<stack>.yaml; every value reaches the program as a
string (objects and arrays as JSON text); `secure:` values become a masked placeholder and are
marked secret, since no key to decrypt them exists here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi.errors import RunError

SECRET_PLACEHOLDER = "[secret]"


class StackConfigError(RunError):
    """A project or stack file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    config: dict[str, str]
    secret_keys: list[str]


def _load_yaml(path: Path) -> Any:
    if path.exists() and not path.is_file():
        # A directory, FIFO or device: reading it fails, blocks or never ends.
        raise StackConfigError(f"{path.name}: not a regular file (a directory, FIFO or device) in {path.parent}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackConfigError(f"{path.name}: file not found in {path.parent}") from None
    except OSError as error:  # e.g. no permission to read it
        raise StackConfigError(f"{path.name}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise StackConfigError(
            f"{path.name}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start})"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise StackConfigError(f"{path.name}{where}: not valid YAML: {problem}") from None


def _as_engine_string(value: Any) -> str:
    # The CLI passes scalars as their YAML text and structures as JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


def _mask_secure(value: Any) -> tuple[Any, bool]:
    """Replace every `secure:` leaf (set with `pulumi config set --secret [--path]`) by the placeholder."""
    if isinstance(value, dict) and set(value) == {"secure"}:
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


def load_stack_config(program_dir: Path, stack: str) -> StackConfig:
    project_file = _load_yaml(program_dir / "Pulumi.yaml")
    if not isinstance(project_file, dict) or not isinstance(project_file.get("name"), str):
        raise StackConfigError("Pulumi.yaml: needs a `name` (the project name)")
    project = project_file["name"]

    stack_path = program_dir / f"Pulumi.{stack}.yaml"
    if not stack_path.exists():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in program_dir.glob("Pulumi.*.yaml"))
        raise StackConfigError(
            f"{stack_path.name}: no such stack file; stacks here: {', '.join(known) or 'none'}"
        )
    stack_file = _load_yaml(stack_path) or {}
    if not isinstance(stack_file, dict) or not isinstance(stack_file.get("config") or {}, dict):
        raise StackConfigError(f"{stack_path.name}: `config` must be a mapping of keys to values")

    config: dict[str, str] = {}
    secret_keys: list[str] = []
    missing: list[str] = []
    for key, declaration in (project_file.get("config") or {}).items():
        full = _full_key(project, key)
        if isinstance(declaration, dict) and ({"type", "default", "description", "value"} & declaration.keys()
                                              or not declaration):
            if "value" in declaration:
                config[full] = _as_engine_string(declaration["value"])
            elif "default" in declaration and declaration["default"] is not None:
                config[full] = _as_engine_string(declaration["default"])
            elif full.startswith(f"{project}:"):
                missing.append(key)
        else:  # short form `key: value`
            config[full] = _as_engine_string(declaration)

    for key, value in (stack_file.get("config") or {}).items():
        full = _full_key(project, key)
        missing = [m for m in missing if _full_key(project, m) != full]
        masked, has_secret = _mask_secure(value)
        config[full] = _as_engine_string(masked)
        if has_secret:
            secret_keys.append(full)
    if missing:
        raise StackConfigError(
            f"{stack_path.name}: missing configuration value(s) {', '.join(sorted(missing))} "
            "(declared in Pulumi.yaml without a default)"
        )
    return StackConfig(project=project, stack=stack, config=config, secret_keys=sorted(secret_keys))
