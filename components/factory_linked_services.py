"""The linked services the program owns in a stage's factory: Key Vault and Azure Databricks.

Published into every factory the program publishes (not into a git-linked one, whose git mode owns its
objects); in every stage their ADF JSON, with the stage's values, is a stack output for the export command,
which writes them into factory/linkedService/ for ADF Studio. With ``msi`` auth the factory's managed
identity is made Contributor on the workspace, which ADF's Databricks connector requires for MSI.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import authorization, datafactory

from components.factory_objects import FactoryValues
from core.factory import FactoryFolder, OwnedLinkedService
from core.factory.kinds import LINKED_SERVICE
from core.factory.references import ObjectKey, object_key

# Built-in role (the same id in every tenant): ADF's Databricks linked service with MSI needs it on the workspace.
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
# Namespace of the deterministic role assignment name: the same stage always plans the same GUID.
_ASSIGNMENT_NAMESPACE = uuid.UUID("0c1f6a8e-4b7d-4e2a-9f3c-6d5e8a7b9c10")


@dataclass(frozen=True)
class FactoryLinkedServicesArgs:
    services: Sequence[OwnedLinkedService]
    """The program's linked services (core.factory.owned_linked_services), Key Vault first."""
    folder: FactoryFolder
    """Validated factory/, holding each service's resource arguments."""
    publish: bool
    """False in a git-linked stage: nothing is published, the JSON is still exported."""
    factory_name: pulumi.Input[str]
    """Factory to publish into."""
    resource_group_name: pulumi.Input[str]
    """Group of the factory."""
    values: FactoryValues
    """The stage's values (vault URI, workspace URL, ...)."""
    databricks_auth: str
    """pat or msi."""
    factory_principal_id: pulumi.Input[str]
    """Object id of the factory's managed identity (made Contributor on the workspace with msi)."""
    workspace_resource_id: pulumi.Input[str]
    """ARM id of the workspace (scope of that role assignment)."""
    workspace_name: str
    """Workspace name, part of the role assignment's deterministic name."""
    subscription_id: pulumi.Input[str]
    """Subscription, for the built-in role definition id."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What must exist before the linked services are published: the factory's read access to the vault and
    the Key Vault secrets they read (the PAT, the pool ids)."""


class FactoryLinkedServices(pulumi.ComponentResource):
    key_vault_name: str
    """ADF name of the Key Vault linked service."""
    databricks_name: str
    """ADF name of the Azure Databricks linked service."""
    documents: pulumi.Output[dict]
    """ADF JSON of each linked service by name, with this stage's values (no secret: Key Vault references)."""
    resources: dict[ObjectKey, pulumi.CustomResource]
    """The published linked services by object key (empty in a git-linked stage)."""

    def __init__(self, name: str, args: FactoryLinkedServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("databricks-platform:datafactory:FactoryLinkedServices", name, None, opts)
        key_vault, databricks = args.services
        self.key_vault_name = key_vault.name
        self.databricks_name = databricks.name
        extra: list[pulumi.Resource] = []
        if args.databricks_auth == "msi":
            # Named from workspace, role and principal, as the vault's assignments are: a recreated factory
            # identity gets a new assignment, since Azure refuses to repoint one.
            workspace_name = args.workspace_name
            assignment_name = pulumi.Output.from_input(args.factory_principal_id).apply(
                lambda principal: str(uuid.uuid5(_ASSIGNMENT_NAMESPACE,
                                                 f"{workspace_name}/databricks-contributor/{principal}"))
            )
            extra.append(authorization.RoleAssignment(
                f"{name}-databricks-contributor",
                role_assignment_name=assignment_name,
                scope=args.workspace_resource_id,
                role_definition_id=pulumi.Output.concat(
                    "/subscriptions/", args.subscription_id,
                    "/providers/Microsoft.Authorization/roleDefinitions/", CONTRIBUTOR,
                ),
                principal_id=args.factory_principal_id,
                principal_type="ServicePrincipal",
                opts=pulumi.ResourceOptions(parent=self),
            ))

        self.resources = {}
        if args.publish:
            for service in args.services:
                key = object_key(LINKED_SERVICE, service.name)
                references = args.folder.get(key).references
                self.resources[key] = datafactory.LinkedService(
                    f"{name}-{service.name.lower()}",
                    linked_service_name=service.name,
                    factory_name=args.factory_name,
                    resource_group_name=args.resource_group_name,
                    **args.values.resolve(args.folder.get(key).arguments),
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        depends_on=[*args.depends_on, *extra, *(self.resources[ref] for ref in references)],
                        delete_before_replace=True,
                    ),
                )
        self.documents = pulumi.Output.from_input(
            {service.name: args.values.resolve(service.document) for service in args.services}
        )
        self.register_outputs({"documents": self.documents})
