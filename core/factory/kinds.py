"""The kinds of object in ADF's git format: the folder ADF Studio writes each to and how each is published.

One table, so the loader, the validator, the reference graph and the declarer agree on every kind.
"""

from __future__ import annotations

import re
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
    name_rule: str = "object"
    """Which of ADF's naming rules (NAME_RULES) the object's name follows."""
    parent: str = ""
    """For an object that lives inside another (a managed private endpoint in its managed virtual network):
    the folder of its parent kind; its files sit in ``<parent folder>/<parent name>/<folder>/``."""
    parent_arg: str = ""
    """The typed resource's argument that carries the parent's name."""
    deletable: bool = True
    """False where ADF has no delete for the kind: the object then goes with its factory, and removing its
    file only stops managing it."""

    @property
    def typed(self) -> bool:
        """Whether azure-native has a typed resource for the kind (else it is published as written)."""
        return bool(self.resource)


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
    read_only=frozenset({"state"}), name_rule="runtime",
)
CREDENTIAL = Kind(
    "credential", "credential", "CredentialReference", "CredentialOperation", "credential_name", "cred",
    flat=False, base_keys=frozenset({"type", "description", "annotations"}),
)
CHANGE_DATA_CAPTURE = Kind(
    "adfcdc", "change data capture", "", "ChangeDataCapture",
    "change_data_capture_name", "cdc", flat=True, base_keys=frozenset(),
)

# azure-native 3.x has no ManagedVirtualNetwork resource: the network is published as written, through ARM's
# generic resource. ADF has no delete for it either (it goes with its factory).
MANAGED_VIRTUAL_NETWORK = Kind(
    "managedVirtualNetwork", "managed virtual network", "ManagedVirtualNetworkReference", "", "", "mvnet",
    flat=False, base_keys=frozenset(), read_only=frozenset({"vNetId", "alias"}), name_rule="network",
    deletable=False,
)
MANAGED_PRIVATE_ENDPOINT = Kind(
    "managedPrivateEndpoint", "managed private endpoint", "", "ManagedPrivateEndpoint",
    "managed_private_endpoint_name", "mpe", flat=False, base_keys=frozenset(),
    # Set by the service (and by whoever approves the endpoint on the target resource).
    read_only=frozenset({"connectionState", "provisioningState", "isReserved"}), name_rule="network",
    parent="managedVirtualNetwork", parent_arg="managed_virtual_network_name",
)

# In dependency order of the usual case, which is also the order of the plan and of messages.
KINDS: tuple[Kind, ...] = (
    MANAGED_VIRTUAL_NETWORK, MANAGED_PRIVATE_ENDPOINT, INTEGRATION_RUNTIME, CREDENTIAL, LINKED_SERVICE, DATASET,
    DATA_FLOW, PIPELINE, TRIGGER, CHANGE_DATA_CAPTURE,
)
# ADF's naming rules (its REST API's name patterns): what a name may hold, and its length.
NAME_RULES: dict[str, tuple[str, int, int, str]] = {
    "object": (r"[A-Za-z0-9_][^<>*#.%&:\\+?/]*", 1, 260,
               "starts with a letter, digit or _, and has none of < > * # . % & : \\ + ? /"),
    "runtime": (r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*", 3, 63,
                "is letters and digits with single hyphens between them (no _ or spaces)"),
    "network": (r"[_A-Za-z0-9](?:[-_A-Za-z0-9]*[_A-Za-z0-9])?", 1, 127,
                "is letters, digits, _ and -, and neither starts nor ends with -"),
}


def name_problem(kind: Kind, name: str) -> str | None:
    """What is wrong with ``name`` for an object of ``kind`` under ADF's naming rules (None: nothing)."""
    pattern, shortest, longest, allowed = NAME_RULES[kind.name_rule]
    if name != name.strip() or any(not character.isprintable() for character in name):
        return "has leading or trailing spaces or control characters, which ADF Studio never writes"
    if not shortest <= len(name) <= longest:
        return f"is {len(name)} characters long; a {kind.label} name has {shortest} to {longest}"
    if re.fullmatch(pattern, name) is None:
        return f"is not a valid {kind.label} name: ADF wants one that {allowed}"
    return None


BY_FOLDER = {kind.folder: kind for kind in KINDS}
# The folders of factory/'s root: every kind's but those that live inside a parent object's folder.
ROOT_FOLDERS = {kind.folder: kind for kind in KINDS if not kind.parent}
BY_REFERENCE_TYPE = {kind.reference_type: kind for kind in KINDS if kind.reference_type}
# Beside typeProperties in every activity; a typeProperties key with one of these names cannot be published.
ACTIVITY_BASE_KEYS = frozenset({"name", "type", "description", "state", "onInactiveMarkAs", "dependsOn",
                                "userProperties", "linkedServiceName", "policy", "inputs", "outputs"})

FACTORY_FOLDER = "factory"
"""factory/<name>.json: the factory's own document; its globalParameters are published with the factory."""

# References to things that are not objects of this factory (Synapse artifacts reached through a linked
# service); they are neither dependencies nor missing objects.
EXTERNAL_REFERENCE_TYPES = frozenset({
    "NotebookReference", "SparkJobDefinitionReference", "BigDataPoolReference", "SparkConfigurationReference",
})
# Objects every factory has without a file: the default Azure integration runtime, which ADF Studio names in
# a linked service's or data flow's connectVia. A reference to one is never missing; it is a dependency only
# when factory/ holds the object's file (a factory with a managed virtual network configures it there).
# ADF does not delete it, so the program never asks it to.
BUILT_IN = {("integrationRuntime", "autoresolveintegrationruntime")}

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
