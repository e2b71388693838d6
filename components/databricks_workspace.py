"""Resource group and Azure Databricks workspace of a stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import databricks, resources


@dataclass(frozen=True)
class DatabricksWorkspaceArgs:
    resource_group_name: str
    """Physical name of the stage's resource group (created here)."""
    workspace_name: str
    """Physical name of the workspace."""
    managed_resource_group_name: str
    """Name of the group Azure Databricks creates for the workspace's VMs; never created here."""
    subscription_id: pulumi.Input[str]
    """Subscription the stage deploys into (from the deploying identity's client config)."""
    location: str
    """Azure region, e.g. westeurope."""
    sku: str
    """Workspace tier: premium (default; needed for RBAC features), standard or trial."""
    no_public_ip: bool
    """Secure cluster connectivity: cluster nodes get no public IP addresses."""
    tags: Mapping[str, str]
    """Tags put on the group and the workspace."""


class DatabricksWorkspace(pulumi.ComponentResource):
    resource_group_name: pulumi.Output[str]
    """Name of the stage's resource group, for the other components of the stage."""
    workspace_name: pulumi.Output[str]
    """Physical name of the workspace."""
    workspace_url: pulumi.Output[str]
    """https URL of the workspace (https://adb-<id>.<n>.azuredatabricks.net)."""
    workspace_resource_id: pulumi.Output[str]
    """ARM resource id of the workspace (for management-token admission and role scopes)."""

    def __init__(
        self, name: str, args: DatabricksWorkspaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("databricks-platform:databricks:DatabricksWorkspace", name, None, opts)
        tags = dict(args.tags)

        group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

        # azure-native 3.x requires compute_mode on create; Hybrid (classic compute, which pools and
        # job clusters need) also requires the managed group's id, which Azure Databricks creates itself.
        managed_group_id = pulumi.Output.concat(
            "/subscriptions/", args.subscription_id, "/resourceGroups/", args.managed_resource_group_name
        )
        workspace = databricks.Workspace(
            f"{name}-workspace",
            workspace_name=args.workspace_name,
            resource_group_name=group.name,
            location=args.location,
            sku=databricks.SkuArgs(name=args.sku),
            compute_mode=databricks.ComputeMode.HYBRID,
            managed_resource_group_id=managed_group_id,
            parameters=databricks.WorkspaceCustomParametersArgs(
                enable_no_public_ip=databricks.WorkspaceNoPublicIPBooleanParameterArgs(
                    value=args.no_public_ip
                ),
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.resource_group_name = group.name
        self.workspace_name = workspace.name
        # Azure returns the bare host name; consumers (ADF, the Databricks provider) want a URL.
        self.workspace_url = workspace.workspace_url.apply(lambda host: f"https://{host}")
        self.workspace_resource_id = workspace.id
        self.register_outputs(
            {
                "resource_group_name": self.resource_group_name,
                "workspace_name": self.workspace_name,
                "workspace_url": self.workspace_url,
                "workspace_resource_id": self.workspace_resource_id,
            }
        )
