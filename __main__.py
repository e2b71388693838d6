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
from components.factory_linked_services import FactoryLinkedServices, FactoryLinkedServicesArgs
from components.factory_objects import FactoryObjects, FactoryObjectsArgs, FactoryValues
from components.instance_pools import InstancePools, InstancePoolsArgs
from components.key_vault import KeyVault, KeyVaultArgs
from components.notebooks import Notebooks, NotebooksArgs
from components.workspace_access import WorkspaceAccess, WorkspaceAccessArgs
from components.workspace_settings import WorkspaceSettings, WorkspaceSettingsArgs
from core.config import PROJECT, load_stage_config
from core.errors import raise_problems
from core.factory import load_factory, owned_linked_services
from core.naming import stage_names
from core.workspace_content import load_workspace_content
from dynamic_providers.databricks_pat import DatabricksPat, DatabricksPatArgs

HERE = Path(__file__).parent

# 0. Validate everything the stage reads before declaring anything; every problem of the run (config,
#    job definitions, templates, notebooks, ...) is reported together, one line each.
problems: list[str] = []
config = load_stage_config(problems)
content = load_workspace_content(
    jobs_dir=HERE / "jobs", templates_dir=HERE / "templates", notebooks_dir=HERE / "notebooks",
    config=config, relative_to=HERE, problems=problems,
)
factory_folder = load_factory(
    HERE / "factory", config, job_names=[job.settings["name"] for job in content.jobs], relative_to=HERE,
    notebooks=content.notebook_paths, problems=problems,
)
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

# 3b. Token settings: new tokens are capped in lifetime, so the PAT is minted after the cap is set.
workspace_settings = WorkspaceSettings(
    "workspace-settings",
    WorkspaceSettingsArgs(
        max_token_lifetime_days=config.workspace_max_token_lifetime_days,
        token_users=config.workspace_token_users,
        provider=databricks_provider,
    ),
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
    opts=pulumi.ResourceOptions(depends_on=[workspace_settings.workspace_conf]),
)
# Only admins (the deploying principal among them) and the configured principals may create tokens.
workspace_settings.restrict_token_use(after=[pat, access])
pat_secret = vault.secret(
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

# 6. Notebooks from notebooks/, and the jobs from jobs/ that run them, job clusters on the pools.
notebooks = Notebooks("notebooks", NotebooksArgs(notebooks=content.notebooks, provider=databricks_provider))
databricks_jobs = DatabricksJobs(
    "jobs",
    DatabricksJobsArgs(
        jobs=content.jobs, pool_ids=pools.pool_ids, provider=databricks_provider, notebooks=notebooks.resources
    ),
)

# 7. Data Factory with a managed identity that may only read the vault; factory/ placeholders' stage values.
factory_values = FactoryValues(
    stage=config.stage, vault_uri=vault.vault_uri, key_vault_name=vault.vault_name,
    workspace_url=workspace.workspace_url, workspace_resource_id=workspace.workspace_resource_id,
    pool_ids=pools.pool_ids, job_ids=databricks_jobs.job_ids,
)
factory = DataFactory(
    "factory",
    DataFactoryArgs(
        resource_group_name=workspace.resource_group_name,
        factory_name=names.data_factory,
        location=config.location,
        git_repo=config.data_factory_git_repo,
        tags=tags,
        global_parameters=factory_values.resolve(factory_folder.global_parameters),
        user_assigned_identities=factory_folder.user_assigned_identities,
    ),
)
factory_reads_vault = vault.grant_secrets_user("factory", factory.principal_id)

# 8. The stage's own linked services, then factory/ published in reference order (not into a git-linked factory).
linked_services = FactoryLinkedServices(
    "factory-linked-services",
    FactoryLinkedServicesArgs(
        services=owned_linked_services(config), folder=factory_folder, publish=config.publishes_data_factory,
        factory_name=factory.factory_name, resource_group_name=workspace.resource_group_name,
        values=factory_values, databricks_auth=config.data_factory_databricks_auth,
        factory_principal_id=factory.principal_id, workspace_resource_id=workspace.workspace_resource_id,
        workspace_name=names.workspace, subscription_id=client.subscription_id,
        depends_on=[factory_reads_vault, pat_secret, *pools.secrets.values()],
    ),
)
factory_objects = FactoryObjects(
    "factory-objects",
    FactoryObjectsArgs(
        folder=factory_folder, publish=config.publishes_data_factory, factory_name=factory.factory_name,
        resource_group_name=workspace.resource_group_name, subscription_id=client.subscription_id,
        values=factory_values, linked_services=linked_services.resources,
        deployer_tenant_id=deployer_tenant_id, deployer_client_id=deployer_client_id,
        deployer_credential=config.deployer_credential, azure_authority_host=config.azure_authority_host,
    ),
)

# 9. What consumers of the stage need (secret names, never secret values).
# The cloud the stage lives in ("" = the public cloud): smoke runs and other consumers sign in there.
pulumi.export("azure_authority_host", config.azure_authority_host or "")
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
pulumi.export("data_factory_id", factory.factory_id)
pulumi.export("data_factory_key_vault_linked_service", linked_services.key_vault_name)
pulumi.export("data_factory_databricks_linked_service", linked_services.databricks_name)
pulumi.export("data_factory_pipelines", factory_objects.pipeline_names)
# Objects the typed azure-native resources could not carry exactly, published as written (and why).
pulumi.export("data_factory_published_as_written", factory_objects.published_as_written)
# The program's linked services as ADF JSON with this stage's values: `python -m ops export-linked-services`.
pulumi.export("data_factory_linked_services", linked_services.documents)
