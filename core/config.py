"""The stage configuration: one typed, validated model read once from the stack's config.

Every key is declared and described once, in ``Pulumi.yaml``; this module is the only reader of
``pulumi.Config``. A bad value or an unknown key in the project's namespace stops the program before
any resource is declared, with one line per problem naming the stack file, the key and what is
allowed (a typo must never fall back to a default silently).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import typing
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from core.errors import UserError
from core.naming import PREFIX_PATTERN, STAGE_PATTERN

PROJECT = "databricks-platform"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Azure rejects these characters in tag names.
_TAG_NAME_FORBIDDEN = set('<>%&\\?/')


def _prefix(value: str) -> str:
    if not PREFIX_PATTERN.match(value):
        raise ValueError("must be 2-8 lowercase letters or digits, starting with a letter")
    return value


def _ip_range(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("must be an IPv4/IPv6 address or CIDR range, e.g. 203.0.113.0/24") from None
    return value


def _uuid(value: str) -> str:
    if not _UUID.match(value):
        raise ValueError("must be a GUID, e.g. 00000000-0000-0000-0000-000000000000")
    return value.lower()


def _tags(value: dict[str, str]) -> dict[str, str]:
    for name, tag_value in value.items():
        if not name or len(name) > 512 or _TAG_NAME_FORBIDDEN & set(name):
            raise ValueError(f"tag name {name!r} must be 1-512 characters without any of <>%&\\?/")
        if len(tag_value) > 256:
            raise ValueError(f"tag {name!r} has a value longer than 256 characters")
    return value


# Names of the program's ADF linked services: letters, digits, _, - and spaces (also a safe file name, for
# the export command's factory/linkedService/<name>.json).
_ADF_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_ -]{0,139}$"

# Pulumi.yaml cannot default a key to null (it would be required): "" or {} there means "not set".
UNSET_AS_NONE = BeforeValidator(lambda value: None if value in ("", {}) else value)

Guid = Annotated[str, AfterValidator(_uuid)]
OptionalGuid = Annotated[Guid | None, UNSET_AS_NONE]


class _Model(BaseModel):
    # Keys are camelCase in YAML, as Pulumi's own config keys are; unknown keys are errors.
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class GitRepo(_Model):
    """The git repository a Data Factory is linked to (Azure DevOps Repos or GitHub)."""

    type: Literal["azureDevOps", "gitHub"]
    account_name: str = Field(min_length=1)
    repository_name: str = Field(min_length=1)
    collaboration_branch: str = Field("main", min_length=1)
    root_folder: str = Field("/", pattern=r"^/")
    project_name: str | None = None
    tenant_id: Guid | None = None
    host_name: str | None = Field(None, pattern=r"^https://")

    @model_validator(mode="after")
    def _fits_its_host(self) -> GitRepo:
        if self.type == "azureDevOps" and not self.project_name:
            raise ValueError("projectName is required when type is azureDevOps")
        if self.type == "gitHub" and (self.project_name or self.tenant_id):
            raise ValueError("projectName and tenantId apply only to type azureDevOps")
        return self


class Entitlements(_Model):
    """What a principal may do in the workspace."""

    workspace_access: bool = True
    allow_cluster_create: bool = False
    allow_instance_pool_create: bool = False
    databricks_sql_access: bool = False


class WorkspacePrincipal(_Model):
    """A service principal registered in the workspace."""

    application_id: Guid
    display_name: str = Field(min_length=1, max_length=256)
    entitlements: Entitlements = Entitlements()
    admin: bool = False


class InstancePool(_Model):
    """A Databricks instance pool; its id is written to Key Vault for Data Factory."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
    node_type: str = Field(min_length=1)
    min_idle: int = Field(0, ge=0)
    max_capacity: int = Field(ge=1)
    idle_minutes: int = Field(15, ge=0, le=10000)
    spark_version: str | None = None
    availability: Literal["ON_DEMAND_AZURE", "SPOT_AZURE"] = "ON_DEMAND_AZURE"
    spot_bid_max_price: float | None = None
    secret_name: str | None = Field(None, pattern=r"^[0-9A-Za-z-]{1,127}$")

    @model_validator(mode="after")
    def _consistent(self) -> InstancePool:
        if self.min_idle > self.max_capacity:
            raise ValueError(f"minIdle ({self.min_idle}) must not exceed maxCapacity ({self.max_capacity})")
        if self.spot_bid_max_price is not None:
            if self.availability != "SPOT_AZURE":
                raise ValueError("spotBidMaxPrice applies only with availability SPOT_AZURE")
            if self.spot_bid_max_price != -1 and self.spot_bid_max_price <= 0:
                raise ValueError("spotBidMaxPrice must be a positive price, or -1 for up to the on-demand price")
        return self

    @property
    def key_vault_secret_name(self) -> str:
        return self.secret_name or f"databricks-pool-{self.name}"


