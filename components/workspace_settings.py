"""Workspace settings for tokens: a cap on the lifetime of new PATs, and who besides admins may create them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from core.config import TOKEN_USERS_GROUP, TokenUser


@dataclass(frozen=True)
class WorkspaceSettingsArgs:
    max_token_lifetime_days: int
    """Longest lifetime in days the workspace allows for a new personal access token."""
    token_users: Sequence[TokenUser]
    """Service principals and groups that may create tokens besides the workspace admins."""
    provider: databricks.Provider
    """Provider of the stage's workspace."""


class WorkspaceSettings(pulumi.ComponentResource):
    workspace_conf: databricks.WorkspaceConf
    """The workspace configuration; a token minted after it is bounded by its cap."""
    max_token_lifetime_days: pulumi.Output[int]
    """Longest lifetime in days of a new personal access token."""

    def __init__(self, name: str, args: WorkspaceSettingsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("databricks-platform:databricks:WorkspaceSettings", name, None, opts)
        self._name = name
        self._args = args
        # Values are strings in the workspace-conf API. Tokens stay enabled: the stage's own PAT is one.
        # (Deleting this resource resets enable* keys to false, which would disable tokens.)
        self.workspace_conf = databricks.WorkspaceConf(
            f"{name}-conf",
            custom_config={
                "enableTokensConfig": "true",
                "maxTokenLifetimeDays": str(args.max_token_lifetime_days),
            },
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.max_token_lifetime_days = pulumi.Output.from_input(args.max_token_lifetime_days)
        self.register_outputs({"max_token_lifetime_days": self.max_token_lifetime_days})

    def restrict_token_use(self, *, after: Sequence[pulumi.Resource]) -> databricks.Permissions:
        """Let only the admins and the configured principals create tokens, once everything in ``after``
        exists: the workspace must hold a token before its token permissions can be set (so the stage's
        PAT comes first), and the named service principals must be registered.

        The admins (the deploying principal among them) keep the right whatever is listed. The provider
        needs at least one grantee, and a workspace's default lets every user create tokens, so the
        program keeps an (empty) group ``token-users`` that always holds it: with nobody configured,
        only admins remain.
        """
        child = pulumi.ResourceOptions(parent=self, provider=self._args.provider)
        group = databricks.Group(f"{self._name}-token-users", display_name=TOKEN_USERS_GROUP, opts=child)
        access = [databricks.PermissionsAccessControlArgs(group_name=group.display_name, permission_level="CAN_USE")]
        for user in self._args.token_users:
            access.append(databricks.PermissionsAccessControlArgs(
                group_name=user.group, service_principal_name=user.service_principal, permission_level="CAN_USE"
            ))
        # There is one token permission object per workspace: this resource owns all of it.
        return databricks.Permissions(
            f"{self._name}-token-usage",
            authorization="tokens",
            access_controls=access,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(after))),
        )
