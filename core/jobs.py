"""Render job definitions (``jobs/``) through Jinja2 ``templates/`` into ``pulumi_databricks.Job`` settings.

Pure logic, no Pulumi resources: the jobs component calls ``render_jobs`` and, once the pools exist,
``resolve_pool_refs``. Pool ids are only known at deployment, so templates name pools with ``pool(name)``,
which emits a sentinel string that ``resolve_pool_refs`` swaps for the pool id (an Output).
Problems in all files are collected and raised together as one ``UserError``, one line per problem.

Definitions and templates are read with ``core.safe_load``: regular files inside ``jobs/`` and
``templates/`` only (a symbolic link out of them is refused, and nothing of its target is shown), size and
nesting capped, duplicate keys, NaN and odd YAML types refused. Rendered settings are checked against the
provider's arguments (``core.job_schema``), Databricks' documented limits and the pools' capacity
(``core.job_checks``).
"""

from __future__ import annotations

import difflib
import os
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from core.config_rules import reserved_tags
from core.errors import UserError, described, shown, shown_name
from core.job_capacity import check_pool_capacity
from core.job_checks import (
    NAME_RULE,
    POOL_REF_PREFIX,
    check_job_structure,
    check_provider_limits,
    check_reserved_tags,
    collect_pool_refs,
    text_problem,
)
from core.job_files import (
    DEFINITION_SUFFIXES,
    SafeTemplateLoader,
    UnreadableTemplate,
    definition_files,
    json_kind,
    load_definition,
)
from core.job_schema import check_job_settings
from core.safe_json import parse_json
from core.template_sandbox import BoundedEnvironment, TemplateLimit, TemplateTooComplex

__all__ = ["DEFAULT_TEMPLATE", "DEFINITION_SUFFIXES", "POOL_REF_PREFIX", "RenderedJob", "render_jobs",
           "resolve_pool_refs"]

# A job renders to a few KB; far beyond that is a runaway loop.
MAX_RENDERED_CHARACTERS = 4 * 1024 * 1024
DEFAULT_TEMPLATE = "notebook_job.json.j2"
# Keys the default template understands, besides par_<x>/par_<x>_val pairs (the db-dsc-jobs format).
# max_concurrent_runs and timeout_seconds override the stage's job settings (core.job_settings).
DEFAULT_TEMPLATE_KEYS = ("name", "workers", "notebookpath", "description", "pool", "template",
                         "max_concurrent_runs", "timeout_seconds")


@dataclass(frozen=True)
class RenderedJob:
    """One job definition rendered and validated, ready to become a ``databricks.Job``."""

    source: str  # definition path as shown to the user, e.g. "jobs/daily_ingest.json"
    resource_name: str  # Pulumi logical name from the file path, e.g. "job-daily-ingest"
    settings: dict  # keyword arguments of pulumi_databricks.Job; pool references are sentinel strings
    pools: frozenset[str]  # names of the pools the settings reference


