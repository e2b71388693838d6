"""A deployed stage's stack outputs (`pulumi stack output --json > <file>`), read and checked.

Every problem is one line naming the file, the key and what is allowed; problems are collected in a list
the caller passes, so that a command reports them together with its other usage problems. The file is
read through core.safe_load (a regular file only, size capped: a FIFO or /dev/zero is refused, not read)
and parsed as strict JSON; UTF-16 and UTF-32 with a byte-order mark are read too, as PowerShell's ``>``
writes UTF-16. Every value echoed is escaped and cut (``shown``): a key holding a newline or an escape
sequence cannot break the one line, and a 2 MB value is not printed whole.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clients.datafactory import FactoryRef, parse_factory_id
from core.azure_ids import DATABRICKS_WORKSPACE, authority_host, https_origin, parse_resource_id
from core.messages import key_path, shown, shown_name
from core.safe_json import parse_json
from core.safe_load import decode_utf8, read_bytes
from ops.usage import UsageError, one_line_problem

SECRET_MARKER = "[secret]"
"""What `pulumi stack output --json` prints for a secret output unless --show-secrets is given."""
MAX_OUTPUTS_BYTES = 16 * 1024 * 1024
"""Far above a real stage's outputs (a few KB; thousands of jobs and every linked service stay under 1 MB), far
below what hurts. The Pulumi CLI writes the file, so it may be larger than the hand-written files' cap."""
MAX_JOB_ID = 2**63 - 1
"""Databricks job ids are 64-bit integers."""
MAX_KNOWN_SHOWN = 20
"""An unknown job or pipeline lists at most this many known names (the closest first), then how many more."""
KNOWN_LIST_CHARACTERS = 600
"""The known names listed take at most about this many characters (each name is cut at 60)."""
MAX_SUGGESTION_CANDIDATES = 10_000
"""Beyond this many known names, no "did you mean" (difflib takes about 1 s per 200,000 names)."""
PATH_SHOWN = 400
"""A path is printed as written up to this length (temporary directories make long ones)."""
MAX_ITEMS_SHOWN = 10
"""A bad list names at most this many of its bad items (and duplicates), then how many more."""


def source_of(path: Path) -> str:
    """How messages name a file: as written, or escaped when it holds a newline or a control character."""
    return shown_name(str(path), PATH_SHOWN)