def _default_pools() -> list[InstancePool]:
    # Mirrors the default in Pulumi.yaml (a test holds the two together).
    return [InstancePool(name="general", node_type="Standard_DS3_v2", max_capacity=4,
                         spark_version="15.4.x-scala2.12")]


class StageConfig(_Model):
    """Everything one stage declares, validated. Field docs live in Pulumi.yaml."""

    stage: str
    location: str = Field("westeurope", pattern=r"^[a-z0-9]+$")
    prefix: Annotated[str, AfterValidator(_prefix)] = "dbp"
    global_name_suffix: bool = False
    tags: Annotated[dict[str, str], AfterValidator(_tags)] = Field(default_factory=dict)
    workspace_sku: Literal["standard", "premium", "trial"] = "premium"
    workspace_no_public_ip: bool = True
    key_vault_sku: Literal["standard", "premium"] = "standard"
    key_vault_soft_delete_retention_days: int = Field(90, ge=7, le=90)
    key_vault_purge_protection: bool = True
    key_vault_network_default_action: Literal["Allow", "Deny"] = "Allow"
    key_vault_allowed_ip_ranges: list[Annotated[str, AfterValidator(_ip_range)]] = Field(
        default_factory=list
    )
    deployer_principal_type: Literal["ServicePrincipal", "User", "Group"] = "ServicePrincipal"
    deployer_tenant_id: OptionalGuid = None
    deployer_client_id: OptionalGuid = None
    deployer_credential: Literal["environment", "managed_identity", "azure_cli"] = "environment"
    azure_authority_host: Annotated[str | None, UNSET_AS_NONE] = Field(
        None, pattern=r"^https://[^/]+/?$"
    )
    pat_lifetime_days: int = Field(90, ge=1, le=730)
    pat_rotate_before_days: int = Field(14, ge=0)
    pat_secret_name: str = Field("databricks-pat", pattern=r"^[0-9A-Za-z-]{1,127}$")
    workspace_principals: list[WorkspacePrincipal] = Field(default_factory=list)
    instance_pools: list[InstancePool] = Field(default_factory=_default_pools)
    jobs_default_pool: Annotated[str | None, UNSET_AS_NONE] = "general"
    job_variables: dict[str, Any] = Field(default_factory=lambda: {"spark_version": "15.4.x-scala2.12"})
    job_schedule_pause_status: Literal["PAUSED", "UNPAUSED"] = "UNPAUSED"
    data_factory_git_repo: Annotated[GitRepo | None, UNSET_AS_NONE] = None
    data_factory_key_vault_linked_service: str = Field("ls_key_vault", pattern=_ADF_NAME)
    data_factory_databricks_linked_service: str = Field("ls_databricks", pattern=_ADF_NAME)
    data_factory_databricks_auth: Literal["pat", "msi"] = "pat"
    data_factory_databricks_pool: Annotated[str | None, UNSET_AS_NONE] = None
    data_factory_databricks_cluster_version: str = Field("15.4.x-scala2.12", min_length=1)
    data_factory_databricks_workers: str = Field("2", pattern=r"^[0-9]{1,4}(:[0-9]{1,4})?$")
    data_factory_databricks_node_type: Annotated[str | None, UNSET_AS_NONE] = None
    data_factory_allow_job_clusters: bool = False
    data_factory_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    data_factory_triggers_started: bool = False
    data_factory_trigger_states: dict[str, Literal["Started", "Stopped"]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> StageConfig:
        if self.pat_rotate_before_days >= self.pat_lifetime_days:
            raise ValueError(
                f"patRotateBeforeDays ({self.pat_rotate_before_days}) must be less than patLifetimeDays "
                f"({self.pat_lifetime_days}), or every deployment would rotate the token"
            )
        pools = [pool.name for pool in self.instance_pools]
        if len(set(pools)) != len(pools):
            raise ValueError(f"instancePools: pool names must be unique, got {pools}")
        secrets = [pool.key_vault_secret_name for pool in self.instance_pools] + [self.pat_secret_name]
        if len(set(secrets)) != len(secrets):
            raise ValueError(f"Key Vault secret names of the PAT and the pools must be unique, got {secrets}")
        if self.jobs_default_pool is not None and self.jobs_default_pool not in pools:
            raise ValueError(
                f"jobsDefaultPool {self.jobs_default_pool!r} is not a configured pool; pools: {pools or 'none'}"
            )
        self._check_data_factory(pools)
        applications = [p.application_id for p in self.workspace_principals]
        if len(set(applications)) != len(applications):
            raise ValueError("workspacePrincipals: each applicationId may appear once")
        return self

    def _check_data_factory(self, pools: list[str]) -> None:
        owned = [self.data_factory_key_vault_linked_service, self.data_factory_databricks_linked_service]
        if owned[0].lower() == owned[1].lower():
            raise ValueError(f"dataFactoryKeyVaultLinkedService and dataFactoryDatabricksLinkedService must differ, "
                             f"got {owned[0]!r} twice (ADF names ignore case)")
        if self.data_factory_databricks_pool is not None and self.data_factory_databricks_pool not in pools:
            raise ValueError(f"dataFactoryDatabricksPool {self.data_factory_databricks_pool!r} is not a configured "
                             f"pool; pools: {pools or 'none'}")
        if self.data_factory_pool is None and not self.data_factory_allow_job_clusters:
            raise ValueError("dataFactoryDatabricksPool: the Data Factory's Databricks linked service needs an "
                             "instance pool (set dataFactoryDatabricksPool or jobsDefaultPool), or set "
                             "dataFactoryAllowJobClusters: true to start a job cluster per activity")
        if self.data_factory_pool is None and self.data_factory_databricks_node_type is None:
            raise ValueError("dataFactoryDatabricksNodeType is required when the Databricks linked service runs "
                             "job clusters without a pool (e.g. Standard_DS3_v2)")

    @property
    def data_factory_pool(self) -> InstancePool | None:
        """The pool the Data Factory's Databricks activities run on (its own key, else the jobs' default)."""
        name = self.data_factory_databricks_pool or self.jobs_default_pool
        return next((pool for pool in self.instance_pools if pool.name == name), None)

    @property
    def publishes_data_factory(self) -> bool:
        """Whether the program publishes factory/ (the factory is not git-linked; git mode owns it otherwise)."""
        return self.data_factory_git_repo is None

    @property
    def template_variables(self) -> dict[str, Any]:
        """What job templates see as `vars`: the stack's variables plus the schedule pause status."""
        return {**self.job_variables, "schedule_pause_status": self.job_schedule_pause_status}

    @property
    def all_tags(self) -> dict[str, str]:
        """Tags put on every resource: the stage's identity first, then the stack's own tags."""
        return {"project": PROJECT, "stage": self.stage, "managed-by": "pulumi", **self.tags}


def config_keys() -> dict[str, str]:
    """Config key (camelCase, as in Pulumi.yaml) -> model field name, for every settable key."""
    return {
        field.alias or name: name for name, field in StageConfig.model_fields.items() if name != "stage"
    }


def _is_structured(annotation: Any) -> bool:
    """Whether the engine hands this field over as JSON text (objects and arrays)."""
    for candidate in (annotation, *typing.get_args(annotation)):
        origin = typing.get_origin(candidate) or candidate
        if origin in (dict, list) or (isinstance(origin, type) and issubclass(origin, BaseModel)):
            return True
    return False


def parse_stage_config(
    raw: Mapping[str, str], *, stack: str, secret_keys: Collection[str] = ()
) -> StageConfig:
    """Validate raw config (``project:key`` -> string, as the engine passes it) for ``stack``.

    ``secret_keys`` are keys set with ``--secret``: none of the stage's settings is a secret
    (credentials come from the environment), and a secret here would flow unmasked into resource
    inputs, so they are refused, and their values are never echoed.

    Raises UserError with one line per problem, each naming the stack file and key; every problem
    of the file is reported in one run.
    """
    source = f"Pulumi.{stack}.yaml"
    keys = config_keys()
    problems: list[str] = []
    values: dict[str, Any] = {}

    if not STAGE_PATTERN.match(stack):
        problems.append(
            f"{source}: the stack name {stack!r} is the stage and must be 2-7 lowercase letters or "
            "digits, starting with a letter (e.g. dev, test, prod)"
        )

    for full_key in sorted(raw):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                f"{source}: {full_key}: unknown key; {hint}allowed keys are declared in Pulumi.yaml: "
                + ", ".join(sorted(keys))
            )
            continue
        if full_key in secret_keys:
            problems.append(
                f"{source}: {full_key}: is set as a secret, but no setting of this program is one "
                "(credentials come from the environment); a secret here would reach resource inputs "
                "unmasked. Set it in plain text, or keep the secret in Key Vault."
            )
            continue
        text = raw[full_key]
        field = StageConfig.model_fields[keys[key]]
        if _is_structured(field.annotation):
            try:
                value: Any = json.loads(text) if isinstance(text, str) else text
            except json.JSONDecodeError:
                problems.append(f"{source}: {full_key}: must be a YAML mapping or list, got {text!r}")
                continue
            values[key] = value
        else:
            values[key] = text

    try:
        config = StageConfig.model_validate({"stage": stack, **values})
    except ValidationError as error:
        raise UserError(problems + _describe(error, source, values)) from None
    if problems:
        raise UserError(problems)
    return config


