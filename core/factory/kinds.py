"""The kinds of object in ADF's git format: the folder ADF Studio writes each to and how each is published.

One table, so the loader, the validator, the reference graph and the declarer agree on every kind.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One kind of ADF object that the program publishes as an azure-native resource."""

    folder: str
    """Folder under factory/ (ADF Studio's spelling), also the kind's name in override keys."""
    label: str
    """What a user calls it, for messages."""
    reference_type: str
    """The `type` of a `{"referenceName", "type"}` object pointing at one ("" if nothing can)."""
    resource: str
    """azure-native datafactory resource class."""
    name_arg: str
    """The resource argument that carries the ADF name."""
    role: str
    """Short word in the Pulumi logical name, e.g. `pl` in `factory-objects-pl-jit_chain`."""
    flat: bool
    """True: the file's `properties` become the resource's own arguments (Pipeline, ChangeDataCapture);
    False: they become its `properties` argument, a union chosen by `type`."""
    base_keys: frozenset[str]
    """Keys that sit beside `typeProperties` in `properties` (ADF's base type). azure-native flattens
    `typeProperties` next to them, so a `typeProperties` key with one of these names would land on the
    base property: it cannot be published (see schema.py)."""
    read_only: frozenset[str] = frozenset()
    """Keys ADF Studio writes that the service sets itself; never published (documented in the README)."""


LINKED_SERVICE = Kind(
    "linkedService", "linked service", "LinkedServiceReference", "LinkedService", "linked_service_name", "ls",
    flat=False,
    base_keys=frozenset({"type", "version", "connectVia", "description", "parameters", "annotations"}),
)
DATASET = Kind(
    "dataset", "dataset", "DatasetReference", "Dataset", "dataset_name", "ds", flat=False,
    base_keys=frozenset({"type", "description", "structure", "schema", "linkedServiceName", "parameters",
                         "annotations", "folder"}),
)
DATA_FLOW = Kind(
    "dataflow", "data flow", "DataFlowReference", "DataFlow", "data_flow_name", "df", flat=False,
    base_keys=frozenset({"type", "description", "annotations", "folder"}),
)
PIPELINE = Kind(
    "pipeline", "pipeline", "PipelineReference", "Pipeline", "pipeline_name", "pl", flat=True,
    base_keys=frozenset(), read_only=frozenset({"lastPublishTime"}),
)
TRIGGER = Kind(
    "trigger", "trigger", "TriggerReference", "Trigger", "trigger_name", "tr", flat=False,
    base_keys=frozenset({"type", "description", "annotations", "pipelines", "pipeline"}),
    # The stage's config decides whether a trigger runs (dataFactoryTriggersStarted), not dev's state.
    read_only=frozenset({"runtimeState"}),
)
INTEGRATION_RUNTIME = Kind(
    "integrationRuntime", "integration runtime", "IntegrationRuntimeReference", "IntegrationRuntime",
    "integration_runtime_name", "ir", flat=False,
    base_keys=frozenset({"type", "description", "managedVirtualNetwork"}),
    read_only=frozenset({"state"}),
)
CREDENTIAL = Kind(
    "credential", "credential", "CredentialReference", "CredentialOperation", "credential_name", "cred",
    flat=False, base_keys=frozenset({"type", "description", "annotations"}),
)
CHANGE_DATA_CAPTURE = Kind(
    "adfcdc", "change data capture", "", "ChangeDataCapture",
    "change_data_capture_name", "cdc", flat=True, base_keys=frozenset(),
)

# In dependency order of the usual case, which is also the order of the plan and of messages.
KINDS: tuple[Kind, ...] = (
    INTEGRATION_RUNTIME, CREDENTIAL, LINKED_SERVICE, DATASET, DATA_FLOW, PIPELINE, TRIGGER, CHANGE_DATA_CAPTURE,
)
BY_FOLDER = {kind.folder: kind for kind in KINDS}
BY_REFERENCE_TYPE = {kind.reference_type: kind for kind in KINDS if kind.reference_type}
# Beside typeProperties in every activity; a typeProperties key with one of these names cannot be published.
ACTIVITY_BASE_KEYS = frozenset({"name", "type", "description", "state", "onInactiveMarkAs", "dependsOn",
                                "userProperties", "linkedServiceName", "policy", "inputs", "outputs"})

FACTORY_FOLDER = "factory"
"""factory/<name>.json: the factory's own document; its globalParameters are published with the factory."""

# Kinds ADF Studio writes that azure-native 3.x cannot publish: refused with one message naming the file.
REFUSED_FOLDERS = {
    "managedVirtualNetwork": (
        "cannot be published: azure-native 3.x has no ManagedVirtualNetwork resource, and a managed private "
        "endpoint needs its network first. Create the network outside factory/, or remove this file"
    ),
}

# References to things that are not objects of this factory (Synapse artifacts reached through a linked
# service); they are neither dependencies nor missing objects.
EXTERNAL_REFERENCE_TYPES = frozenset({
    "NotebookReference", "SparkJobDefinitionReference", "BigDataPoolReference", "SparkConfigurationReference",
})
# A managed integration runtime points at the factory's managed network, which cannot be published.
REFUSED_REFERENCE_TYPES = {"ManagedVirtualNetworkReference": "managed virtual network"}

# What else ADF Studio, its npm build tools and people keep in the root folder: recognised, never published.
IGNORED_ROOT_FILES = {
    "publish_config.json": "ADF Studio's publish settings (publish branch)",
    "arm-template-parameters-definition.json": "ADF Studio's ARM template parameterisation",
    "package.json": "@microsoft/azure-data-factory-utilities build settings",
    "package-lock.json": "@microsoft/azure-data-factory-utilities build settings",
}
IGNORED_ROOT_FOLDERS = {
    "templates": "ADF Studio's saved pipeline templates (the template gallery, not factory objects)",
    "node_modules": "npm packages of the ADF build tools",
}
