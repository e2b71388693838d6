"""Key Vault of a stage, in RBAC mode, with least-privilege role assignments.

Secrets are written, recovered and deleted through the vault's data plane (dynamic_providers.vault_secret) as
the deploying identity, which is Key Vault Secrets Officer here. Every secret depends on that role assignment:
`pulumi destroy`, or removing a pool, deletes the secret while the role still exists. Readers listed in config
(e.g. an AzureML compute identity) and the Data Factory get Key Vault Secrets User on the vault, nothing more.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import authorization, keyvault

from core.config import KeyVaultReader
from core.errors import UserError
from dynamic_providers.vault_secret import VaultSecret, VaultSecretArgs

# Built-in role definition ids (the same in every Azure tenant).
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"

# Key Vault allows 15 tags on a secret, the stage may set up to 50: secrets carry the stage's identity tags
# (core.config.StageConfig.all_tags puts them first), the vault carries them all.
_SECRET_TAGS = ("project", "stage", "managed-by")

# Namespace for deterministic role assignment names: the same stage always yields the same GUIDs.
_ASSIGNMENT_NAMESPACE = uuid.UUID("5d6c3f8e-2a61-4f0c-9a7e-1f3b2c4d5e6f")


def _refuse_overlap(principal_id: str | None, readers: Sequence[KeyVaultReader], who: str) -> None:
    """Config must not list as a reader a principal the program already grants: ARM refuses a second assignment
    of one role to one principal on one scope (RoleAssignmentExists), and a reader role would add nothing."""
    for reader in readers:
        if principal_id and principal_id.lower() == reader.object_id:
            raise UserError([
                f"Pulumi.{pulumi.get_stack()}.yaml: databricks-platform:keyVaultReaders: {reader.name!r} "
                f"({reader.object_id}) is {who}, which the "
                "program already grants access to the vault; remove it from keyVaultReaders"
            ])


def _reader_principal(reader: KeyVaultReader, deployer_object_id: str | None) -> str:
    _refuse_overlap(deployer_object_id, [reader], "the deploying identity (Key Vault Secrets Officer)")
    return reader.object_id


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
    deployer_tenant_id: pulumi.Input[str]
    """Entra ID tenant of the deploying identity, for the data-plane calls on secrets."""
    deployer_client_id: pulumi.Input[str]
    """Application (client) id of the deploying identity, for the data-plane calls on secrets."""
    deployer_credential: str
    """How the data-plane calls authenticate: environment, managed_identity or azure_cli."""
    azure_authority_host: str | None = None
    """Entra ID authority host for sovereign clouds (None: the public cloud)."""
    ip_ranges: Sequence[str] = field(default_factory=tuple)
    """Addresses or CIDR ranges allowed through the vault firewall."""
    readers: Sequence[KeyVaultReader] = field(default_factory=tuple)
    """Consumers that get Key Vault Secrets User on the vault, and nothing more."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags on the vault and its secrets."""


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

        self._deployer_officer = self._assign(
            "deployer-secrets-officer", KEY_VAULT_SECRETS_OFFICER, args.deployer_object_id,
            args.deployer_principal_type, description="pulumi up: writes and deletes the stage's secrets",
        )
        for reader in args.readers:
            principal = pulumi.Output.from_input(args.deployer_object_id).apply(
                lambda deployer, reader=reader: _reader_principal(reader, deployer)
            )
            self._assign(
                f"reader-{reader.object_id}-secrets-user", KEY_VAULT_SECRETS_USER, principal,
                reader.principal_type, description=f"{reader.name}: reads the stage's secrets",
            )
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
    ) -> VaultSecret:
        """Store a value the stage produced (a PAT, a pool id) for consumers such as Data Factory.

        ``expires`` (ISO 8601) becomes the secret's expiry attribute, so Key Vault itself shows when a token runs
        out. A name that was deleted earlier and sits soft-deleted is recovered, then written. The secret depends
        on the deployer's Secrets Officer assignment: created after it, deleted before it.
        """
        args = self._args
        return VaultSecret(
            f"{self._name}-{role}",
            VaultSecretArgs(
                vault_uri=self.vault_uri,
                vault_name=args.vault_name,
                secret_name=secret_name,
                value=value,
                tenant_id=args.deployer_tenant_id,
                client_id=args.deployer_client_id,
                credential=args.deployer_credential,
                content_type=content_type,
                expires=expires,
                tags={key: args.tags[key] for key in _SECRET_TAGS if key in args.tags},
                azure_authority_host=args.azure_authority_host,
                officer_assignment_id=self._deployer_officer.id,
            ),
            # Deleting a secret is a data-plane call that needs this role: delete the secret first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._deployer_officer]),
        )

    def grant_secrets_user(
        self, grantee: str, principal_id: pulumi.Input[str], principal_type: str = "ServicePrincipal"
    ) -> authorization.RoleAssignment:
        """Let a consumer (e.g. the factory's managed identity) read secrets, and nothing more."""
        readers = self._args.readers
        checked = pulumi.Output.from_input(principal_id).apply(
            lambda principal: _refuse_overlap(principal, readers, f"the {grantee}'s identity") or principal
        )
        return self._assign(
            f"{grantee}-secrets-user", KEY_VAULT_SECRETS_USER, checked, principal_type,
            description=f"{grantee}: reads the stage's secrets",
        )

    def _assign(
        self,
        role: str,
        role_definition: str,
        principal_id: pulumi.Input[str],
        principal_type: str,
        *,
        description: str,
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
            description=description,
            opts=pulumi.ResourceOptions(parent=self),
        )
