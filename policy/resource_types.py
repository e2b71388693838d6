"""Type tokens the rules look at, and which Azure resources take tags."""

from __future__ import annotations

import functools
import importlib
import inspect

DATABRICKS_PAT = "pulumi-python:dynamic/databricks-platform:DatabricksPat"
# Key Vault secrets are written through the vault's data plane (dynamic_providers/vault_secret.py).
VAULT_SECRET = "pulumi-python:dynamic/databricks-platform:VaultSecret"
TRIGGER_RUNTIME_STATE = "pulumi-python:dynamic/databricks-platform:TriggerRuntimeState"
KEY_VAULT = "azure-native:keyvault:Vault"
WORKSPACE = "azure-native:databricks:Workspace"
LINKED_SERVICE = "azure-native:datafactory:LinkedService"
JOB = "databricks:index/job:Job"
INSTANCE_POOL = "databricks:index/instancePool:InstancePool"
CLUSTER = "databricks:index/cluster:Cluster"
NOTEBOOK = "databricks:index/notebook:Notebook"
WORKSPACE_CONF = "databricks:index/workspaceConf:WorkspaceConf"

# Databricks resources whose tags reach the cloud (the VMs they start), and the input that holds them.
DATABRICKS_TAG_INPUTS = {INSTANCE_POOL: "customTags", CLUSTER: "customTags", JOB: "tags"}


GENERIC_RESOURCE = "azure-native:resources:Resource"


def is_data_factory(resource_type: str, inputs: dict) -> bool:
    """An ADF resource: a typed one, or one published as written through ARM's generic resource."""
    return resource_type.startswith("azure-native:datafactory:") or (
        resource_type == GENERIC_RESOURCE and str(inputs.get("resourceProviderNamespace", "")).lower()
        == "microsoft.datafactory")


def azure_takes_tags(resource_type: str, inputs: dict) -> bool:
    """Whether an azure-native resource of this type accepts tags.

    Answered from the installed azure-native SDK (the resource class's own arguments), so a resource that
    takes tags but was declared without any is still found. Where the SDK is not importable (a policy
    environment without it), a resource is judged taggable when it has a ``tags`` input.
    """
    if not resource_type.startswith("azure-native:"):
        return False
    if resource_type == GENERIC_RESOURCE and inputs.get("parentResourcePath"):
        return False  # a child resource (an ADF pipeline published as written): ARM keeps tags on its parent
    known = _sdk_takes_tags(resource_type)
    return ("tags" in inputs) if known is None else known


@functools.cache
def _sdk_takes_tags(resource_type: str) -> bool | None:
    try:
        _, module, name = resource_type.split(":")
        # "keyvault/v20230701" is the versioned module pulumi_azure_native.keyvault.v20230701.
        resource_class = getattr(importlib.import_module(f"pulumi_azure_native.{module.replace('/', '.')}"), name)
        return "tags" in inspect.signature(resource_class._internal_init).parameters
    except (ImportError, AttributeError, ValueError, TypeError):
        return None