def render_jobs(
    jobs_dir: Path,
    templates_dir: Path,
    *,
    stage: str,
    variables: Mapping[str, Any],
    pool_names: Collection[str] | None,
    default_pool: str | None,
    relative_to: Path | None = None,
    pool_capacities: Mapping[str, int] | None = None,
    default_max_concurrent_runs: int = 1,
    problems: list[str] | None = None,
) -> list[RenderedJob]:
    """Render every definition under ``jobs_dir``, sorted by logical name. A missing or empty ``jobs_dir``
    yields no jobs.

    ``pool_names`` None: the pools' config is invalid (and reported), so pool names are not checked.
    ``pool_capacities``: max capacity by pool name; a job that can ask a pool for more instances at once is
    refused (``core.job_capacity``), counting ``default_max_concurrent_runs`` runs when its settings set no
    max_concurrent_runs (the stage's jobsMaxConcurrentRuns; Databricks' default is 1).
    Without ``problems``, every problem in every file is raised as one ``UserError``; with it, they are
    appended and the jobs that rendered cleanly are returned (the caller raises before declaring).
    """
    jobs_dir = Path(jobs_dir)
    renderer = _Renderer(
        Path(templates_dir), stage=stage, variables=variables, pool_names=pool_names,
        default_pool=default_pool, relative_to=relative_to, pool_capacities=pool_capacities,
        default_max_concurrent_runs=default_max_concurrent_runs,
    )
    jobs: list[RenderedJob] = []
    found: list[str] = []
    for directory in (jobs_dir, Path(templates_dir)):
        if relative_to is not None and directory.exists() and not _inside(directory, relative_to):
            found.append(f"{directory.name}/: is a symbolic link out of the project; nothing in it is read")
    sources_by_resource_name: dict[str, str] = {}
    sources_by_job_name: dict[str, tuple[str, str]] = {}  # case-folded name → (source, name as written)
    for path in [] if found else definition_files(jobs_dir, renderer.display, found):
        source = renderer.display(path, jobs_dir)
        resource_name = _resource_name(PurePosixPath(path.relative_to(jobs_dir).as_posix()))
        if resource_name is None:
            found.append(f"{source}: cannot derive a logical name from the file name; "
                         "use letters or digits in file and directory names")
        elif resource_name in sources_by_resource_name:
            found.append(f"{source}: logical name {shown(resource_name)} is also derived from "
                         f"{sources_by_resource_name[resource_name]}; rename one of the files")
        else:
            sources_by_resource_name[resource_name] = source
        try:
            rendered = renderer.render(path, source, jobs_dir, found)
        except Exception as error:  # noqa: BLE001 - one unforeseen failure must not hide the other files' problems
            found.append(f"{source}: could not be checked ({type(error).__name__}: {shown(str(error), 200)[1:-1]}); "
                         "the other files were checked")
            rendered = None
        if rendered is None or resource_name is None:
            continue
        settings, pools = rendered
        # Databricks finds a job by name without regard to case (jobs/list's name filter), so
        # 'Daily-Ingest' and 'daily-ingest' are the same name there.
        job_name = settings.get("name")
        key = job_name.casefold() if isinstance(job_name, str) else None
        if key is not None and key in sources_by_job_name:
            other_source, other_name = sources_by_job_name[key]
            spelled = f" (as {shown(other_name)}; Databricks compares job names regardless of case)" \
                if other_name != job_name else ""
            found.append(f"{source}: job name {shown(job_name)} is also used by {other_source}{spelled}; job "
                         "names must be unique in a workspace")
        elif key is not None:
            sources_by_job_name[key] = (source, job_name)
        jobs.append(RenderedJob(source, resource_name, settings, pools))
    found.extend(renderer.template_problems())
    if found and problems is None:
        raise UserError(found)
    if problems is not None:
        problems.extend(found)
    return sorted(jobs, key=lambda job: job.resource_name)


def _inside(directory: Path, project: Path) -> bool:
    try:
        return directory.resolve().is_relative_to(Path(project).resolve())
    except (OSError, RuntimeError):
        return False


def resolve_pool_refs(settings: Any, pool_ids: Mapping[str, Any]) -> Any:
    """A copy of ``settings`` with each pool sentinel replaced by ``pool_ids[name]``, passed through as is
    (an Output stays an Output)."""
    if isinstance(settings, str) and settings.startswith(POOL_REF_PREFIX):
        name = settings.removeprefix(POOL_REF_PREFIX)
        if name not in pool_ids:
            raise UserError([f"job settings reference pool {shown(name)}, which is not deployed; "
                             f"deployed pools: {_names(pool_ids)}"])
        return pool_ids[name]
    if isinstance(settings, Mapping):
        return {key: resolve_pool_refs(value, pool_ids) for key, value in settings.items()}
    if isinstance(settings, list | tuple):
        return [resolve_pool_refs(value, pool_ids) for value in settings]
    return settings


