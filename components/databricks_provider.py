"""The Databricks provider of a stage's workspace, authenticated as the deploying identity."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

# Our credential kinds (shared with the PAT provider) -> the Databricks provider's auth types. The
# provider reads a client secret from ARM_CLIENT_SECRET itself, so none passes through the program.
_AUTH_TYPES = {"environment": "azure-client-secret", "managed_identity": "azure-msi", "azure_cli": "azure-cli"}
# Sovereign clouds: the Entra ID authority the PAT provider uses -> the Databricks provider's environment.
_ENVIRONMENTS = {"login.microsoftonline.us": "usgovernment", "login.chinacloudapi.cn": "china"}


def azure_environment(authority_host: str | None) -> str | None:
    """The Databricks provider's azure_environment for an authority host (None: the public cloud)."""
    if not authority_host:
        return None
    host = authority_host.removeprefix("https://").rstrip("/")
    return _ENVIRONMENTS.get(host, "public")


@dataclass(frozen=True)
class WorkspaceProviderArgs:
    workspace_url: pulumi.Input[str]
    """https URL of the workspace."""
    workspace_resource_id: pulumi.Input[str]
    """ARM id of the workspace: lets a service principal that is only Contributor be admitted."""
    tenant_id: pulumi.Input[str]
    """Tenant of the deploying identity."""
    client_id: pulumi.Input[str]
    """Application id of the deploying service principal (or managed identity)."""
    credential: str
    """environment, managed_identity or azure_cli."""
    authority_host: str | None = None
    """Entra ID authority for sovereign clouds (None: the public cloud)."""


def workspace_provider(name: str, args: WorkspaceProviderArgs) -> databricks.Provider:
    """A provider for resources inside the workspace; preview works before the workspace exists."""
    return databricks.Provider(
        name,
        host=args.workspace_url,
        azure_workspace_resource_id=args.workspace_resource_id,
        auth_type=_AUTH_TYPES[args.credential],
        azure_tenant_id=args.tenant_id,
        azure_client_id=None if args.credential == "azure_cli" else args.client_id,
        azure_use_msi=True if args.credential == "managed_identity" else None,
        azure_environment=azure_environment(args.authority_host),
    )
