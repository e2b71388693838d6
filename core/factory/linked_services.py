"""The linked services the program owns in every stage, as ADF JSON documents (ADF Studio's git format).

Both are built from the stage config with placeholders for what is known only after deployment (vault URI,
workspace URL and resource id), so one function serves the published resources, the stack output the export
command reads, and the round trip through git. The Databricks linked service reads its access token and
its instance pool id from Key Vault at run time, as the just-in-time pattern's linked service does: its JSON
is the same in every stage but for the vault URL and the workspace URL, a recreated pool is picked up without
republishing, and nothing secret is in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import StageConfig
from core.factory.overrides import Placeholder, Template

OWNED_ANNOTATION = "databricks-platform: program-owned linked service"
"""Marks a factory/ file written by the export command: the program publishes its own definition instead."""


@dataclass(frozen=True)
class OwnedLinkedService:
    """A linked service the program declares itself, and the config key that names it."""

    name: str
    adf_type: str
    config_key: str
    document: dict[str, Any]
    """ADF JSON ({"name", "properties"}) with Template placeholders for the stage's values."""


def _value(name: str) -> Template:
    return Template((Placeholder(name),))


def _secret(store: str, secret_name: str) -> dict[str, Any]:
    return {
        "type": "AzureKeyVaultSecret",
        "store": {"referenceName": store, "type": "LinkedServiceReference"},
        "secretName": secret_name,
    }


def owned_linked_services(config: StageConfig) -> list[OwnedLinkedService]:
    """The Key Vault and Azure Databricks linked services of a stage, Key Vault first."""
    vault_name = config.data_factory_key_vault_linked_service
    key_vault = {
        "name": vault_name,
        "properties": {
            "annotations": [OWNED_ANNOTATION],
            "type": "AzureKeyVault",
            "typeProperties": {"baseUrl": _value("vaultUri")},
        },
    }
    databricks_properties: dict[str, Any] = {"domain": _value("workspaceUrl")}
    if config.data_factory_databricks_auth == "msi":
        # The factory's managed identity, granted Contributor on the workspace by the program; no PAT.
        databricks_properties["authentication"] = "MSI"
        databricks_properties["workspaceResourceId"] = _value("workspaceResourceId")
    else:
        databricks_properties["accessToken"] = _secret(vault_name, config.pat_secret_name)
    pool = config.data_factory_pool
    if pool is not None:
        databricks_properties["instancePoolId"] = _secret(vault_name, pool.key_vault_secret_name)
    else:  # only with dataFactoryAllowJobClusters: true (the config model refuses it otherwise)
        databricks_properties["newClusterNodeType"] = config.data_factory_databricks_node_type
    databricks_properties["newClusterNumOfWorker"] = config.data_factory_databricks_workers
    databricks_properties["newClusterVersion"] = config.data_factory_databricks_cluster_version
    databricks = {
        "name": config.data_factory_databricks_linked_service,
        "properties": {
            "annotations": [OWNED_ANNOTATION],
            "type": "AzureDatabricks",
            "typeProperties": databricks_properties,
        },
    }
    return [
        OwnedLinkedService(vault_name, "AzureKeyVault", "dataFactoryKeyVaultLinkedService", key_vault),
        OwnedLinkedService(config.data_factory_databricks_linked_service, "AzureDatabricks",
                           "dataFactoryDatabricksLinkedService", databricks),
    ]
