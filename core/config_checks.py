"""Checks of the stage configuration across keys: what no single setting shows, found all at once.

Called by the config model (core/config.py) once every key is valid on its own; each problem is one line that
names the keys involved and what is allowed (the model adds the file). Azure compares the names of Key Vault
secrets, Data Factory objects and tags ignoring case, so two settings that differ only in case are one object
there: they are compared the same way here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from core.errors import shown

if TYPE_CHECKING:  # only attribute access at run time: core/config.py imports this module
    from core.config import InstancePool, StageConfig


def cross_key_problems(config: StageConfig) -> list[str]:
    """Every problem of ``config`` across keys, in a stable order."""
    problems: list[str] = []
    if config.pat_rotate_before_days >= config.pat_lifetime_days:
        problems.append(
            f"patRotateBeforeDays ({config.pat_rotate_before_days}) must be less than patLifetimeDays "
            f"({config.pat_lifetime_days}), or every deployment would rotate the token"
        )
    if config.pat_lifetime_days > config.workspace_max_token_lifetime_days:
        problems.append(
            f"patLifetimeDays ({config.pat_lifetime_days}) must not exceed workspaceMaxTokenLifetimeDays "
            f"({config.workspace_max_token_lifetime_days}): the workspace refuses tokens that outlive its cap"
        )
    pools = [pool.name for pool in config.instance_pools]
    if len(set(pools)) != len(pools):
        problems.append(f"instancePools: pool names must be unique, got {pools}")
    problems += _secret_name_problems(config)
    if config.jobs_default_pool is not None and config.jobs_default_pool not in pools:
        problems.append(
            f"jobsDefaultPool {config.jobs_default_pool!r} is not a configured pool; pools: {pools or 'none'}"
        )
    problems += _data_factory_problems(config, pools)
    problems += _principal_problems(config)
    problems += _same_ignoring_case(
        "jobsFailureEmails", config.jobs_failure_emails, "e-mail addresses ignore case; list each address once")
    return problems


def _secret_name_problems(config: StageConfig) -> list[str]:
    """The PAT's and the pools' Key Vault secrets: one vault, whose secret names ignore case."""
    owners = [f"patSecretName {config.pat_secret_name!r}"]
    owners += [_pool_secret(index, pool) for index, pool in enumerate(config.instance_pools)]
    names = [config.pat_secret_name] + [pool.key_vault_secret_name for pool in config.instance_pools]
    problems = []
    first_owner: dict[str, str] = {}
    for owner, name in zip(owners, names, strict=True):
        first = first_owner.setdefault(name.lower(), owner)
        if first != owner:
            problems.append(
                f"{first} and {owner} name the same Key Vault secret (Key Vault ignores case in secret names): both "
                "would write one secret, and Data Factory would read the wrong value from it; give one of them "
                "another name (patSecretName, or the pool's secretName)"
            )
    return problems


def _pool_secret(index: int, pool: InstancePool) -> str:
    if pool.secret_name is not None:
        return f"instancePools[{index}].secretName {pool.secret_name!r}"
    return f"pool {pool.name!r} (instancePools[{index}], secret {pool.key_vault_secret_name!r} by default)"


def _data_factory_problems(config: StageConfig, pools: list[str]) -> list[str]:
    problems = []
    owned = [config.data_factory_key_vault_linked_service, config.data_factory_databricks_linked_service]
    if owned[0].lower() == owned[1].lower():
        problems.append(f"dataFactoryKeyVaultLinkedService and dataFactoryDatabricksLinkedService must differ, "
                        f"got {owned[0]!r} and {owned[1]!r} (Data Factory names ignore case)")
    if config.data_factory_databricks_pool is not None and config.data_factory_databricks_pool not in pools:
        problems.append(f"dataFactoryDatabricksPool {config.data_factory_databricks_pool!r} is not a configured "
                        f"pool; pools: {pools or 'none'}")
    chosen = config.data_factory_databricks_pool or config.jobs_default_pool
    if chosen is None and not config.data_factory_allow_job_clusters:
        problems.append("dataFactoryDatabricksPool: the Data Factory's Databricks linked service needs an instance "
                        "pool (set dataFactoryDatabricksPool or jobsDefaultPool), or set "
                        "dataFactoryAllowJobClusters: true to start a job cluster per activity")
    elif chosen is None and config.data_factory_databricks_node_type is None:
        problems.append("dataFactoryDatabricksNodeType is required when the Databricks linked service runs job "
                        "clusters without a pool (e.g. Standard_DS3_v2)")
    if chosen is None or chosen in pools:  # an unknown pool is reported above, or as jobsDefaultPool
        problems += _workers_problems(config)
    problems += _same_ignoring_case("dataFactoryTriggerStates", config.data_factory_trigger_states,
                                    "Data Factory trigger names ignore case; give each trigger once")
    problems += _same_ignoring_case("dataFactoryOverrides", config.data_factory_overrides,
                                    "Data Factory object names ignore case; give each object's changes once")
    return problems


def _workers_problems(config: StageConfig) -> list[str]:
    """dataFactoryDatabricksWorkers against the pool the linked service starts its clusters on.

    With an instance pool, Data Factory takes a fixed number of workers (its `newClusterNumOfWorker`), and the
    driver comes from the same pool: workers + 1 must fit the pool's maxCapacity, the rule job clusters follow
    (core/job_checks.py). Without a pool, `min:max` autoscales a job cluster.
    """
    text = config.data_factory_databricks_workers
    key = f"dataFactoryDatabricksWorkers {text!r}"
    pool = config.data_factory_pool
    low_text, autoscale, high_text = text.partition(":")
    if autoscale:
        low, high = int(low_text), int(high_text)
        if pool is not None:
            return [f"{key}: min:max autoscales job clusters only; on an instance pool (here {pool.name!r}) Data "
                    f"Factory starts clusters with a fixed number of workers: {_fits(pool)}"]
        if high < 1 or high <= low:
            return [f"{key}: autoscaling takes min:max with max at least 1 and greater than min (e.g. '2:8'), or "
                    "give a fixed number of workers (e.g. '2')"]
        return []
    workers = int(text)
    if workers < 1:
        return [f"{key}: a cluster without workers runs no Spark work, so every activity would fail; give at least "
                "1 worker" + (f" ({_fits(pool)})" if pool is not None else "")]
    if pool is not None and workers + 1 > pool.max_capacity:
        return [f"{key}: each Data Factory Databricks activity starts a cluster of {workers} workers + the driver, "
                f"{workers + 1} instances of pool {pool.name!r}, whose maxCapacity is {pool.max_capacity}: every "
                f"activity would fail to start its cluster; {_fits(pool)}"]
    return []


def _fits(pool: InstancePool) -> str:
    if pool.max_capacity < 2:
        return (f"pool {pool.name!r} has maxCapacity {pool.max_capacity}, no room for a driver and a worker; raise "
                "its maxCapacity in instancePools to at least 2")
    return (f"give 1 to {pool.max_capacity - 1} workers (maxCapacity {pool.max_capacity} less the driver), or raise "
            f"the maxCapacity of pool {pool.name!r} in instancePools")


def _principal_problems(config: StageConfig) -> list[str]:
    problems = []
    applications = [principal.application_id for principal in config.workspace_principals]
    if len(set(applications)) != len(applications):
        problems.append("workspacePrincipals: each applicationId may appear once")
    readers = [reader.object_id for reader in config.key_vault_readers]
    if len(set(readers)) != len(readers):
        problems.append("keyVaultReaders: each objectId may appear once")
    if config.deployer_client_id is not None and config.deployer_client_id in readers:
        # Easy to confuse: an application (client) id is not the principal's object id, and the deployer
        # already holds Key Vault Secrets Officer.
        problems.append(
            f"keyVaultReaders: objectId {config.deployer_client_id} is deployerClientId, the deploying "
            "principal's application id; it already has Key Vault Secrets Officer on the vault. List "
            "readers by their object id (az ad sp show --id <app id> --query id)"
        )
    token_users = [user.service_principal or f"group {user.group}" for user in config.workspace_token_users]
    groups = [user.group for user in config.workspace_token_users if user.group is not None]
    if len(set(token_users)) != len(token_users):
        problems.append(f"workspaceTokenUsers: each principal may appear once, got {shown(token_users, 400)}")
    else:
        problems += _same_ignoring_case("workspaceTokenUsers", groups,
                                        "list each group once (group names are compared ignoring case)")
    if config.deployer_client_id is not None and config.deployer_client_id in token_users:
        problems.append(
            "workspaceTokenUsers: the deploying principal (deployerClientId) is a workspace admin and may "
            "always create tokens; remove it from the list"
        )
    known = (*applications, config.deployer_client_id)  # the deployer in the list is reported above
    unregistered = [user.service_principal for user in config.workspace_token_users
                    if user.service_principal and user.service_principal not in known]
    if unregistered:
        problems.append(f"workspaceTokenUsers: service principal(s) {', '.join(unregistered)} are not in "
                        "workspacePrincipals; register them there, so the workspace knows them before it grants "
                        "them tokens")
    return problems


def _same_ignoring_case(key: str, names: Iterable[str], why: str) -> list[str]:
    """One problem per name that repeats an earlier one, in the same case or another."""
    problems = []
    first: dict[str, str] = {}
    for name in names:
        if name.lower() not in first:
            first[name.lower()] = name
            continue
        earlier = first[name.lower()]
        same = "appears twice" if earlier == name else f"and {shown(name)} differ only in case"
        problems.append(f"{key}: {shown(earlier)} {same}; {why}")
    return problems