def read_outputs(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """The outputs object in ``path``, or None with one problem appended (missing, unreadable, not a JSON object)."""
    source = source_of(path)
    found: list[str] = []
    data = read_bytes(path, source=source, root=None, problems=found, max_bytes=MAX_OUTPUTS_BYTES)
    if data is None:
        if found[0] == f"{source}: file not found":
            found[0] = f"{source}: no such file (write it with `pulumi stack output --json > {source}`)"
        problems.append(found[0])
        return None
    text = _decode(data, source, found)
    outputs = None if text is None else parse_json(text, source=source, problems=found)
    if found:
        if text is not None:
            found = _overlong_numbers(text, source) or found
        problems.append("; ".join(found) + " (expected the output of `pulumi stack output --json`)")
        return None
    if not isinstance(outputs, dict):
        problems.append(f"{source}: expected a JSON object of stack outputs (`pulumi stack output --json`), "
                        f"got {_json_type(outputs)}")
        return None
    return outputs


def load_outputs(path: Path) -> dict[str, Any]:
    """The outputs object in ``path``; UsageError (one line) if it cannot be used."""
    problems: list[str] = []
    outputs = read_outputs(path, problems)
    if outputs is None:
        raise UsageError("; ".join(problems))
    return outputs


def _decode(data: bytes, source: str, problems: list[str]) -> str | None:
    # As json.loads does from bytes: UTF-8 (a BOM allowed), else UTF-16/32 by their BOM or zero bytes.
    encoding = json.detect_encoding(data)
    if encoding in ("utf-8", "utf-8-sig"):
        return decode_utf8(data, source=source, problems=problems)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        problems.append(f"{source}: not JSON text: not valid {encoding.upper()} at byte {error.start:,} "
                        "(UTF-8, UTF-16 and UTF-32 are read)")
        return None


class _Overlong(str):
    """A number literal of more digits than Python converts to an integer."""


def _overlong_numbers(text: str, source: str) -> list[str]:
    """Where the text has integers of more digits than Python converts, by key path (a file refused for them
    names the key, e.g. a job id of 5,000 digits); [] when that is not why the text was refused."""
    limit = sys.get_int_max_str_digits() or None

    def integer(literal: str) -> Any:
        return _Overlong(literal) if limit and len(literal.lstrip("-")) > limit else 0

    try:
        # Only called once parse_json refused the text, whose nesting it bounded first: this cannot recurse deep.
        value = json.loads(text, parse_int=integer, parse_constant=lambda _name: 0, parse_float=lambda _text: 0)
    except (ValueError, RecursionError):
        return []
    found, stack = [], [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, _Overlong):
            digits = len(item.lstrip("-"))
            found.append(f"{source}: {where or 'the document'} is a number of {digits:,} digits, more than any "
                         "system reads" + (f"; {_JOB_ID_RULE}" if where.startswith("job_ids") else ""))
        elif isinstance(item, dict):
            stack.extend((key_path(where, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", child) for index, child in reversed(list(enumerate(item))))
    return found


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
    """Collects every problem with the keys a command reads, as one problem naming the file."""

    def __init__(self, path: Path, outputs: Mapping[str, Any]):
        self.source = source_of(path)
        self.outputs = outputs
        self.problems: list[str] = []

    def get(self, key: str, kind: str, check: Callable[[Any], bool], *, required: bool = True,
            rule: str = "") -> Any:
        """The value of ``key`` if ``check`` accepts it, else None with a problem saying it must be ``kind``
        (then ``rule``, what the value must look like, if given)."""
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
            self.problems.append(f"{key!r} must be {kind}, got {_describe(value)}{f'; {rule}' if rule else ''}")
            return None
        return value

    def report(self, problems: list[str]) -> bool:
        """Add this file's problems, as one, to ``problems``; True when there were none."""
        if self.problems:
            problems.append(f"{self.source}: " + "; ".join(one_line_problem(problem) for problem in self.problems))
        return not self.problems


def _authority_host(checker: _Checker) -> str | None:
    value = checker.get("azure_authority_host", "an Entra ID authority host ('' for the public cloud)",
                        lambda value: value == "" or authority_host(value) is not None, required=False,
                        rule="e.g. https://login.microsoftonline.us or login.microsoftonline.us, with no path, "
                        "spaces or control characters")
    return authority_host(value) if value else None


def _workspace_resource_id(checker: _Checker) -> str | None:
    """The workspace's ARM id, or None when the outputs do not give one. It is sent in a request header, so
    anything but an id of that exact shape is refused here, before a request is built."""
    value = checker.get("workspace_resource_id", "a string", _is_str, required=False)
    if value is None:
        return None
    try:
        parse_resource_id(value, DATABRICKS_WORKSPACE)
    except ValueError as error:
        checker.problems.append(f"'workspace_resource_id': {error}, got {_describe(value)}")
        return None
    return value


_JOB_ID_RULE = f"a Databricks job id is a whole number from 1 to {MAX_JOB_ID} (Pulumi writes it as a string)"


def job_target(path: Path, outputs: Mapping[str, Any], name: str, problems: list[str]) -> JobTarget | None:
    """The job ``name`` and its workspace, or None with the file's problems appended (an unknown job lists the
    known ones)."""
    checker = _Checker(path, outputs)
    url = checker.get("workspace_url", "an https URL", lambda value: https_origin(value) is not None,
                      rule="a workspace URL is https://<host>[:port] (https://adb-….azuredatabricks.net), with no "
                      "path, query, credentials, spaces or control characters")
    resource_id = _workspace_resource_id(checker)
    authority = _authority_host(checker)
    job_ids = checker.get("job_ids", "an object of job name -> job id", _is_mapping)
    job_id = None
    if isinstance(job_ids, Mapping):
        if name not in job_ids:
            checker.problems.append(f"no job {shown(name)} in job_ids; {_known('jobs', job_ids, name)}")
        else:
            job_id = job_id_of(job_ids[name])
            if job_id is None:
                checker.problems.append(
                    f"{key_path('job_ids', name)} must be a Databricks job id, got {_describe(job_ids[name])}; "
                    f"{_JOB_ID_RULE}"
                )
    if not checker.report(problems):
        return None
    origin = https_origin(url)
    assert origin is not None and job_id is not None
    return JobTarget(name, job_id, origin, resource_id, authority)


def pipeline_target(path: Path, outputs: Mapping[str, Any], name: str, problems: list[str]) -> PipelineTarget | None:
    """The pipeline ``name`` and its factory, or None with the file's problems appended (an unknown pipeline
    lists the published ones)."""
    checker = _Checker(path, outputs)
    factory_id = checker.get("data_factory_id", "the factory's ARM id", _is_str)
    authority = _authority_host(checker)
    pipelines = checker.get("data_factory_pipelines", "a list of pipeline names", _is_list)
    if pipelines is not None:
        bad = _pipeline_list_problems(pipelines)
        if bad:
            checker.problems.append(f"'data_factory_pipelines' must be a list of distinct pipeline names: {bad}")
            pipelines = None
    factory = None
    if factory_id is not None:
        try:
            factory = parse_factory_id(factory_id)
        except ValueError as error:
            checker.problems.append(f"'data_factory_id': {error}, got {_describe(factory_id)}")
    if pipelines is not None and name not in pipelines:
        checker.problems.append(f"no pipeline {shown(name)} in data_factory_pipelines; "
                                f"{_known('pipelines', pipelines, name)}")
    if not checker.report(problems):
        return None
    assert factory is not None
    return PipelineTarget(name, factory, authority)


def job_id_of(value: Any) -> int | None:
    """A Databricks job id from job_ids: Pulumi writes resource ids as strings ("123"); integers are taken too.
    None for anything else: a boolean, zero, a negative or fractional number, more than 64 bits, non-digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        # Checked before int(): int() of 5,000 digits raises, and of " 12" or "1_2" succeeds.
        if not (value.isascii() and value.isdigit() and len(value) <= len(str(MAX_JOB_ID))):
            return None
        value = int(value)
    if isinstance(value, int) and 0 < value <= MAX_JOB_ID:
        return value
    return None


def _known(what: str, names: Any, wanted: str) -> str:
    """`known jobs: a, b, c`, the closest to ``wanted`` first (`did you mean …?`), each escaped and cut; at most
    MAX_KNOWN_SHOWN names and KNOWN_LIST_CHARACTERS characters, then how many more there are."""
    names = sorted(names)
    if not names:
        return "none: job_ids is empty" if what == "jobs" else "none: this stage publishes no pipelines"
    close = []
    if MAX_KNOWN_SHOWN < len(names) <= MAX_SUGGESTION_CANDIDATES:
        close = difflib.get_close_matches(wanted[:200], names, n=3, cutoff=0.6)
    listed: list[str] = []
    for name in [*close, *(name for name in names if name not in close)][:MAX_KNOWN_SHOWN]:
        text = shown_name(name, 60)
        if listed and sum(len(item) + 2 for item in listed) + len(text) > KNOWN_LIST_CHARACTERS:
            break
        listed.append(text)
    suggestion = f"did you mean {', '.join(shown(name, 60) for name in close)}? " if close else ""
    count = f" ({len(names):,})" if len(listed) < len(names) else ""
    more = f", … and {len(names) - len(listed):,} more" if len(listed) < len(names) else ""
    return f"{suggestion}known {what}{count}: {', '.join(listed)}{more}"


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _pipeline_list_problems(names: list[Any]) -> str:
    """What is wrong with the items of data_factory_pipelines, in words ("" when nothing): each item that is
    not a pipeline name ADF allows (by index), and each name listed twice, also in another case (ADF's names
    are case-insensitive). At most MAX_ITEMS_SHOWN of them, then how many more."""
    from core.factory.kinds import PIPELINE, name_problem  # pydantic and the factory model: only for --pipeline

    found: list[str] = []
    first_seen: dict[str, tuple[int, str]] = {}
    for index, name in enumerate(names):
        if not isinstance(name, str):
            found.append(f"[{index}] is {_describe(name)}, not a name")
            continue
        problem = name_problem(PIPELINE, name)
        if problem is not None:
            found.append(f"[{index}] {shown(name, 60)} {problem}")
            continue
        earlier = first_seen.setdefault(name.casefold(), (index, name))
        if earlier[0] != index:
            same = "" if earlier[1] == name else f" as {shown(earlier[1], 60)}"
            found.append(f"[{index}] {shown(name, 60)} is listed before{same} at [{earlier[0]}]"
                         f"{'' if same == '' else ' (ADF names are case-insensitive)'}")
    more = f"; … and {len(found) - MAX_ITEMS_SHOWN:,} more" if len(found) > MAX_ITEMS_SHOWN else ""
    return "; ".join(found[:MAX_ITEMS_SHOWN]) + more


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _describe(value: Any) -> str:
    """A value for a message: a string or number escaped and cut, else its JSON type."""
    if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return shown(value)
    return _json_type(value)
