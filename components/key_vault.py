"""Key Vault of a stage, in RBAC mode, with least-privilege role assignments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pulumi
from pulumi_azure_native import authorization, keyvault

# Built-in role definition ids (the same in every Azure tenant).
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"

# Namespace for deterministic role assignment names: the same stage always yields the same GUIDs.
_ASSIGNMENT_NAMESPACE = uuid.UUID("5d6c3f8e-2a61-4f0c-9a7e-1f3b2c4d5e6f")


def _epoch_seconds(iso_time: str | None) -> int | None:
    return int(datetime.fromisoformat(iso_time).timestamp()) if iso_time else None


@dataclass(frozen=True)
class KeyVaultArgs:
    resource_group_name: pulumi.Input[str]
    """Group the vault lives in."""
    vault_name: str
    """Physical (globally unique) vault name."""
    location: str
    """Azure region."""
    tenant_id: pulumi.Input[str]
    """Entra ID tenant that authenticates requests to the vault."""
    subscription_id: pulumi.Input[str]
    """Subscription, for the built-in role definition ids."""
    deployer_object_id: pulumi.Input[str]
    """Object id of the deploying identity; it becomes Key Vault Secrets Officer."""
    deployer_principal_type: str
    """ServicePrincipal, User or Group: lets Azure skip the directory lookup that races replication."""
    sku: str
    """standard or premium."""
    soft_delete_retention_days: int
    """Days a deleted vault or secret stays recoverable (7-90)."""
    purge_protection: bool
    """Whether deleted secrets may not be purged before retention ends (irreversible once on)."""
    network_default_action: str
    """Allow or Deny for traffic not matched by ip_ranges."""
    ip_ranges: Sequence[str] = field(default_factory=tuple)
    """Addresses or CIDR ranges allowed through the vault firewall."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on the vault."""


class KeyVault(pulumi.ComponentResource):
    vault_name: pulumi.Output[str]
    """Physical vault name."""
    vault_uri: pulumi.Output[str]
    """https URI of the vault, e.g. https://kv-dbp-dev.vault.azure.net/."""
    vault_id: pulumi.Output[str]
    """ARM id of the vault (scope of its role assignments)."""

    def __init__(self, name: str, args: KeyVaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("databricks-platform:security:KeyVault", name, None, opts)
        self._name = name
        self._args = args

        vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=args.vault_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family="A", name=args.sku),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=args.soft_delete_retention_days,
                # The API refuses false here ("purge protection cannot be disabled"): leave it unset.
                enable_purge_protection=True if args.purge_protection else None,
                network_acls=keyvault.NetworkRuleSetArgs(
                    default_action=args.network_default_action,
                    # Data Factory and other trusted Azure services reach the vault through the bypass.
                    bypass="AzureServices",
                    ip_rules=[keyvault.IPRuleArgs(value=ip) for ip in args.ip_ranges],
                ),
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._vault = vault
        self.vault_name = vault.name
        self.vault_uri = vault.properties.apply(lambda p: p.vault_uri)
        self.vault_id = vault.id

        self._assign("deployer-secrets-officer", KEY_VAULT_SECRETS_OFFICER, args.deployer_object_id,
                     args.deployer_principal_type)
        self.register_outputs(
            {"vault_name": self.vault_name, "vault_uri": self.vault_uri, "vault_id": self.vault_id}
        )

    def secret(
        self,
        role: str,
        *,
        secret_name: str,
        value: pulumi.Input[str],
        content_type: str,
        expires: pulumi.Input[str] | None = None,
    ) -> keyvault.Secret:
        """Store a value the stage produced (a PAT, a pool id) for consumers such as Data Factory.

        ``expires`` (ISO 8601) becomes the secret's expiry attribute, so Key Vault itself shows when a
        token runs out.
        """
        # The ARM API takes the expiry as epoch seconds.
        expires_epoch = pulumi.Output.from_input(expires).apply(_epoch_seconds) if expires is not None else None
        return keyvault.Secret(
            f"{self._name}-{role}",
            secret_name=secret_name,
            vault_name=self._vault.name,
            resource_group_name=self._args.resource_group_name,
            properties=keyvault.SecretPropertiesArgs(
                value=value,
                content_type=content_type,
                attributes=keyvault.SecretAttributesArgs(enabled=True, expires=expires_epoch),
            ),
            tags=dict(self._args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def grant_secrets_user(
        self, grantee: str, principal_id: pulumi.Input[str], principal_type: str = "ServicePrincipal"
    ) -> authorization.RoleAssignment:
        """Let a consumer (e.g. the factory's managed identity) read secrets, and nothing more."""
        return self._assign(f"{grantee}-secrets-user", KEY_VAULT_SECRETS_USER, principal_id, principal_type)

    def _assign(
        self, role: str, role_definition: str, principal_id: pulumi.Input[str], principal_type: str
    ) -> authorization.RoleAssignment:
        # Role assignment names are GUIDs derived from vault, role and principal, so the same stage always
        # plans the same names. The principal is part of it because Azure refuses to repoint an existing
        # assignment: a new deployer or a recreated factory identity gets a new assignment instead.
        vault_name = self._args.vault_name
        assignment_name = pulumi.Output.from_input(principal_id).apply(
            lambda principal: str(uuid.uuid5(_ASSIGNMENT_NAMESPACE, f"{vault_name}/{role}/{principal}"))
        )
        return authorization.RoleAssignment(
            f"{self._name}-{role}",
            role_assignment_name=assignment_name,
            scope=self._vault.id,
            role_definition_id=pulumi.Output.concat(
                "/subscriptions/", self._args.subscription_id,
                "/providers/Microsoft.Authorization/roleDefinitions/", role_definition,
            ),
            principal_id=principal_id,
            principal_type=principal_type,
            opts=pulumi.ResourceOptions(parent=self),
        )
