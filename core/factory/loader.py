"""Read and validate factory/ (ADF Studio's git format) before anything is declared.

``load_factory`` returns every publishable object already reshaped into the arguments of its azure-native
resource, with its references, or raises UserError listing every problem of the folder, each naming the
file (and the JSON path or config key).
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.config import PROJECT, StageConfig
from core.errors import UserError, described, shown
from core.factory import kinds as k
from core.factory.files import ARM_TYPES, FolderReader, ObjectFile
from core.factory.linked_services import OWNED_ANNOTATION, OwnedLinkedService, owned_linked_services
from core.factory.overrides import OverrideError, Template, apply_override, parse_value
from core.factory.references import (
    ObjectKey,
    Reference,
    find_cycles,
    find_references,
    notebook_paths,
    object_key,
    topological_order,
)
from core.factory.schema import Checker, object_fields
from core.notebooks import check_notebook_references

# What ADF Studio may write in factory/<name>.json besides global parameters: the dev factory's own settings.
# The stage's factory is the program's (name, region, identity, git link, tags come from config), so these
# are recognised and not applied; anything else is an error.
_FACTORY_SETTINGS = frozenset({"globalConfigurations", "repoConfiguration", "encryption", "publicNetworkAccess",
                               "purviewConfiguration"})


@dataclass(frozen=True)
class FactoryObject:
    """One object of factory/ (or one the program owns), ready to become an azure-native resource."""

    kind: k.Kind
    name: str
    """ADF name, as written in the file."""
    source: str
    """Where it comes from, for messages: factory/pipeline/pl_x.json, or the config key of an owned one."""
    arguments: dict[str, Any]
    """Resource arguments: ``{"properties": ...}``, or a flat kind's Python arguments; wire-named inside;
    override placeholders are Template objects until the component resolves them."""
    references: tuple[ObjectKey, ...]
    owned: bool = False
    as_written: tuple[str, ...] = ()
    """Why the typed azure-native resource cannot carry the object exactly (a property or type newer than the
    pinned SDK, pulumi/pulumi-azure-native#2006): it is then published as written, through ARM's generic
    resource, and ``arguments`` is ``{"properties": <the file's properties>}``. Empty: the typed resource."""

    parent: str | None = None
    """The name of the object it lives in (a managed private endpoint's managed virtual network)."""

    @property
    def key(self) -> ObjectKey:
        return object_key(self.kind, self.name)


@dataclass(frozen=True)
class FactoryFolder:
    """What factory/ and the stage config ask the program to publish."""

    objects: tuple[FactoryObject, ...]
    """Every object, the program's own linked services included, each after the objects it references."""
    global_parameters: dict[str, Any] | None
    """The factory file's globalParameters (with overrides), or None when factory/ has none."""
    trigger_states: dict[str, str]
    """Desired runtime state of each trigger in this stage, Started or Stopped."""
    ignored: tuple[str, ...] = ()
    """Files recognised and deliberately not published, each with the reason."""
    user_assigned_identities: tuple[str, ...] = ()
    """ARM ids of the user-assigned identities factory/'s credentials name (one spelling each): ADF accepts
    such a credential only from a factory the identity is assigned to, so the stage's factory carries them."""
    _by_key: dict[ObjectKey, FactoryObject] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_key.update({obj.key: obj for obj in self.objects})

    def get(self, key: ObjectKey) -> FactoryObject:
        return self._by_key[key]

    def of_kind(self, kind: k.Kind) -> list[FactoryObject]:
        return [obj for obj in self.objects if obj.kind is kind]

    def pipelines_run_by(self, trigger: FactoryObject) -> list[FactoryObject]:
        """The pipelines a trigger starts, and those they run through Execute Pipeline, by name."""
        seen: dict[ObjectKey, FactoryObject] = {}
        todo = [ref for ref in trigger.references if ref[0] == k.PIPELINE.folder]
        while todo:
            key = todo.pop()
            if key in seen or key not in self._by_key:
                continue
            seen[key] = self._by_key[key]
            todo += [ref for ref in seen[key].references if ref[0] == k.PIPELINE.folder]
        return [seen[key] for key in sorted(seen)]


class _Loader(FolderReader):
    def __init__(self, root: Path, config: StageConfig, job_names: Collection[str], relative_to: Path | None):
        super().__init__(root, relative_to)
        self.config = config
        self.jobs = job_names
        self.pools = [pool.name for pool in config.instance_pools]
        self.config_source = f"Pulumi.{config.stage}.yaml: {PROJECT}"

    # -- overrides --------------------------------------------------------------------------------------

    def overrides_for(self, folder: str, name: str, used: set[str]) -> list[tuple[str, str, Any]]:
        found = []
        keys = []
        for key, paths in self.config.data_factory_overrides.items():
            kind_name, _, object_name = key.partition("/")
            if kind_name == folder and object_name.lower() == name.lower():
                used.add(key)
                keys.append(key)
                found += [(key, path, value) for path, value in paths.items()]
        if len(keys) > 1:  # which one wins would depend on the order of the stack file's keys
            self.problems.append(f"{self.config_source}:dataFactoryOverrides: {', '.join(sorted(keys))} name the same "
                                 f"object (ADF names ignore case); merge them into one key, {folder}/{name}")
            return []
        return found

    def apply_overrides(self, source: str, properties: dict, overrides: list[tuple[str, str, Any]]) -> dict:
        if not overrides:
            return properties
        properties = copy.deepcopy(properties)
        for key, path, value in overrides:
            where = f"{self.config_source}:dataFactoryOverrides[{key}][{path}]"
            try:
                apply_override(properties, path, parse_value(value, pools=self.pools, jobs=self.jobs))
            except OverrideError as error:
                self.problems.append(f"{where}: {error} (in {source})")
        return properties

    def unused_overrides(self, used: set[str], objects: Mapping[ObjectKey, str], factory_name: str | None,
                         owned: Mapping[str, OwnedLinkedService]) -> None:
        for key in sorted(set(self.config.data_factory_overrides) - used):
            kind_name, slash, object_name = key.partition("/")
            where = f"{self.config_source}:dataFactoryOverrides[{key}]"
            if not slash or (kind_name not in k.BY_FOLDER and kind_name != k.FACTORY_FOLDER):
                folders = ", ".join(sorted([*k.BY_FOLDER, k.FACTORY_FOLDER]))
                self.problems.append(f"{where}: keys are <kind>/<object name> with kind one of {folders}")
            elif kind_name == k.LINKED_SERVICE.folder and object_name.lower() in owned:
                service = owned[object_name.lower()]
                self.problems.append(f"{where}: {service.name} is the program's own linked service "
                                     f"({PROJECT}:{service.config_key}); its values come from the stage config")
            else:
                names = [name for (folder, _), name in objects.items() if folder == kind_name]
                if kind_name == k.FACTORY_FOLDER and factory_name:
                    names = [factory_name]
                close = difflib.get_close_matches(object_name, names, n=1)
                hint = f"; did you mean {kind_name}/{close[0]}?" if close else ""
                self.problems.append(f"{where}: no {kind_name} named {object_name!r} in factory/{hint}")


def load_factory(
    factory_dir: Path,
    config: StageConfig,
    *,
    job_names: Collection[str] = (),
    relative_to: Path | None = None,
    notebooks: Collection[str] | None = None,
    problems: list[str] | None = None,
) -> FactoryFolder:
    """Read, check and reshape ``factory_dir`` for ``config``'s stage.

    ``job_names`` are the jobs the program declares (for ``${jobIds.<name>}``); ``relative_to`` is the
    directory file names in messages are shown relative to (default: the folder's parent). ``notebooks`` are
    the workspace paths the stage deploys: each notebook activity must run one of them or one of
    ``externalNotebooks`` (None: not checked). Every problem is
    raised together as a UserError, or, with ``problems``, appended to it: the folder returned then holds
    only what could be read, and must not be declared until the run's problems are empty.
    """
    loader = _Loader(Path(factory_dir), config, job_names, Path(relative_to) if relative_to else None)
    owned = {service.name.lower(): service for service in owned_linked_services(config)}
    files, factory_files = loader.walk()

    seen: dict[ObjectKey, str] = {}
    readable: list[ObjectFile] = []
    for file in files:
        if not loader.read(file, f"Microsoft.DataFactory/factories/{ARM_TYPES[file.kind.folder]}"):
            continue
        key = object_key(file.kind, file.document["name"])
        if key in seen:
            loader.problems.append(f"{file.source}: the {file.kind.label} {file.document['name']!r} is also "
                                   f"defined in {seen[key]} (ADF names ignore case); keep one")
            continue
        seen[key] = file.source
        readable.append(file)

    used: set[str] = set()
    objects: dict[ObjectKey, FactoryObject] = {}
    reference_paths: dict[ObjectKey, list[Reference]] = {}
    names: dict[ObjectKey, str] = {}
    for file in readable:
        name = file.document["name"]
        key = object_key(file.kind, name)
        names[key] = name
        if file.kind is k.LINKED_SERVICE and key[1] in owned:
            _owned_file(loader, file, owned[key[1]])
            continue
        if file.kind is k.LINKED_SERVICE and _marked(file.document["properties"]):
            loader.problems.append(
                f"{file.source}: exported as a program-owned linked service, but the program owns none named "
                f"{name!r} (now: {', '.join(s.name for s in owned.values())}); run the export again, which removes it"
            )
            continue
        properties = {item: value for item, value in file.document["properties"].items()
                      if item not in file.kind.read_only}
        properties = loader.apply_overrides(file.source, properties, loader.overrides_for(file.kind.folder, name, used))
        references, reference_problems = find_references(properties, "properties")
        loader.problems += [f"{file.source}: {problem}" for problem in reference_problems]
        if file.parent is not None:  # inside its parent's folder: published after the parent
            parent_kind = k.BY_FOLDER[file.kind.parent]
            references.append(Reference(parent_kind, file.parent, f"its folder {parent_kind.folder}/{file.parent}/"))
        if file.kind.typed:
            checker = Checker()
            reshaped = checker.check_kind(file.kind, properties, "properties")
            loader.problems += [f"{file.source}: {problem}" for problem in checker.problems]
            as_written = tuple(checker.inexpressible)
        else:
            reshaped = None
            loader.problems += [f"{file.source}: {problem}" for problem in _untyped_problems(properties)]
            as_written = (f"azure-native has no typed resource for a {file.kind.label}",)
        if file.kind is k.LINKED_SERVICE:
            _check_databricks_cluster(loader, file.source, properties)
        reference_paths[key] = references
        # What the typed resource cannot carry exactly is published as written: the folder is taken as ADF
        # Studio wrote it, and nothing is dropped on the way.
        arguments = {"properties": properties} if as_written else _arguments(file.kind, reshaped)
        objects[key] = FactoryObject(file.kind, name, file.source, arguments,
                                     tuple(sorted({ref.key for ref in references})),
                                     as_written=as_written, parent=file.parent)

    for service in owned.values():
        key = object_key(k.LINKED_SERVICE, service.name)
        checker = Checker()
        reshaped = checker.check_kind(k.LINKED_SERVICE, service.document["properties"], "properties")
        if checker.problems:  # the program's own JSON no longer fits the pinned SDK: a bug, not the user's
            raise RuntimeError(f"program-owned linked service {service.name}: {checker.problems}")
        references, _ = find_references(service.document["properties"], "properties")
        reference_paths[key] = references
        names[key] = service.name
        objects[key] = FactoryObject(k.LINKED_SERVICE, service.name, f"{PROJECT}:{service.config_key}",
                                     _arguments(k.LINKED_SERVICE, reshaped),
                                     tuple(sorted({ref.key for ref in references})), owned=True)

    global_parameters, factory_name = _factory_file(loader, factory_files, used)
    loader.unused_overrides(used, names, factory_name, owned)
    _check_references(loader, objects, reference_paths, names)
    # A built-in object (the default integration runtime) is a dependency only where factory/ configures it.
    objects = {key: replace(obj, references=tuple(ref for ref in obj.references if ref in objects))
               for key, obj in objects.items()}
    for cycle in find_cycles({key: obj.references for key, obj in objects.items()}):
        shown = " -> ".join(f"{folder}/{names[(folder, lower)]}" for folder, lower in cycle)
        sources = sorted({objects[node].source for node in cycle})
        loader.problems.append(f"{sources[0]}: reference cycle {shown} (also in {', '.join(sources[1:]) or 'itself'}); "
                               "ADF objects cannot depend on each other in a circle")
    trigger_states = _trigger_states(loader, objects)
    identities = _user_assigned_identities(loader, objects)
    if notebooks is not None:
        # Checked in every stage: a git-linked dev factory runs the same pipelines on dev's workspace.
        references = [(f"{obj.source}: {where}", path) for obj in objects.values() if obj.kind is k.PIPELINE
                      for where, path in notebook_paths(obj.arguments, "")]
        loader.problems += check_notebook_references(references, deployed=notebooks,
                                                     external=config.external_notebooks)
    if loader.problems:
        if problems is None:
            raise UserError(loader.problems)
        problems += loader.problems
        return FactoryFolder((), global_parameters, trigger_states, tuple(loader.ignored))
    order = topological_order({key: obj.references for key, obj in objects.items()})
    return FactoryFolder(tuple(objects[key] for key in order), global_parameters, trigger_states,
                         tuple(loader.ignored), identities)


def _arguments(kind: k.Kind, reshaped: Any) -> dict[str, Any]:
    if not kind.flat:
        return {"properties": reshaped}
    from core.factory.schema import flat_arguments

    python = flat_arguments(kind)
    return {python[wire]: value for wire, value in reshaped.items() if wire in python}


def _untyped_problems(properties: dict) -> list[str]:
    """What can be checked of a kind azure-native has no typed resource for (a managed virtual network)."""
    problems = []
    for key, value in properties.items():
        if key == "preventDataExfiltration" and not isinstance(value, bool):
            problems.append(f"properties.preventDataExfiltration: true or false, got {described(value)}")
    return problems


def _owned_file(loader: _Loader, file: ObjectFile, service: OwnedLinkedService) -> None:
    """A factory/ file named like a program-owned linked service: only the export command's output is accepted."""
    properties = file.document["properties"]
    if _marked(properties) and properties.get("type") == service.adf_type:
        loader.ignored.append(f"{file.source}: exported by `export-linked-services`; the program publishes "
                              f"its own {service.name} with this stage's values in its place")
        return
    loader.problems.append(
        f"{file.source}: {service.name!r} is the name of the program's own {service.adf_type} linked service "
        f"({PROJECT}:{service.config_key}); write this file with `python -m ops export-linked-services`, "
        f"or rename this linked service (or set {service.config_key} to another name)"
    )


def _marked(properties: dict) -> bool:
    """Whether a linked service file carries the export command's mark."""
    annotations = properties.get("annotations")
    return isinstance(annotations, list) and OWNED_ANNOTATION in annotations


def _check_databricks_cluster(loader: _Loader, source: str, properties: Any) -> None:
    """``properties`` as the file has them (typeProperties nested)."""
    if not isinstance(properties, dict) or str(properties.get("type", "")).lower() != "azuredatabricks":
        return
    if loader.config.data_factory_allow_job_clusters:
        return
    settings = properties.get("typeProperties") if isinstance(properties.get("typeProperties"), dict) else {}
    if not any(_is_given(settings.get(key)) for key in ("instancePoolId", "existingClusterId")):
        loader.problems.append(
            f"{source}: properties.typeProperties: an AzureDatabricks linked service without instancePoolId or "
            "existingClusterId starts a new job cluster for every activity (4-5 minutes each); set instancePoolId "
            f"(e.g. a Key Vault reference to the pool's secret), use the program's "
            f"{loader.config.data_factory_databricks_linked_service!r}, or set {PROJECT}:dataFactoryAllowJobClusters"
        )


def _is_given(value: Any) -> bool:
    """A pool or cluster id: a non-empty literal, or an expression or Key Vault reference (an object)."""
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, dict):
        return _is_given(value.get("value")) if value.get("type") == "Expression" else bool(value)
    return value is not None


def _check_references(loader: _Loader, objects: Mapping[ObjectKey, FactoryObject],
                      reference_paths: Mapping[ObjectKey, list[Reference]], names: Mapping[ObjectKey, str]) -> None:
    for key, references in reference_paths.items():
        for reference in references:
            if reference.key in objects or reference.key in k.BUILT_IN:
                continue
            candidates = [names[other] for other in objects if other[0] == reference.kind.folder]
            close = difflib.get_close_matches(reference.name, candidates, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            loader.problems.append(
                f"{objects[key].source}: {reference.path}: refers to the {reference.kind.label} {reference.name!r}, "
                f"which is not in factory/{reference.kind.folder}/ nor one of the program's{hint}"
            )


def _factory_file(loader: _Loader, paths: list[Path], used: set[str]) -> tuple[dict[str, Any] | None, str | None]:
    if not paths:
        return None, None
    if len(paths) > 1:
        loader.problems.append(f"{loader.show(paths[1])}: a second factory file beside {loader.show(paths[0])}; "
                               "factory/factory/ holds the one file of the factory")
        return None, None
    file = ObjectFile(None, paths[0], loader.show(paths[0]))
    if not loader.read(file, "Microsoft.DataFactory/factories"):
        return None, None
    name = file.document["name"]
    properties = loader.apply_overrides(file.source, file.document["properties"],
                                        loader.overrides_for(k.FACTORY_FOLDER, name, used))
    for key in sorted(set(properties) - _FACTORY_SETTINGS - {"globalParameters"}):
        loader.problems.append(f"{file.source}: properties.{key}: unknown factory property; the factory file "
                               f"holds globalParameters (published) and {', '.join(sorted(_FACTORY_SETTINGS))} "
                               "(the dev factory's settings; each stage's come from its config)")
    parameters = properties.get("globalParameters")
    if parameters is None:
        return None, name
    from pulumi_azure_native import datafactory

    checker = Checker()
    shape = object_fields(datafactory.FactoryArgs)["globalParameters"]
    checked = checker.check(parameters, shape, "properties.globalParameters")
    loader.problems += [f"{file.source}: {problem}" for problem in checker.problems]
    # Global parameters travel with the factory's own (typed) resource: there is no as-written way round it.
    loader.problems += [f"{file.source}: {problem}; the factory resource cannot publish it"
                        for problem in checker.inexpressible]
    if isinstance(checked, dict):
        loader.problems += [f"{file.source}: {problem}" for problem in _global_parameter_problems(checked)]
    return checked, name


# ADF's global parameter types (written in any case) and what a literal value of each must be.
_GLOBAL_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "array": (list,), "object": (dict,),
}


def _global_parameter_problems(parameters: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, parameter in parameters.items():
        if not isinstance(parameter, dict):
            continue  # the SDK check above reported it
        where = f"properties.globalParameters.{name}"
        kind, value = parameter.get("type"), parameter.get("value")
        if not isinstance(kind, str) or kind.lower() not in _GLOBAL_TYPES:
            problems.append(f"{where}.type: must be one of String, Int, Float, Bool, Array, Object, got {shown(kind)}")
            continue
        allowed = _GLOBAL_TYPES[kind.lower()]
        literal = not isinstance(value, Template)  # a placeholder's value is known only at deployment
        wrong_bool = isinstance(value, bool) and bool not in allowed
        if literal and value is not None and (not isinstance(value, allowed) or wrong_bool):
            problems.append(f"{where}.value: a {kind} parameter needs {_GLOBAL_WORDS[kind.lower()]}, "
                            f"got {described(value)}")
    return problems


_GLOBAL_WORDS = {"string": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
                 "array": "a list", "object": "an object"}


# /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>
_IDENTITY_ID = re.compile(r"/subscriptions/[^/\s]+/resourceGroups/[^/\s]+/providers/"
                          r"Microsoft\.ManagedIdentity/userAssignedIdentities/[^/\s]+", re.IGNORECASE)


def _user_assigned_identities(loader: _Loader, objects: Mapping[ObjectKey, FactoryObject]) -> tuple[str, ...]:
    found = set()
    for obj in objects.values():
        properties = obj.arguments.get("properties")
        if obj.kind is not k.CREDENTIAL or not isinstance(properties, dict):
            continue
        if str(properties.get("type", "")).lower() != "managedidentity":
            continue
        # Typed: typeProperties flattened into properties; as written: nested as in the file.
        settings = properties.get("typeProperties") if obj.as_written else properties
        resource_id = settings.get("resourceId") if isinstance(settings, dict) else None
        if resource_id is None:
            continue  # the factory's own (system-assigned) identity
        if not isinstance(resource_id, str) or not _IDENTITY_ID.fullmatch(resource_id):
            loader.problems.append(
                f"{obj.source}: properties.typeProperties.resourceId: the ARM id of a user-assigned identity "
                "(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/"
                f"userAssignedIdentities/<name>), the same in every stage or set per stage by an override; got "
                f"{described(resource_id)}")
            continue
        found.add(resource_id)
    # ARM ids ignore case: one identity however it is written, kept in one (deterministic) spelling.
    spelling: dict[str, str] = {}
    for resource_id in sorted(found):
        spelling.setdefault(resource_id.lower(), resource_id)
    return tuple(sorted(spelling.values(), key=str.lower))


def _trigger_states(loader: _Loader, objects: Mapping[ObjectKey, FactoryObject]) -> dict[str, str]:
    triggers = {key[1]: obj.name for key, obj in objects.items() if obj.kind is k.TRIGGER}
    default = "Started" if loader.config.data_factory_triggers_started else "Stopped"
    states = {name: default for name in triggers.values()}
    for name, state in loader.config.data_factory_trigger_states.items():
        if name.lower() in triggers:
            states[triggers[name.lower()]] = state
            continue
        close = difflib.get_close_matches(name, list(triggers.values()), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"triggers: {', '.join(sorted(triggers.values())) or 'none'}"
        loader.problems.append(f"{loader.config_source}:dataFactoryTriggerStates[{name}]: no trigger named "
                               f"{name!r} in factory/trigger/; {hint}")
    for obj in objects.values():
        runs_a_pipeline = any(reference[0] == k.PIPELINE.folder for reference in obj.references)
        if obj.kind is k.TRIGGER and states[obj.name] == "Started" and not runs_a_pipeline:
            # ADF Studio saves such a trigger, but ADF refuses to start it: say so now, not at `pulumi up`.
            loader.problems.append(
                f"{obj.source}: the trigger runs no pipeline, so ADF cannot start it, and this stage wants it "
                f"started; add a pipeline to it, or set {loader.config_source}:dataFactoryTriggerStates "
                f"{{{obj.name}: Stopped}}")
    return dict(sorted(states.items()))
