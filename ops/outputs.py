"""A deployed stage's stack outputs (`pulumi stack output --json > <file>`), read and checked.

Every problem with the file is a UsageError whose one line names the file, the key and what is allowed;
all problems with the keys a command needs are reported together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clients.datafactory import FactoryRef, parse_factory_id
from ops.usage import UsageError

SECRET_MARKER = "[secret]"
"""What `pulumi stack output --json` prints for a secret output unless --show-secrets is given."""


def load_outputs(path: Path) -> dict[str, Any]:
    """The outputs object in ``path``; UsageError if the file is missing, unreadable, not JSON or not an object."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (write it with `pulumi stack output --json > {path}`)") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read the outputs file: {error.strerror or type(error).__name__}") from None
    try:
        # From bytes, json detects UTF-8/16/32 and a BOM (PowerShell's `>` writes UTF-16).
        outputs = json.loads(data)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{path}: not JSON ({error.msg} at line {error.lineno} column {error.colno}); "
            "expected the output of `pulumi stack output --json`"
        ) from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not JSON text (not UTF-8, UTF-16 or UTF-32)") from None
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply to be stack outputs") from None
    if not isinstance(outputs, dict):
        raise UsageError(
            f"{path}: expected a JSON object of stack outputs (`pulumi stack output --json`), "
            f"got {_json_type(outputs)}"
        )
    return outputs


@dataclass(frozen=True)
class JobTarget:
    """What running one Databricks job needs from the outputs."""

    name: str
    """The job's name, a key of job_ids."""
    job_id: int
    """Its Databricks job id."""
    workspace_url: str
    """https URL of the workspace."""
    workspace_resource_id: str | None
    """The workspace's ARM id (sends the management-token headers) or None."""
    authority_host: str | None
    """The stack's Entra ID authority host, None for the public cloud."""


@dataclass(frozen=True)
class PipelineTarget:
    """What running one Data Factory pipeline needs from the outputs."""

    name: str
    """The pipeline's name, one of data_factory_pipelines."""
    factory: FactoryRef
    """The factory, from data_factory_id."""
    authority_host: str | None
    """The stack's Entra ID authority host, None for the public cloud."""


class _Checker:
    """Collects every problem with the keys a command reads."""

    def __init__(self, path: Path, outputs: Mapping[str, Any]):
        self.path = path
        self.outputs = outputs
        self.problems: list[str] = []

    def get(self, key: str, kind: str, check: Callable[[Any], bool], *, required: bool = True) -> Any:
        if key not in self.outputs:
            if required:
                self.problems.append(f"missing key {key!r} ({kind})")
            return None
        value = self.outputs[key]
        if value == SECRET_MARKER:
            self.problems.append(f"{key!r} is a secret output; write the file with `pulumi stack output --json "
                                 "--show-secrets`")
            return None
        if not check(value):
            self.problems.append(f"{key!r} must be {kind}, got {_describe(value)}")
            return None
        return value

    def fail_if_any(self) -> None:
        if self.problems:
            raise UsageError(f"{self.path}: " + "; ".join(self.problems))


def _authority_host(checker: _Checker) -> str | None:
    value = checker.get("azure_authority_host", "a string ('' for the public cloud)", _is_str, required=False)
    return (value.strip() or None) if isinstance(value, str) else None


def job_target(path: Path, outputs: Mapping[str, Any], name: str) -> JobTarget:
    """The job ``name`` and its workspace; UsageError naming every problem (an unknown job lists the known ones)."""
    checker = _Checker(path, outputs)
    url = checker.get("workspace_url", "an https URL", _is_https_url)
    resource_id = checker.get("workspace_resource_id", "a string", _is_str, required=False)
    authority = _authority_host(checker)
    job_ids = checker.get("job_ids", "an object of job name -> job id", _is_mapping)
    job_id = None
    if isinstance(job_ids, Mapping):
        if name not in job_ids:
            known = ", ".join(sorted(job_ids)) or "none: job_ids is empty"
            checker.problems.append(f"no job {name!r} in job_ids; known jobs: {known}")
        else:
            job_id = _job_id(job_ids[name])
            if job_id is None:
                checker.problems.append(f"job_ids[{name!r}] must be a job id (digits), got {_describe(job_ids[name])}")
    checker.fail_if_any()
    assert url is not None and job_id is not None
    return JobTarget(name, job_id, url.rstrip("/"), resource_id or None, authority)


def pipeline_target(path: Path, outputs: Mapping[str, Any], name: str) -> PipelineTarget:
    """The pipeline ``name`` and its factory; UsageError naming every problem (an unknown pipeline lists the
    published ones)."""
    checker = _Checker(path, outputs)
    factory_id = checker.get("data_factory_id", "the factory's ARM id", _is_str)
    authority = _authority_host(checker)
    pipelines = checker.get("data_factory_pipelines", "a list of pipeline names", _is_list_of_str)
    factory = None
    if factory_id is not None:
        try:
            factory = parse_factory_id(factory_id)
        except ValueError as error:
            checker.problems.append(f"'data_factory_id': {error}, got {_describe(factory_id)}")
    if pipelines is not None and name not in pipelines:
        known = ", ".join(sorted(pipelines)) or "none: this stage publishes no pipelines"
        checker.problems.append(f"no pipeline {name!r} in data_factory_pipelines; known pipelines: {known}")
    checker.fail_if_any()
    assert factory is not None
    return PipelineTarget(name, factory, authority)


def _job_id(value: Any) -> int | None:
    # Pulumi resource ids are strings ("123"); accept plain integers too.
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
        return int(value)
    return None


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


def _is_list_of_str(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_https_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value.strip())
    return parts.scheme == "https" and bool(parts.hostname)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 80 else value[:77] + "..."
        return f"{shown!r}"
    return _json_type(value)
