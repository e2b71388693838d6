"""Service principals registered in the workspace, with entitlements and admin membership."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from core.config import WorkspacePrincipal


@dataclass(frozen=True)
class WorkspaceAccessArgs:
    principals: Sequence[WorkspacePrincipal]
    """Principals from the stage config. The deploying principal is not listed: the management-token
    headers (sent by the PAT provider and the workspace provider) admit it as an admin on its first call."""
    provider: databricks.Provider
    """Provider of the stage's workspace."""


class WorkspaceAccess(pulumi.ComponentResource):
    principal_ids: pulumi.Output[dict[str, str]]
    """Databricks ids of the registered principals, by application id."""

    def __init__(self, name: str, args: WorkspaceAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("databricks-platform:databricks:WorkspaceAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)

        admins = None
        if any(principal.admin for principal in args.principals):
            # An _output look-up: it resolves during `up`, and preview works before the workspace exists.
            admins = databricks.get_group_output(
                display_name="admins", opts=pulumi.InvokeOutputOptions(parent=self, provider=args.provider)
            )

        ids: dict[str, pulumi.Output[str]] = {}
        for principal in args.principals:
            # Logical names come from the application id: stable, and unique by validation.
            key = f"{name}-{principal.application_id}"
            entitlements = principal.entitlements
            service_principal = databricks.ServicePrincipal(
                key,
                application_id=principal.application_id,
                display_name=principal.display_name,
                workspace_access=entitlements.workspace_access,
                allow_cluster_create=entitlements.allow_cluster_create,
                allow_instance_pool_create=entitlements.allow_instance_pool_create,
                databricks_sql_access=entitlements.databricks_sql_access,
                opts=child,
            )
            ids[principal.application_id] = service_principal.id
            if principal.admin and admins is not None:
                databricks.GroupMember(
                    f"{key}-admin",
                    group_id=admins.id,
                    member_id=service_principal.id,
                    opts=child,
                )

        self.principal_ids = pulumi.Output.all(**ids) if ids else pulumi.Output.from_input({})
        self.register_outputs({"principal_ids": self.principal_ids})
