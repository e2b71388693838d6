"""Render job definitions (``jobs/``) through Jinja2 ``templates/`` into ``pulumi_databricks.Job`` settings.

Pure logic, no Pulumi resources: the jobs component calls ``render_jobs`` and, once the pools exist,
``resolve_pool_refs``. Pool ids are only known at deployment, so templates name pools with ``pool(name)``,
which emits a sentinel string that ``resolve_pool_refs`` swaps for the pool id (an Output).
Problems in all files are collected and raised together as one ``UserError``, one line per problem.
"""

from __future__ import annotations

import difflib
import graphlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2
import yaml

from core.errors import UserError
from core.job_schema import check_job_settings

POOL_REF_PREFIX = "databricks-platform:pool/"
DEFAULT_TEMPLATE = "notebook_job.json.j2"
DEFINITION_SUFFIXES = (".json", ".yaml", ".yml")
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
    pool_names: Collection[str],
    default_pool: str | None,
    relative_to: Path | None = None,
) -> list[RenderedJob]:
    """Render every definition under ``jobs_dir``, sorted by logical name; raise ``UserError`` listing all
    problems in all files. A missing or empty ``jobs_dir`` yields no jobs."""
    jobs_dir = Path(jobs_dir)
    renderer = _Renderer(
        Path(templates_dir), stage=stage, variables=variables, pool_names=pool_names,
        default_pool=default_pool, relative_to=relative_to,
    )
    jobs: list[RenderedJob] = []
    problems: list[str] = []
    sources_by_resource_name: dict[str, str] = {}
    sources_by_job_name: dict[str, str] = {}
    for path in _definition_files(jobs_dir):
        source = renderer.display(path, jobs_dir)
        resource_name = _resource_name(PurePosixPath(path.relative_to(jobs_dir).as_posix()))
        if resource_name is None:
            problems.append(f"{source}: cannot derive a logical name from the file name; "
                            "use letters or digits in file and directory names")
        elif resource_name in sources_by_resource_name:
            problems.append(f"{source}: logical name {resource_name!r} is also derived from "
                            f"{sources_by_resource_name[resource_name]}; rename one of the files")
        else:
            sources_by_resource_name[resource_name] = source
        rendered = renderer.render(path, source, problems)
        if rendered is None or resource_name is None:
            continue
        settings, pools = rendered
        job_name = settings.get("name")
        if isinstance(job_name, str) and job_name in sources_by_job_name:
            problems.append(f"{source}: job name {job_name!r} is also used by "
                            f"{sources_by_job_name[job_name]}; job names must be unique in a workspace")
        elif isinstance(job_name, str):
            sources_by_job_name[job_name] = source
        jobs.append(RenderedJob(source, resource_name, settings, pools))
    problems.extend(renderer.template_problems())
    if problems:
        raise UserError(problems)
    return sorted(jobs, key=lambda job: job.resource_name)


def resolve_pool_refs(settings: Any, pool_ids: Mapping[str, Any]) -> Any:
    """A copy of ``settings`` with each pool sentinel replaced by ``pool_ids[name]``, passed through as is
    (an Output stays an Output)."""
    if isinstance(settings, str) and settings.startswith(POOL_REF_PREFIX):
        name = settings.removeprefix(POOL_REF_PREFIX)
        if name not in pool_ids:
            raise UserError([f"job settings reference pool {name!r}, which is not deployed; "
                             f"deployed pools: {_names(pool_ids)}"])
        return pool_ids[name]
    if isinstance(settings, Mapping):
        return {key: resolve_pool_refs(value, pool_ids) for key, value in settings.items()}
    if isinstance(settings, list | tuple):
        return [resolve_pool_refs(value, pool_ids) for value in settings]
    return settings


def _definition_files(jobs_dir: Path) -> list[Path]:
    """Definition files under ``jobs_dir``, recursively; other files (README.md) and dot-files are ignored."""
    if not jobs_dir.is_dir():
        return []
    found = []
    for directory, subdirectories, names in os.walk(jobs_dir):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        found += [Path(directory, name) for name in names
                  if not name.startswith(".") and name.lower().endswith(DEFINITION_SUFFIXES)]
    return sorted(found, key=lambda path: path.relative_to(jobs_dir).as_posix())