def _describe(error: ValidationError, source: str, values: Mapping[str, Any]) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        location = item["loc"]
        if not location:  # a check across keys: its message names them
            problems.append(f"{source}: {item['msg'].removeprefix('Value error, ')}")
            continue
        key = str(location[0])
        path = key + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location[1:])
        message = item["msg"].removeprefix("Value error, ")
        given = values.get(key)
        got = f" (got {given!r})" if given is not None and not isinstance(given, dict | list) else ""
        problems.append(f"{source}: {PROJECT}:{path}: {message}{got}")
    return problems


def load_stage_config() -> StageConfig:
    """Read this stack's config from the Pulumi runtime, once, before any resource is declared."""
    import pulumi
    import pulumi.runtime

    # The engine hands config to the program as a map; both places it can arrive are read so that
    # unknown keys are found whichever way the language host passed them.
    known = set(pulumi.runtime.get_config_env()) | set(pulumi.runtime.config.CONFIG.get())
    raw = {
        key: pulumi.runtime.get_config(key) for key in sorted(known) if key.startswith(f"{PROJECT}:")
    }
    secret_keys = {key for key in raw if pulumi.runtime.is_config_secret(key)}
    return parse_stage_config(raw, stack=pulumi.get_stack(), secret_keys=secret_keys)