def _resource_name(relative_path: PurePosixPath) -> str | None:
    """``etl/Daily_Load.yaml`` → ``job-etl-daily-load``: stable, lower case, letters, digits and dashes."""
    words = [*relative_path.parent.parts, relative_path.name.rsplit(".", 1)[0]]
    slug = "".join(char if char.isascii() and char.isalnum() else "-" for char in "-".join(words).lower())
    slug = "-".join(part for part in slug.split("-") if part)
    return f"job-{slug}" if slug else None


class _TemplateProblem(Exception):
    """Raised by template helpers (``pool()``); reported with the template line that called them."""


_NOT_GIVEN = object()


def _fail(message: str, got: Any = _NOT_GIVEN) -> None:
    """``fail("tasks[1].depends_on: a list of task keys", got=task.depends_on)``: a template refuses a definition
    it cannot render, with the definition's key and what it allows, instead of rendering something wrong."""
    if got is _NOT_GIVEN:
        raise _TemplateProblem(str(message))
    raise _TemplateProblem(f"{message}, got {'null' if got is None else described(got)}")


class _Labelled(dict):
    """A dict that names itself when a template asks for a key it lacks ("job.tasks[1] has no key ...")."""

    label = ""


def _labelled(value: Any, label: str) -> Any:
    if isinstance(value, dict):
        result = _Labelled((key, _labelled(item, f"{label}.{key}")) for key, item in value.items())
        result.label = label
        return result
    if isinstance(value, list):
        return [_labelled(item, f"{label}[{index}]") for index, item in enumerate(value)]
    return value


