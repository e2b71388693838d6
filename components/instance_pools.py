"""Instance pools of the workspace; each pool id is written to Key Vault for Data Factory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from components.key_vault import KeyVault
from core.config import InstancePool
from dynamic_providers.vault_secret import VaultSecret


@dataclass(frozen=True)
class InstancePoolsArgs:
    pools: Sequence[InstancePool]
    """Pools from the stage config."""
    provider: databricks.Provider
    """Provider of the stage's workspace."""
    vault: KeyVault
    """Vault that receives each pool's id (secret name from config)."""
    tags: Mapping[str, str]
    """Tags for the pools' VMs."""


class InstancePools(pulumi.ComponentResource):
    pool_ids: dict[str, pulumi.Output[str]]
    """Pool id by pool name, for job clusters."""
    secret_names: dict[str, str]
    """Key Vault secret holding each pool's id, by pool name."""
    secrets: dict[str, VaultSecret]
    """Those Key Vault secrets, for consumers that must not be published before them (ADF linked services)."""

    def __init__(self, name: str, args: InstancePoolsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("databricks-platform:databricks:InstancePools", name, None, opts)
        self.pool_ids = {}
        self.secret_names = {}
        self.secrets = {}
        for pool in args.pools:
            spot = pool.availability == "SPOT_AZURE"
            instance_pool = databricks.InstancePool(
                f"{name}-{pool.name}",
                instance_pool_name=pool.name,
                node_type_id=pool.node_type,
                min_idle_instances=pool.min_idle,
                max_capacity=pool.max_capacity,
                idle_instance_autotermination_minutes=pool.idle_minutes,
                preloaded_spark_versions=[pool.spark_version] if pool.spark_version else None,
                azure_attributes=databricks.InstancePoolAzureAttributesArgs(
                    availability=pool.availability,
                    spot_bid_max_price=pool.spot_bid_max_price if spot else None,
                ),
                custom_tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
            )
            self.pool_ids[pool.name] = instance_pool.id
            self.secret_names[pool.name] = pool.key_vault_secret_name
            self.secrets[pool.name] = args.vault.secret(
                f"pool-{pool.name}",
                secret_name=pool.key_vault_secret_name,
                value=instance_pool.id,
                content_type="Databricks instance pool id",
            )
        self.register_outputs({"pool_ids": self.pool_ids, "secret_names": self.secret_names})