def _resource_name(relative_path: PurePosixPath) -> str | None:
    """``etl/Daily_Load.yaml`` → ``job-etl-daily-load``: stable, lower case, letters, digits and dashes."""
    words = [*relative_path.parent.parts, relative_path.name.rsplit(".", 1)[0]]
    slug = "".join(char if char.isascii() and char.isalnum() else "-" for char in "-".join(words).lower())
    slug = "-".join(part for part in slug.split("-") if part)
    return f"job-{slug}" if slug else None


class _TemplateProblem(Exception):
    """Raised by template helpers (``pool()``); reported with the template line that called them."""


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
    raise TypeError(f"|tojson cannot render a value of type {type(value).__name__} ({value!r}); "
                    "quote it in the definition to pass it as text")


class _Renderer:
    """State of one ``render_jobs`` run: the Jinja environment and each template, compiled once."""

    def __init__(self, templates_dir: Path, *, stage: str, variables: Mapping[str, Any],
                 pool_names: Collection[str], default_pool: str | None, relative_to: Path | None):
        # Jinja names template frames by the normalised path; normalise ours the same way to match them.
        self.templates_dir = Path(os.path.normpath(templates_dir))
        self.stage = stage
        self.variables = _labelled(dict(variables), "vars")
        self.pool_names = frozenset(pool_names)
        self.default_pool = default_pool
        self.relative_to = relative_to
        # autoescape off: templates render JSON, not HTML; values go through |tojson.
        self.environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.templates_dir)), undefined=_StrictUndefined,
            autoescape=False, keep_trailing_newline=True, auto_reload=False,  # noqa: S701
        )
        # |tojson hands undefined values to json.dumps, which would fail with a bare TypeError.
        self.environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_default}
        self.compiled: dict[str, jinja2.Template | str] = {}  # template name → template or its problem
        self.users: dict[str, list[str]] = defaultdict(list)  # broken template name → definitions using it

    def display(self, path: Path, base_dir: Path) -> str:
        """How a path is shown in messages: relative to ``relative_to``, else starting at ``base_dir``."""
        try:
            if self.relative_to is not None:
                return path.absolute().relative_to(Path(self.relative_to).absolute()).as_posix()
            return (Path(base_dir.name) / path.relative_to(base_dir)).as_posix()
        except ValueError:
            return path.as_posix()

    def render(self, path: Path, source: str, problems: list[str]) -> tuple[dict, frozenset[str]] | None:
        """Load, render and validate one definition; None (with problems added) when it cannot be used."""
        definition = _load_definition(path, source, problems)
        if definition is None:
            return None
        template_name = _template_name(definition, source, problems)
        parameters = _base_parameters(definition, source, problems)
        usable = template_name is not None and parameters is not None
        if not isinstance(definition.get("pool", ""), str):
            usable = False
            problems.append(f"{source}: pool must be a pool name (a string); configured pools: "
                            f"{_names(self.pool_names)}")
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
        }
        template_display = self.display(self.templates_dir / template_name, self.templates_dir)
        try:
            text = template.render(context)
        except Exception as error:  # noqa: BLE001 - any failure inside a template is the template author's to fix
            problems.append(f"{source}: {self._template_error(error, template_display)}")
            return None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            lines = text.splitlines() or [""]
            near = lines[min(error.lineno, len(lines)) - 1].strip()[:80]
            problems.append(f"{source}: {template_display} rendered invalid JSON at output line "
                            f"{error.lineno}, column {error.colno}: {error.msg} (near `{near}`)")
            return None
        settings, setting_problems = check_job_settings(document)
        setting_problems += _check_job_structure(settings)
        pools: set[str] = set()
        _collect_pool_refs(settings, "", self.pool_names, pools, setting_problems)
        problems.extend(f"{source}: {problem}" for problem in setting_problems)
        return (settings, frozenset(pools)) if not setting_problems else None

    def _pool_function(self, definition: Mapping[str, Any]) -> Callable[..., str]:
        def pool(name: str | None = None) -> str:
            """``pool("general")`` or ``pool()`` (the definition's ``pool:``, else the default pool)."""
            configured = f"configured pools: {_names(self.pool_names)}"
            origin = ""
            if name is None and "pool" in definition:
                name, origin = definition["pool"], " (from pool: in the definition)"
            elif name is None:
                name, origin = self.default_pool, " (the default pool)"
                if name is None:
                    raise _TemplateProblem("pool(): no pool given and no default pool configured; set pool: "
                                           f"in the definition or configure a default pool; {configured}")
            if not isinstance(name, str) or name not in self.pool_names:
                raise _TemplateProblem(f"unknown pool {name!r}{origin}; {configured}")
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
        except jinja2.TemplateSyntaxError as error:
            return self._template_error(error, name)
        except jinja2.TemplateNotFound:
            available = sorted(
                path.relative_to(self.templates_dir).as_posix()
                for path in self.templates_dir.rglob("*") if path.is_file()
            )
            close = difflib.get_close_matches(name, available, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            templates = self.display(self.templates_dir, self.templates_dir)
            return f"template {name!r} not found in {templates}/; {hint}available: {_names(available)}"
        except (UnicodeDecodeError, OSError) as error:  # after TemplateNotFound, which is an OSError
            return f"template {name!r} cannot be read (it must be UTF-8 text): {error}"

    def _template_error(self, error: Exception, fallback_location: str) -> str:
        """``templates/x.json.j2:12: what went wrong``, using the innermost template frame for the line."""
        if isinstance(error, jinja2.TemplateSyntaxError) and error.filename:
            location = f"{self.display(Path(error.filename), self.templates_dir)}:{error.lineno}"
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
        if isinstance(error, _TemplateProblem):
            return f"{location}: {error}"
        if isinstance(error, jinja2.TemplateNotFound):
            return f"{location}: included template {error.name!r} not found"
        return f"{location}: {type(error).__name__}: {error}"

    def template_problems(self) -> list[str]:
        """One problem per unusable template, naming the definitions that need it."""
        problems = []
        for name, users in self.users.items():
            more = f" and {len(users) - 3} more" if len(users) > 3 else ""
            problems.append(f"{', '.join(users[:3])}{more}: {self.compiled[name]}")
        return problems


def _load_definition(path: Path, source: str, problems: list[str]) -> dict | None:
    try:
        # utf-8-sig: editors on Windows save JSON with a byte-order mark, which json.loads rejects.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(f"{source}: not UTF-8 text ({error.reason} at byte {error.start})")
        return None
    except OSError as error:
        problems.append(f"{source}: cannot read: {error.strerror}")
        return None
    try:
        if path.suffix.lower() == ".json":
            definition = json.loads(text, object_pairs_hook=_mapping_without_duplicates)
        else:
            definition = yaml.load(text, Loader=_DefinitionLoader)  # noqa: S506 - a SafeLoader subclass
    except json.JSONDecodeError as error:
        problems.append(f"{source}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}")
        return None
    except _DuplicateKeyError as error:
        problems.append(f"{source}: invalid JSON: {error}")
        return None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        what = getattr(error, "problem", None) or getattr(error, "context", None) or str(error)
        problems.append(f"{source}{where}: invalid YAML: {what}")
        return None
    if not isinstance(definition, dict):
        kind = "an empty file" if definition is None else type(definition).__name__
        problems.append(f"{source}: a job definition must be a mapping of keys (name, template, ...), "
                        f"got {kind}")
        return None
    bad_keys = [key for key in definition if not isinstance(key, str)]
    if bad_keys:
        problems.append(f"{source}: definition keys must be strings, got {', '.join(map(repr, bad_keys))}")
        return None
    return definition


class _DuplicateKeyError(ValueError):
    pass


def _mapping_without_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    """JSON keeps the last of duplicate keys silently; a duplicated par_ key would change a parameter."""
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        mapping[key] = value
    return mapping


class _DefinitionLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader (libyaml when available: 1,000 definitions must load fast) that rejects duplicate
    keys, which YAML otherwise resolves silently to the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in with `<<: *anchor` may be overridden; that is not a duplicate
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it with its line
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_DefinitionLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _template_name(definition: Mapping[str, Any], source: str, problems: list[str]) -> str | None:
    name = definition.get("template", DEFAULT_TEMPLATE)
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{source}: template must be a file name inside templates/, got {name!r}")
        return None
    path = PurePosixPath(name)
    if "\\" in name or path.is_absolute() or ".." in path.parts:
        problems.append(f"{source}: template {name!r} must be a relative path inside templates/ "
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
            problems.append(f"{source}: {key} must be a non-empty string (the notebook parameter name), "
                            f"got {name!r}")
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.append(f"{source}: {value_key} must be a string or a number, got {value!r}; "
                            "quote it to pass it as text")
        elif name in parameters:
            problems.append(f"{source}: {key} sets parameter {name!r}, already set by {set_by[name]}")
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
            close = difflib.get_close_matches(key, DEFAULT_TEMPLATE_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{source}: unknown key {key!r}; {hint}the default template ({DEFAULT_TEMPLATE}) "
                            f"accepts {allowed} and par_<x>/par_<x>_val pairs; "
                            "set template: <file> for others")
    for key, what in (("name", "the job name"), ("notebookpath", "the notebook's workspace path")):
        if not isinstance(definition.get(key), str) or not definition[key].strip():
            problems.append(f"{source}: {key} is required: a non-empty string, {what}")
    workers = definition.get("workers")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        problems.append(f"{source}: workers is required: a whole number ≥ 0 of worker nodes, got {workers!r}")
    if not isinstance(definition.get("description", ""), str):
        problems.append(f"{source}: description must be a string")
    return len(problems) == count


def _check_job_structure(settings: Any) -> list[str]:
    """What the provider schema cannot say: a job needs tasks, and task/cluster keys must line up."""
    if not isinstance(settings, dict):
        return []
    problems = []
    if not isinstance(settings.get("name"), str) or not settings["name"].strip():
        problems.append("name: required: a non-empty job name")
    tasks = _dicts(settings.get("tasks"))
    if not settings.get("tasks"):
        problems.append("tasks: a job needs at least one task")
    cluster_keys: list[str] = []
    for index, cluster in enumerate(_dicts(settings.get("job_clusters"))):
        key = cluster.get("job_cluster_key")
        if key in cluster_keys:
            problems.append(f"job_clusters[{index}].job_cluster_key: duplicate {key!r}")
        cluster_keys.append(key)
    task_indexes: dict[str, int] = {}
    for index, task in enumerate(tasks):
        key = task.get("task_key")
        if key in task_indexes:
            problems.append(f"tasks[{index}].task_key: duplicate {key!r}, also tasks[{task_indexes[key]}]; "
                            "task keys must be unique in a job")
        elif key is not None:
            task_indexes[key] = index
    graph: dict[str, set[str]] = {}
    for index, task in enumerate(tasks):
        cluster_key = task.get("job_cluster_key")
        if cluster_key is not None and cluster_key not in cluster_keys:
            defined = _names(key for key in cluster_keys if key is not None)
            problems.append(f"tasks[{index}].job_cluster_key: {cluster_key!r} is not defined in "
                            f"job_clusters; defined: {defined}")
        upstream = {dependency.get("task_key") for dependency in _dicts(task.get("depends_ons"))}
        for key in sorted(upstream - set(task_indexes) - {None}):
            problems.append(f"tasks[{index}] ({task.get('task_key')}): depends on {key!r}, which is not a "
                            f"task of this job; tasks: {_names(task_indexes)}")
        if task.get("task_key") is not None:
            graph.setdefault(task["task_key"], set()).update(upstream & set(task_indexes))
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        problems.append(f"tasks: dependencies form a cycle: {' → '.join(error.args[1])}")
    return problems


def _dicts(value: Any) -> list[dict]:
    """The objects of a list that may have failed its type check (already reported)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _collect_pool_refs(value: Any, path: str, pool_names: frozenset[str], found: set[str],
                       problems: list[str]) -> None:
    """Record the pools the settings reference; a literal sentinel must still name a configured pool."""
    if isinstance(value, str):
        if value.startswith(POOL_REF_PREFIX):
            name = value.removeprefix(POOL_REF_PREFIX)
            if name in pool_names:
                found.add(name)
            else:
                problems.append(f"{path}: unknown pool {name!r}; configured pools: {_names(pool_names)}")
        elif POOL_REF_PREFIX in value:
            problems.append(f"{path}: a pool reference must be the whole value, not part of a string")
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect_pool_refs(item, f"{path}.{key}" if path else str(key), pool_names, found, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect_pool_refs(item, f"{path}[{index}]", pool_names, found, problems)


def _names(names: Any) -> str:
    return ", ".join(sorted(map(str, names))) or "none"