class _StrictUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose message names the mapping and its keys instead of "'dict object'"."""

    @property
    def _undefined_message(self) -> str:
        owner = self._undefined_obj
        if isinstance(owner, _Labelled) and isinstance(self._undefined_name, str):
            return f"{owner.label} has no key {self._undefined_name!r} (it has: {_names(owner)})"
        return super()._undefined_message


def _json_default(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()  # raises UndefinedError naming the missing key
    raise TypeError(f"|tojson cannot render a value of type {type(value).__name__} ({shown(value)}); "
                    "quote it in the definition to pass it as text")


class _Renderer:
    """State of one ``render_jobs`` run: the Jinja environment and each template, compiled once."""

    def __init__(self, templates_dir: Path, *, stage: str, variables: Mapping[str, Any],
                 pool_names: Collection[str] | None, default_pool: str | None, relative_to: Path | None,
                 pool_capacities: Mapping[str, int] | None, default_max_concurrent_runs: int):
        # Jinja names template frames by the normalised path; normalise ours the same way to match them.
        self.templates_dir = Path(os.path.normpath(templates_dir))
        self.stage = stage
        self.variables = _labelled(dict(variables), "vars")
        self.pool_names = frozenset(pool_names) if pool_names is not None else None
        self.pool_capacities = dict(pool_capacities or {})
        self.default_max_concurrent_runs = default_max_concurrent_runs
        self.default_pool = default_pool
        self.relative_to = relative_to
        # autoescape off: templates render JSON, not HTML; values go through |tojson. The bounded sandbox keeps
        # templates away from Python internals and bounds what compiling and rendering one may cost.
        self.environment = BoundedEnvironment(
            loader=SafeTemplateLoader(self.templates_dir, lambda path: self.display(path, self.templates_dir)),
            undefined=_StrictUndefined, autoescape=False, keep_trailing_newline=True,
            auto_reload=False,
        )
        # |tojson hands undefined values to json.dumps, which would fail with a bare TypeError.
        self.environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_default}
        self.compiled: dict[str, jinja2.Template | str] = {}  # template name → template or its problem
        self.users: dict[str, list[str]] = defaultdict(list)  # broken template name → definitions using it

    def display(self, path: Path, base_dir: Path) -> str:
        """How a path is shown in messages: relative to ``relative_to``, else starting at ``base_dir``; a
        name with a newline or another unprintable character is quoted, so a problem stays one line."""
        try:
            if self.relative_to is not None:
                text = path.absolute().relative_to(Path(self.relative_to).absolute()).as_posix()
            else:
                text = (Path(base_dir.name) / path.relative_to(base_dir)).as_posix()
        except ValueError:
            text = path.as_posix()
        return text if text.isprintable() else repr(text)

    def render(self, path: Path, source: str, jobs_dir: Path, problems: list[str]
               ) -> tuple[dict, frozenset[str]] | None:
        """Load, render and validate one definition; None (with problems added) when it cannot be used."""
        definition = load_definition(path, source, jobs_dir, problems)
        if definition is None:
            return None
        template_name = _template_name(definition, source, problems)
        parameters = _base_parameters(definition, source, problems)
        usable = template_name is not None and parameters is not None
        if not isinstance(definition.get("pool", ""), str):
            usable = False
            problems.append(f"{source}: pool must be a pool name (a string); configured pools: "
                            f"{_names(self.pool_names or ())}")
        if template_name == DEFAULT_TEMPLATE:
            usable = _check_default_definition(definition, source, problems) and usable
        template = self._template(template_name, source) if usable else None
        if template is None:
            return None
        context = {
            "job": _labelled(definition, "job"),
            "parameters": parameters,
            "stage": self.stage,
            "vars": self.variables,
            "pool": self._pool_function(definition),
            "fail": _fail,
        }
        template_display = self.display(self.templates_dir / template_name, self.templates_dir)
        try:
            text = self.environment.render_bounded(template, context, MAX_RENDERED_CHARACTERS)
        except Exception as error:  # noqa: BLE001 - any failure inside a template is the template author's to fix
            problems.append(f"{source}: {self._template_error(error, template_display)}")
            return None
        document = _rendered_document(text, source, template_display, problems)
        if not isinstance(document, dict):
            if document is not _INVALID:
                problems.append(f"{source}: {template_display} rendered {json_kind(document)}, not a job "
                                "(a JSON object of pulumi_databricks.Job arguments)")
            return None
        settings, setting_problems = check_job_settings(document)
        setting_problems += check_job_structure(settings)
        setting_problems += check_provider_limits(settings)
        setting_problems += check_reserved_tags(settings, reserved_tags(self.stage))
        setting_problems += check_pool_capacity(settings, self.pool_capacities, self.default_max_concurrent_runs)
        pools: set[str] = set()
        collect_pool_refs(settings, "", self.pool_names, pools, setting_problems)
        problems.extend(f"{source}: {problem}" for problem in setting_problems)
        return (settings, frozenset(pools)) if not setting_problems else None

    def _pool_function(self, definition: Mapping[str, Any]) -> Callable[..., str]:
        def pool(name: str | None = None) -> str:
            """``pool("general")`` or ``pool()`` (the definition's ``pool:``, else the default pool)."""
            configured = f"configured pools: {_names(self.pool_names or ())}"
            origin = ""
            if name is None and "pool" in definition:
                name, origin = definition["pool"], " (from pool: in the definition)"
            elif name is None:
                name, origin = self.default_pool, " (the default pool)"
                if name is None:
                    raise _TemplateProblem("pool(): no pool given and no default pool configured; set pool: "
                                           f"in the definition or configure a default pool; {configured}")
            if not isinstance(name, str) or (self.pool_names is not None and name not in self.pool_names):
                raise _TemplateProblem(f"unknown pool {shown(name)}{origin}; {configured}")
            return POOL_REF_PREFIX + name

        return pool

    def _template(self, name: str, source: str) -> jinja2.Template | None:
        """The compiled template, or None: its problem is reported once, by ``template_problems``."""
        if name not in self.compiled:
            self.compiled[name] = self._compile(name)
        template = self.compiled[name]
        if isinstance(template, str):
            self.users[name].append(source)
            return None
        return template

    def _compile(self, name: str) -> jinja2.Template | str:
        if not self.templates_dir.is_dir():
            return f"template {name!r} not found: {self.display(self.templates_dir, self.templates_dir)}/ " \
                   "does not exist"
        try:
            return self.environment.get_template(name)
        except jinja2.TemplateSyntaxError as error:  # TemplateTooComplex included
            return self._template_error(error, self.display(self.templates_dir / name, self.templates_dir))
        except UnreadableTemplate as error:  # a link out of templates/, a FIFO, too large
            return str(error)
        except jinja2.TemplateNotFound:
            available = sorted(
                path.relative_to(self.templates_dir).as_posix()
                for path in self.templates_dir.rglob("*") if path.is_file()
            )
            close = difflib.get_close_matches(name[:200], available, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            templates = self.display(self.templates_dir, self.templates_dir)
            return f"template {shown(name)} not found in {templates}/; {hint}available: {_names(available)}"
        except OSError as error:  # after TemplateNotFound, which is an OSError
            return f"template {shown(name)} cannot be read: {error.strerror}"
        except Exception as error:  # noqa: BLE001 - Python's own compile limits, a limit of the sandbox, ...
            return self._template_error(error, self.display(self.templates_dir / name, self.templates_dir))

    def _template_error(self, error: Exception, fallback_location: str) -> str:
        """``templates/x.json.j2:12: what went wrong``, using the innermost template frame for the line."""
        if isinstance(error, jinja2.TemplateSyntaxError) and error.filename:
            location = f"{self.display(Path(error.filename), self.templates_dir)}:{error.lineno}"
            if isinstance(error, TemplateTooComplex):
                return f"{location}: cannot be compiled: {error.message}"
            return f"{location}: Jinja syntax error: {error.message}"
        location = fallback_location
        frame = error.__traceback__
        while frame is not None:
            filename = Path(frame.tb_frame.f_code.co_filename)
            if filename.is_relative_to(self.templates_dir):
                location = f"{self.display(filename, self.templates_dir)}:{frame.tb_lineno}"
            frame = frame.tb_next
        if isinstance(error, jinja2.UndefinedError):
            return f"{location}: undefined: {error.message}"
        if isinstance(error, _TemplateProblem | UnreadableTemplate | TemplateLimit):
            return f"{location}: {error}"
        if isinstance(error, jinja2.TemplateNotFound):
            return f"{location}: included template {shown(error.name)} not found"
        if isinstance(error, RecursionError):
            return f"{location}: the template calls or includes itself without end"
        if isinstance(error, MemoryError):
            return f"{location}: ran out of memory; a value made far too large?"
        if isinstance(error, SyntaxError):  # Python refused the code Jinja generated (a static limit)
            return f"{location}: cannot be compiled: {error.msg}; simplify the template"
        return f"{location}: {type(error).__name__}: {shown(str(error), 300)[1:-1]}"

    def template_problems(self) -> list[str]:
        """One problem per unusable template, naming the definitions that need it."""
        problems = []
        for name, users in self.users.items():
            more = f" and {len(users) - 3} more" if len(users) > 3 else ""
            problems.append(f"{', '.join(users[:3])}{more}: {self.compiled[name]}")
        return problems


_INVALID = object()


def _rendered_document(text: str, source: str, template_display: str, problems: list[str]) -> Any:
    """The template's output as strict JSON (no duplicate keys, NaN or runaway nesting), or _INVALID."""
    found: list[str] = []
    document = parse_json(text, source="\0", problems=found)
    if not found:
        return document
    for problem in found:
        head, _, message = problem.partition(": invalid JSON: ")
        position = head.removeprefix("\0").lstrip(":").split(":")
        if len(position) == 2:  # a syntax error: show the output line it is on
            line, column = int(position[0]), int(position[1])
            lines = text.splitlines() or [""]
            near = lines[min(line, len(lines)) - 1].strip()[:80]
            problems.append(f"{source}: {template_display} rendered invalid JSON at output line {line}, "
                            f"column {column}: {message} (near `{near}`)")
        else:
            where = f" at output line {position[0]}" if position[0] else ""
            problems.append(f"{source}: {template_display} rendered invalid JSON{where}: {message}")
    return _INVALID


def _template_name(definition: Mapping[str, Any], source: str, problems: list[str]) -> str | None:
    name = definition.get("template", DEFAULT_TEMPLATE)
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{source}: template must be a file name inside templates/, got {shown(name)}")
        return None
    path = PurePosixPath(name)
    if "\\" in name or path.is_absolute() or ".." in path.parts:
        problems.append(f"{source}: template {shown(name)} must be a relative path inside templates/ "
                        "(no absolute paths, no '..')")
        return None
    return path.as_posix()


def _base_parameters(
    definition: Mapping[str, Any], source: str, problems: list[str]
) -> dict[str, str] | None:
    """db-dsc-jobs pairs ``par_<x>: <name>`` / ``par_<x>_val: <value>`` → ``{<name>: <value>}``."""
    par_keys = [key for key in definition if key.startswith("par_")]
    value_keys = {key for key in par_keys if key.endswith("_val") and key.removesuffix("_val") in definition}
    unclaimed_values = set(value_keys)
    parameters: dict[str, str] = {}
    set_by: dict[str, str] = {}
    count = len(problems)
    for key in par_keys:
        if key in value_keys:
            continue
        value_key = f"{key}_val"
        if value_key not in definition:
            if key.endswith("_val"):
                problems.append(f"{source}: {key} has no matching {key.removesuffix('_val')}; every "
                                "par_<x>_val (a value) needs a par_<x> (its parameter name)")
            else:
                problems.append(f"{source}: {key} has no matching {value_key}; every par_<x> (a parameter "
                                "name) needs a par_<x>_val (its value)")
            continue
        unclaimed_values.discard(value_key)
        name, value = definition[key], definition[value_key]
        if not isinstance(name, str) or not name:
            problems.append(f"{source}: {shown_name(key)} must be a non-empty string (the notebook parameter "
                            f"name), got {shown(name)}")
        elif text_problem(name):
            problems.append(f"{source}: {shown_name(key)}: parameter name {shown(name)} {text_problem(name)}; a "
                            f"parameter name is {NAME_RULE}")
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.append(f"{source}: {shown_name(value_key)} must be a string or a number, got {shown(value)}; "
                            "quote it to pass it as text")
        elif name in parameters:
            problems.append(f"{source}: {shown_name(key)} sets parameter {shown(name)}, already set by "
                            f"{set_by[name]}")
        else:
            # Numbers become text as db-dsc-jobs rendered them: notebook parameters are strings.
            parameters[name], set_by[name] = str(value), key
    for key in sorted(unclaimed_values):  # values whose name key is itself a value (par_x_val_val)
        problems.append(f"{source}: {key} has no parameter name: {key.removesuffix('_val')} is itself "
                        "a value")
    return parameters if len(problems) == count else None


def _check_default_definition(definition: Mapping[str, Any], source: str, problems: list[str]) -> bool:
    """The default template takes db-dsc-jobs keys only, so a typo fails instead of being ignored."""
    count = len(problems)
    allowed = ", ".join(DEFAULT_TEMPLATE_KEYS)
    for key in definition:
        if key not in DEFAULT_TEMPLATE_KEYS and not key.startswith("par_"):
            close = difflib.get_close_matches(key[:100], DEFAULT_TEMPLATE_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{source}: unknown key {shown(key)}; {hint}the default template ({DEFAULT_TEMPLATE}) "
                            f"accepts {allowed} and par_<x>/par_<x>_val pairs; "
                            "set template: <file> for others")
    for key, what in (("name", "the job name"), ("notebookpath", "the notebook's workspace path")):
        if not isinstance(definition.get(key), str) or not definition[key].strip():
            problems.append(f"{source}: {key} is required: a non-empty string, {what}")
    workers = definition.get("workers")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        problems.append(f"{source}: workers is required: a whole number ≥ 0 of worker nodes, got {shown(workers)}")
    if not isinstance(definition.get("description", ""), str):
        problems.append(f"{source}: description must be a string")
    return len(problems) == count


def _names(names: Any, most: int = 20) -> str:
    listed = sorted(shown_name(str(name)) for name in names)
    more = f" and {len(listed) - most} more" if len(listed) > most else ""
    return ", ".join(listed[:most]) + more or "none"
