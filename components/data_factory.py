"""Azure Data Factory of a stage, with its identities and an optional git link."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import datafactory

from core.config import GitRepo


@dataclass(frozen=True)
class DataFactoryArgs:
    resource_group_name: pulumi.Input[str]
    """Group the factory lives in."""
    factory_name: str
    """Physical (globally unique) factory name."""
    location: str
    """Azure region."""
    git_repo: GitRepo | None
    """Repository the factory is linked to (dev), or None: pipelines are then published by the program."""
    tags: Mapping[str, str]
    """Tags on the factory."""
    global_parameters: Mapping[str, Any] | None = None
    """Global parameters from factory/factory/<name>.json, published where the factory is not git-linked."""
    user_assigned_identities: Sequence[str] = ()
    """ARM ids of user-assigned identities to assign to the factory (those factory/'s credentials use)."""


def _repo_configuration(repo: GitRepo) -> datafactory.FactoryVSTSConfigurationArgs | (
    datafactory.FactoryGitHubConfigurationArgs
):
    if repo.type == "azureDevOps":
        return datafactory.FactoryVSTSConfigurationArgs(
            type="FactoryVSTSConfiguration",
            account_name=repo.account_name,
            project_name=repo.project_name,
            repository_name=repo.repository_name,
            collaboration_branch=repo.collaboration_branch,
            root_folder=repo.root_folder,
            tenant_id=repo.tenant_id,
        )
    return datafactory.FactoryGitHubConfigurationArgs(
        type="FactoryGitHubConfiguration",
        account_name=repo.account_name,
        repository_name=repo.repository_name,
        collaboration_branch=repo.collaboration_branch,
        root_folder=repo.root_folder,
        host_name=repo.host_name,
    )


class DataFactory(pulumi.ComponentResource):
    factory_name: pulumi.Output[str]
    """Physical factory name."""
    factory_id: pulumi.Output[str]
    """ARM id of the factory."""
    principal_id: pulumi.Output[str]
    """Object id of the factory's system-assigned identity (granted read access to Key Vault)."""

    def __init__(self, name: str, args: DataFactoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("databricks-platform:datafactory:DataFactory", name, None, opts)
        factory = datafactory.Factory(
            f"{name}-factory",
            factory_name=args.factory_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            # The system-assigned identity is how linked services read the PAT and pool ids from Key Vault;
            # ADF accepts a credential naming a user-assigned identity only once that identity is the factory's.
            identity=datafactory.FactoryIdentityArgs(
                type="SystemAssigned,UserAssigned" if args.user_assigned_identities else "SystemAssigned",
                user_assigned_identities={identity: {} for identity in args.user_assigned_identities} or None,
            ),
            repo_configuration=_repo_configuration(args.git_repo) if args.git_repo else None,
            # In a git-linked factory, git mode publishes the global parameters with the other objects.
            global_parameters=None if args.git_repo else args.global_parameters,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.factory_name = factory.name
        self.factory_id = factory.id
        self.principal_id = factory.identity.apply(lambda identity: identity.principal_id)
        self.register_outputs(
            {"factory_name": self.factory_name, "factory_id": self.factory_id, "principal_id": self.principal_id}
        )
