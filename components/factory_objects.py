"""The objects of factory/, published into a factory that is not git-linked, in the order their references imply.

Each object becomes the matching azure-native resource with the arguments core.factory shaped from its file
(typeProperties flattened, per-stage overrides applied); every reference becomes a ``depends_on``, so Pulumi
creates a linked service before the datasets that use it and deletes in the reverse order. Logical names use
the lower-cased ADF name (ADF names ignore case) and every object is deleted before it is replaced, so a
case-only rename cannot create the "new" object and then delete it as the old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import datafactory, resources

from core.factory import FactoryFolder, FactoryObject, Placeholder, Template
from core.factory.files import ARM_TYPES
from core.factory.kinds import BUILT_IN, PIPELINE, TRIGGER
from core.factory.references import ObjectKey
from dynamic_providers.trigger_gate import TriggerGate, TriggerGateArgs, trigger_gate

# ARM's generic resource, for objects the typed resources cannot carry as written (FactoryObject.as_written).
GENERIC_RESOURCE = "azure-native:resources:Resource"
# The API version of ADF's objects that ADF Studio writes and azure-native's typed resources use.
DATAFACTORY_API_VERSION = "2018-06-01"


@dataclass(frozen=True)
class FactoryValues:
    """The stage's own values that factory/ placeholders (``${vaultUri}``, ``${jobIds.<name>}``, ...) stand for."""

    stage: str
    """The stage (stack) name."""
    vault_uri: pulumi.Input[str]
    """https URI of the stage's Key Vault."""
    key_vault_name: pulumi.Input[str]
    """Name of the stage's Key Vault."""
    workspace_url: pulumi.Input[str]
    """https URL of the stage's Databricks workspace."""
    workspace_resource_id: pulumi.Input[str]
    """ARM id of the stage's Databricks workspace."""
    pool_ids: Mapping[str, pulumi.Input[str]]
    """Instance pool id by pool name."""
    job_ids: pulumi.Input[Mapping[str, str]]
    """Databricks job id by job name."""

    def value(self, placeholder: Placeholder) -> pulumi.Input[Any]:
        group, _, member = placeholder.name.partition(".")
        if group == "poolIds":
            return self.pool_ids[member]
        if group == "jobIds":
            return pulumi.Output.from_input(self.job_ids).apply(lambda ids: ids[member])
        return {
            "stage": self.stage,
            "vaultUri": self.vault_uri,
            "keyVaultName": self.key_vault_name,
            "workspaceUrl": self.workspace_url,
            "workspaceResourceId": self.workspace_resource_id,
        }[group]

    def resolve(self, value: Any) -> Any:
        """``value`` with every Template replaced by the stage's value (an Output where only deployment knows it)."""
        if isinstance(value, Template):
            if value.single is not None:
                return self.value(value.single)
            return pulumi.Output.concat(*(part if isinstance(part, str) else self.value(part) for part in value.parts))
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value


@dataclass(frozen=True)
class TriggerTarget:
    """One published trigger as its runtime-state provider sees it, known before anything is declared."""

    trigger_name: str
    """ADF name of the trigger."""
    factory_name: pulumi.Output[str]
    """Factory holding it."""
    resource_group_name: pulumi.Input[str]
    """Group of the factory."""
    subscription_id: pulumi.Input[str]
    """Subscription of the factory."""
    desired_state: str
    """Started or Stopped, from dataFactoryTriggersStarted / dataFactoryTriggerStates."""
    fingerprint: pulumi.Output[str]
    """sha256 of the trigger's published definition and those of the pipelines it runs (Execute Pipeline
    chains included): it changes exactly when one of them does."""
    pipeline_names: tuple[str, ...]
    """ADF names of the pipelines it runs, directly or through Execute Pipeline."""


@dataclass(frozen=True)
class TriggerRuntime(TriggerTarget):
    """A TriggerTarget with the resources its start and stop must be ordered around."""

    trigger: pulumi.CustomResource
    """The trigger resource (created stopped, as ADF creates every trigger), typed or generic."""
    pipelines: tuple[pulumi.CustomResource, ...]
    """The pipelines it runs, in pipeline_names' order."""


def _placeholders(value: Any, found: dict[str, Placeholder]) -> Any:
    """``value`` as plain JSON with each Template as its text, collecting the placeholders it holds."""
    if isinstance(value, Template):
        parts = []
        for part in value.parts:
            if isinstance(part, Placeholder):
                found[part.name] = part
                parts.append({"placeholder": part.name})
            else:
                parts.append(part)
        return {"template": parts}
    if isinstance(value, dict):
        return {key: _placeholders(item, found) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeholders(item, found) for item in value]
    return value


