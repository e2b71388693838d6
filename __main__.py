"""One stage of the Databricks + Data Factory platform, in the order data flows.

`pulumi up -s <stage>` builds the stage from Pulumi.<stage>.yaml; `make plan` shows what it declares.
"""

import pulumi
from pulumi_azure_native import authorization

from components.data_factory import DataFactory, DataFactoryArgs
from components.databricks_workspace import DatabricksWorkspace, DatabricksWorkspaceArgs
from components.key_vault import KeyVault, KeyVaultArgs
from core.config import PROJECT, load_stage_config
from core.naming import stage_names

config = load_stage_config()
names = stage_names(
    project=PROJECT, prefix=config.prefix, stage=config.stage, unique_suffix=config.global_name_suffix
)
tags = config.all_tags
# The deploying identity (service principal, managed identity or `az login` user).
client = authorization.get_client_config_output()

# 1. Resource group and Databricks workspace.
workspace = DatabricksWorkspace(
    "databricks",
    DatabricksWorkspaceArgs(
        resource_group_name=names.resource_group,
        workspace_name=names.workspace,
        managed_resource_group_name=names.managed_resource_group,
        subscription_id=client.subscription_id,
        location=config.location,
        sku=config.workspace_sku,
        no_public_ip=config.workspace_no_public_ip,
        tags=tags,
    ),
)

# 2. Key Vault in RBAC mode; the deployer may write secrets, consumers may only read.
vault = KeyVault(
    "vault",
    KeyVaultArgs(
        resource_group_name=workspace.resource_group_name,
        vault_name=names.key_vault,
        location=config.location,
        tenant_id=client.tenant_id,
        subscription_id=client.subscription_id,
        deployer_object_id=client.object_id,
        deployer_principal_type=config.deployer_principal_type,
        sku=config.key_vault_sku,
        soft_delete_retention_days=config.key_vault_soft_delete_retention_days,
        purge_protection=config.key_vault_purge_protection,
        network_default_action=config.key_vault_network_default_action,
        ip_ranges=config.key_vault_allowed_ip_ranges,
        tags=tags,
    ),
)

# 7. Data Factory with a managed identity that reads the vault.
factory = DataFactory(
    "factory",
    DataFactoryArgs(
        resource_group_name=workspace.resource_group_name,
        factory_name=names.data_factory,
        location=config.location,
        git_repo=config.data_factory_git_repo,
        tags=tags,
    ),
)
vault.grant_secrets_user("factory", factory.principal_id)

# 8. What consumers of the stage need.
pulumi.export("workspace_url", workspace.workspace_url)
pulumi.export("workspace_resource_id", workspace.workspace_resource_id)
pulumi.export("key_vault_name", vault.vault_name)
pulumi.export("key_vault_uri", vault.vault_uri)
pulumi.export("data_factory_name", factory.factory_name)
