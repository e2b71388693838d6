"""One stage of the Databricks + Data Factory platform, in the order data flows.

`pulumi up -s <stage>` builds the stage from Pulumi.<stage>.yaml; `make plan` shows what it declares.
"""

from pathlib import Path

import pulumi
from pulumi_azure_native import authorization

from components.data_factory import DataFactory, DataFactoryArgs
from components.databricks_jobs import DatabricksJobs, DatabricksJobsArgs
from components.databricks_provider import WorkspaceProviderArgs, workspace_provider
from components.databricks_workspace import DatabricksWorkspace, DatabricksWorkspaceArgs
from components.instance_pools import InstancePools, InstancePoolsArgs
from components.key_vault import KeyVault, KeyVaultArgs
from components.workspace_access import WorkspaceAccess, WorkspaceAccessArgs
from core.config import PROJECT, load_stage_config
from core.errors import raise_problems
from core.jobs import render_jobs
from core.naming import stage_names
from dynamic_providers.databricks_pat import DatabricksPat, DatabricksPatArgs

HERE = Path(__file__).parent

# 0. Validate everything the stage reads before declaring anything; every problem of the run (config,
#    job definitions and templates, ...) is reported together, one line each.
problems: list[str] = []
config = load_stage_config(problems)
jobs = render_jobs(
    HERE / "jobs",
    HERE / "templates",
    stage=config.stage,
    variables=config.template_variables,
    pool_names=config.pool_names,
    pool_capacities=config.pool_capacities,
    default_pool=config.jobs_default_pool,
    relative_to=HERE,
    problems=problems,
)
# Further validators append to `problems` here, e.g. the factory/ definitions.
raise_problems(problems)
names = stage_names(
    project=PROJECT, prefix=config.prefix, stage=config.stage, unique_suffix=config.global_name_suffix
)
tags = config.all_tags
# The deploying identity (service principal, managed identity or `az login` user).
client = authorization.get_client_config_output()
deployer_tenant_id = config.deployer_tenant_id or client.tenant_id
deployer_client_id = config.deployer_client_id or client.client_id

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

# 2. Key Vault in RBAC mode; the deployer may write secrets, consumers (keyVaultReaders) may only read.
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
        # Secrets go through the vault's data plane as the deploying identity.
        deployer_tenant_id=deployer_tenant_id,
        deployer_client_id=deployer_client_id,
        deployer_credential=config.deployer_credential,
        azure_authority_host=config.azure_authority_host,
        readers=config.key_vault_readers,
        tags=tags,
    ),
)

# 3. Service principals in the workspace. The deploying principal needs no registration: calls that
#    carry the management-token headers admit it as an admin, and both the PAT provider and this
#    provider (configured with the workspace resource id) send them, whichever reaches the workspace first.
databricks_provider = workspace_provider(
    "databricks-workspace",
    WorkspaceProviderArgs(
        workspace_url=workspace.workspace_url,
        workspace_resource_id=workspace.workspace_resource_id,
        tenant_id=deployer_tenant_id,
        client_id=deployer_client_id,
        credential=config.deployer_credential,
        authority_host=config.azure_authority_host,
    ),
)
access = WorkspaceAccess(
    "access", WorkspaceAccessArgs(principals=config.workspace_principals, provider=databricks_provider)
)

# 4. A Databricks PAT for the deploying principal, rotated before expiry, kept only in Key Vault.
pat = DatabricksPat(
    "databricks-pat",
    DatabricksPatArgs(
        workspace_url=workspace.workspace_url,
        workspace_resource_id=workspace.workspace_resource_id,
        tenant_id=deployer_tenant_id,
        client_id=deployer_client_id,
        credential=config.deployer_credential,
        lifetime_days=config.pat_lifetime_days,
        rotate_before_days=config.pat_rotate_before_days,
        azure_authority_host=config.azure_authority_host,
    ),
)
vault.secret(
    "pat",
    secret_name=config.pat_secret_name,
    value=pat.token_value,
    content_type="Databricks personal access token",
    expires=pat.expiry_time,
)

# 5. Instance pools, each id written to Key Vault for Data Factory.
pools = InstancePools(
    "pools",
    InstancePoolsArgs(pools=config.instance_pools, provider=databricks_provider, vault=vault, tags=tags),
)

# 6. Jobs from jobs/ through templates/, job clusters on the pools.
databricks_jobs = DatabricksJobs(
    "jobs", DatabricksJobsArgs(jobs=jobs, pool_ids=pools.pool_ids, provider=databricks_provider)
)

# 7. Data Factory with a managed identity that may only read the vault.
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

# 8. What consumers of the stage need (secret names, never secret values).
pulumi.export("workspace_url", workspace.workspace_url)
pulumi.export("workspace_resource_id", workspace.workspace_resource_id)
pulumi.export("key_vault_name", vault.vault_name)
pulumi.export("key_vault_uri", vault.vault_uri)
pulumi.export("pat_secret_name", config.pat_secret_name)
pulumi.export("pat_expiry_time", pat.expiry_time)
pulumi.export("pool_ids", pools.pool_ids)
pulumi.export("pool_secret_names", pools.secret_names)
pulumi.export("job_ids", databricks_jobs.job_ids)
pulumi.export("data_factory_name", factory.factory_name)