def fingerprint(definitions: Any, values: FactoryValues) -> pulumi.Output[str]:
    """sha256 of ``definitions`` as published: their text with placeholders, and the placeholders' values.

    Hashing the templates and the few values they use, rather than lifting whole definitions into Outputs,
    keeps a factory of hundreds of objects as fast to plan as its bare resources (benchmarks/factory_scale.py).
    """
    found: dict[str, Placeholder] = {}
    text = json.dumps(_placeholders(definitions, found), sort_keys=True, separators=(",", ":"))
    names = sorted(found)

    def digest(resolved: list[Any]) -> str:
        payload = text + json.dumps(dict(zip(names, resolved, strict=True)), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    return pulumi.Output.all(*(values.value(found[name]) for name in names)).apply(digest)


@dataclass(frozen=True)
class FactoryObjectsArgs:
    folder: FactoryFolder
    """Validated factory/ (core.factory.load_factory)."""
    publish: bool
    """False in a git-linked stage: git mode owns the objects and nothing is declared."""
    factory_name: pulumi.Input[str]
    """Factory to publish into."""
    resource_group_name: pulumi.Input[str]
    """Group of the factory."""
    subscription_id: pulumi.Input[str]
    """Subscription of the factory (trigger start and stop go through its ARM API)."""
    values: FactoryValues
    """The stage's values for override placeholders."""
    linked_services: Mapping[ObjectKey, pulumi.Resource]
    """The program's own published linked services, by object key, for objects that reference them."""
    deployer_tenant_id: pulumi.Input[str]
    """Tenant of the deploying identity, which starts and stops the triggers."""
    deployer_client_id: pulumi.Input[str]
    """Application (client) id of the deploying identity."""
    deployer_credential: str
    """How it authenticates: environment, managed_identity or azure_cli."""
    azure_authority_host: str | None = None
    """Entra ID authority for sovereign clouds (None: the public cloud); the ARM endpoint follows from it."""


class FactoryObjects(pulumi.ComponentResource):
    pipeline_names: list[str]
    """ADF names of the pipelines factory/ holds, sorted (in a git-linked stage, ADF Studio publishes them)."""
    triggers: dict[str, TriggerRuntime]
    """Per published trigger, what its runtime-state provider needs (empty in a git-linked stage)."""
    resources: dict[ObjectKey, pulumi.CustomResource]
    """Each published object's resource, by (kind folder, lower-cased name)."""
    published_as_written: dict[str, list[str]]
    """``<kind>/<name>`` of each object published through ARM's generic resource, with why the typed
    azure-native resource could not carry it (empty when every object is typed)."""

    def __init__(self, name: str, args: FactoryObjectsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("databricks-platform:datafactory:FactoryObjects", name, None, opts)
        folder = args.folder
        self.resources = {}
        self.published_as_written = {}
        declared: dict[ObjectKey, pulumi.Resource] = dict(args.linked_services)
        triggers = folder.of_kind(TRIGGER) if args.publish else []
        runs = {trigger.key: folder.pipelines_run_by(trigger) for trigger in triggers}
        targets = {trigger.key: self._target(trigger, runs[trigger.key], args) for trigger in triggers}
        # The gates come first: a trigger and every pipeline it runs wait for their gate's stopper, because ADF
        # refuses to change a started trigger; the runtime state is set once they are deployed.
        gates = {key: self._gate(name, target, args) for key, target in targets.items()}
        gated: dict[ObjectKey, list[pulumi.Resource]] = {}
        for key, gate in gates.items():
            for gated_key in (key, *(pipeline.key for pipeline in runs[key])):
                gated.setdefault(gated_key, []).extend(gate.depends_on)
        for obj in folder.objects if args.publish else ():  # each after what it references
            if obj.owned:
                continue
            opts = pulumi.ResourceOptions(
                parent=self,
                depends_on=[*(declared[key] for key in obj.references), *gated.get(obj.key, ())],
                delete_before_replace=True,
                # An object moves between the typed and the generic resource when its file gains or loses what
                # the typed one cannot carry. Under its old type it would be a second resource, created first
                # and deleted last: that delete would remove the very object just written. The alias makes it
                # one resource that is replaced in place (deleted, then created, as every object here is).
                aliases=[pulumi.Alias(type_=GENERIC_RESOURCE if not obj.as_written
                                      else f"azure-native:datafactory:{obj.kind.resource}")] if obj.kind.typed else [],
                # What ADF cannot delete (a managed network, the default runtime) goes with its factory.
                retain_on_delete=not obj.kind.deletable or obj.key in BUILT_IN,
            )
            logical = f"{name}-{obj.kind.role}-{obj.name.lower()}"
            if obj.as_written:
                resource = _as_written(logical, obj, args, opts)
                self.published_as_written[f"{obj.kind.folder}/{obj.name}"] = list(obj.as_written)
                pulumi.log.info(f"{obj.source}: published as written through ARM's generic resource: "
                                f"{'; '.join(obj.as_written)}", resource=resource)
            else:
                resource = getattr(datafactory, obj.kind.resource)(
                    logical,
                    **{obj.kind.name_arg: obj.name},
                    **({obj.kind.parent_arg: obj.parent} if obj.kind.parent_arg else {}),
                    factory_name=args.factory_name,
                    resource_group_name=args.resource_group_name,
                    **args.values.resolve(obj.arguments),
                    opts=opts,
                )
            self.resources[obj.key] = resource
            declared[obj.key] = resource

        self.triggers = {}
        for key, target in targets.items():
            runtime = TriggerRuntime(**vars(target), trigger=self.resources[key],
                                     pipelines=tuple(self.resources[pipeline.key] for pipeline in runs[key]))
            gates[key].runtime_state(runtime.trigger, runtime.pipelines)
            self.triggers[target.trigger_name] = runtime
        self.pipeline_names = sorted(obj.name for obj in folder.of_kind(PIPELINE))
        self.register_outputs({"pipeline_names": self.pipeline_names,
                               "published_as_written": self.published_as_written})

    def _gate(self, name: str, target: TriggerTarget, args: FactoryObjectsArgs) -> TriggerGate:
        return trigger_gate(
            f"{name}-{TRIGGER.role}-{target.trigger_name.lower()}",
            TriggerGateArgs(
                subscription_id=target.subscription_id,
                resource_group_name=target.resource_group_name,
                factory_name=target.factory_name,
                trigger_name=target.trigger_name,
                desired_state=target.desired_state,
                fingerprint=target.fingerprint,
                tenant_id=args.deployer_tenant_id,
                client_id=args.deployer_client_id,
                credential=args.deployer_credential,
                azure_authority_host=args.azure_authority_host,
            ),
            parent=self,
        )

    @staticmethod
    def _target(trigger: FactoryObject, pipelines: Sequence[FactoryObject], args: FactoryObjectsArgs) -> TriggerTarget:
        definitions = {
            "trigger": trigger.arguments,
            "pipelines": {pipeline.name: pipeline.arguments for pipeline in pipelines},
        }
        return TriggerTarget(
            trigger_name=trigger.name,
            factory_name=pulumi.Output.from_input(args.factory_name),
            resource_group_name=args.resource_group_name,
            subscription_id=args.subscription_id,
            desired_state=args.folder.trigger_states[trigger.name],
            fingerprint=fingerprint(definitions, args.values),
            pipeline_names=tuple(pipeline.name for pipeline in pipelines),
        )


def _as_written(logical: str, obj: FactoryObject, args: FactoryObjectsArgs,
                opts: pulumi.ResourceOptions) -> resources.Resource:
    """``obj`` through ARM's generic resource: its properties reach ADF exactly as the file (and overrides) give
    them, where the typed resource would drop or collide on some (``obj.as_written`` says which)."""
    parent_path: list[pulumi.Input[str]] = ["factories/", args.factory_name]
    if obj.parent is not None:  # e.g. factories/<factory>/managedVirtualNetworks/default
        parent_path += ["/", ARM_TYPES[obj.kind.parent], "/", obj.parent]
    return resources.Resource(
        logical,
        resource_provider_namespace="Microsoft.DataFactory",
        parent_resource_path=pulumi.Output.concat(*parent_path),
        resource_type=ARM_TYPES[obj.kind.folder].rsplit("/", 1)[-1],
        resource_name_=obj.name,
        resource_group_name=args.resource_group_name,
        api_version=DATAFACTORY_API_VERSION,
        properties=args.values.resolve(obj.arguments["properties"]),
        opts=opts,
    )
