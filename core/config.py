"""The stage configuration: one typed, validated model read once from the stack's config.

Every key is declared and described once, in ``Pulumi.yaml``; this module is the only reader of
``pulumi.Config``. A bad value or an unknown key stops the program before any resource is declared,
with one line per problem naming the stack file, the key and what is allowed (a typo must never fall
back to a default silently). Keys outside this project's namespace are checked too: a namespace the
program does not use (``databricks-platfrom:``, ``Databricks-Platform:``) is an error, and so is a key
the azure-native or databricks provider does not have.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from core.config_checks import cross_key_problems
from core.config_namespaces import foreign_key_problem
from core.config_rules import (
    PROJECT,
    checked_ip_ranges,
    checked_tags,
    https_url,
    ip_range,
    reserved_tags,
    text_without_controls,
)
from core.errors import UserError, shown, shown_name
from core.job_settings import JobDefaults
from core.naming import PREFIX_PATTERN, STAGE_PATTERN
from core.safe_json import parse_json
from core.safe_load import read_yaml_document

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _prefix(value: str) -> str:
    if not PREFIX_PATTERN.fullmatch(value):
        raise ValueError("must be 2-8 lowercase letters or digits, starting with a letter")
    return value


def _uuid(value: str) -> str:
    if not _UUID.fullmatch(value):
        raise ValueError("must be a GUID, e.g. 00000000-0000-0000-0000-000000000000")
    return value.lower()


def _workspace_path(value: str) -> str:
    segments = value.split("/")
    if not value.startswith("/") or len(segments) < 2 or any(s in ("", ".", "..") for s in segments[1:]):
        raise ValueError("must be an absolute workspace path without a trailing '/', '.' or '..', e.g. /Shared")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{shown(value)} is not an e-mail address")
    return value


# Names of the program's ADF linked services: letters, digits, _, - and spaces (also a safe file name, for
# the export command's factory/linkedService/<name>.json).
_ADF_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_ -]{0,139}$"

# Pulumi.yaml cannot default a key to null (it would be required): "" or {} there means "not set".
UNSET_AS_NONE = BeforeValidator(lambda value: None if value in ("", {}) else value)

Guid = Annotated[str, AfterValidator(_uuid)]
OptionalGuid = Annotated[Guid | None, UNSET_AS_NONE]


class _Model(BaseModel):
    # Keys are camelCase in YAML, as Pulumi's own config keys are; unknown keys are errors. No setting is
    # NaN or infinite, and no string longer than any real setting (job variables are free-form).
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, allow_inf_nan=False,
        str_max_length=1024,
    )

    @field_validator("*", mode="after")
    @classmethod
    def _whole_text(cls, value: Any, info: ValidationInfo) -> Any:
        # job variables are free-form template input; the stage (the stack name) is checked on its own.
        return value if info.field_name in ("job_variables", "stage") else text_without_controls(value)


class GitRepo(_Model):
    """The git repository a Data Factory is linked to (Azure DevOps Repos or GitHub)."""

    type: Literal["azureDevOps", "gitHub"]
    account_name: str = Field(min_length=1)
    repository_name: str = Field(min_length=1)
    collaboration_branch: str = Field("main", min_length=1)
    root_folder: str = Field("/", pattern=r"^/")
    project_name: str | None = None
    tenant_id: Guid | None = None
    host_name: Annotated[str, AfterValidator(https_url)] | None = None

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


# No documented cap on a pool's size; a typo of extra digits should still fail before `pulumi up`.
MAX_POOL_INSTANCES = 10_000


class InstancePool(_Model):
    """A Databricks instance pool; its id is written to Key Vault for Data Factory."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
    node_type: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    min_idle: int = Field(0, ge=0, le=MAX_POOL_INSTANCES)
    max_capacity: int = Field(ge=1, le=MAX_POOL_INSTANCES)
    idle_minutes: int = Field(15, ge=0, le=10000)  # Databricks: 0-10000 minutes
    spark_version: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:+-]{1,128}$")
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


class KeyVaultReader(_Model):
    """A consumer that may read the stage's secrets (Key Vault Secrets User on the vault, nothing more)."""

    object_id: Guid
    principal_type: Literal["ServicePrincipal", "User", "Group"]
    name: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")


# The group the program keeps holding the right to create tokens (components/workspace_settings.py).
TOKEN_USERS_GROUP = "token-users"


class TokenUser(_Model):
    """A principal that may create personal access tokens, besides the workspace admins."""

    service_principal: Guid | None = None
    group: str | None = Field(None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_principal(self) -> TokenUser:
        if (self.service_principal is None) == (self.group is None):
            raise ValueError("give exactly one of servicePrincipal (an application id) or group (a display name)")
        group = (self.group or "").lower()
        if group == "admins":
            raise ValueError("the admins group may always create tokens; list other principals only")
        if group == "users":
            raise ValueError("the users group is every user of the workspace: listing it lets everyone create "
                             "tokens again; list the groups or service principals that need them")
        if group == TOKEN_USERS_GROUP:
            raise ValueError(f"{TOKEN_USERS_GROUP!r} is the group the program keeps for token rights (with nobody "
                             "configured it holds them, empty); list other groups or service principals")
        return self


def _default_pools() -> list[InstancePool]:
    # Mirrors the default in Pulumi.yaml (a test holds the two together).
    return [InstancePool(name="general", node_type="Standard_DS3_v2", max_capacity=4,
                         spark_version="15.4.x-scala2.12")]


class StageConfig(_Model):
    """Everything one stage declares, validated. Field docs live in Pulumi.yaml."""

    stage: str = Field(max_length=100_000)  # the stack name, checked (and reported) by parse_stage_config
    location: str = Field("westeurope", pattern=r"^[a-z0-9]+$")
    prefix: Annotated[str, AfterValidator(_prefix)] = "dbp"
    global_name_suffix: bool = False
    tags: Annotated[dict[str, str], AfterValidator(checked_tags)] = Field(default_factory=dict)
    workspace_sku: Literal["standard", "premium", "trial"] = "premium"
    workspace_no_public_ip: bool = True
    key_vault_sku: Literal["standard", "premium"] = "standard"
    key_vault_soft_delete_retention_days: int = Field(90, ge=7, le=90)
    key_vault_purge_protection: bool = True
    key_vault_network_default_action: Literal["Allow", "Deny"] = "Allow"
    key_vault_allowed_ip_ranges: Annotated[list[Annotated[str, AfterValidator(ip_range)]],
                                           AfterValidator(checked_ip_ranges)] = Field(default_factory=list)
    deployer_principal_type: Literal["ServicePrincipal", "User", "Group"] = "ServicePrincipal"
    deployer_tenant_id: OptionalGuid = None
    deployer_client_id: OptionalGuid = None
    deployer_credential: Literal["environment", "managed_identity", "azure_cli"] = "environment"
    azure_authority_host: Annotated[str | None, UNSET_AS_NONE] = Field(
        None, pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$"
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
    key_vault_readers: list[KeyVaultReader] = Field(default_factory=list)
    notebooks_root: Annotated[str, AfterValidator(_workspace_path)] = "/Shared"
    external_notebooks: list[Annotated[str, AfterValidator(_workspace_path)]] = Field(default_factory=list)
    jobs_queue: bool = True
    jobs_max_concurrent_runs: int = Field(1, ge=1, le=1000)
    jobs_timeout_seconds: int = Field(14400, ge=0, le=2**31 - 1)  # the Jobs API's int32
    jobs_failure_emails: list[Annotated[str, AfterValidator(_email)]] = Field(default_factory=list)
    jobs_edit_mode: Literal["UI_LOCKED", "EDITABLE"] = "UI_LOCKED"
    workspace_max_token_lifetime_days: int = Field(90, ge=1, le=730)
    workspace_token_users: list[TokenUser] = Field(default_factory=list)
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

    # False on a stand-in (see parse_stage_config) whose pools could not be validated.
    _pools_known: bool = PrivateAttr(True)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> StageConfig:
        if info.context and info.context.get("stand_in"):
            return self
        problems = cross_key_problems(self)
        if problems:
            raise ValueError(_ACROSS_KEYS.join(problems))  # one line per problem (see _describe)
        return self

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
    def job_defaults(self) -> JobDefaults:
        """What every job of the stage gets unless its definition sets it."""
        return JobDefaults(
            queue=self.jobs_queue,
            max_concurrent_runs=self.jobs_max_concurrent_runs,
            timeout_seconds=self.jobs_timeout_seconds,
            failure_emails=tuple(self.jobs_failure_emails),
            edit_mode=self.jobs_edit_mode,
            schedule_pause_status=self.job_schedule_pause_status,
        )

    @property
    def template_variables(self) -> dict[str, Any]:
        """What job templates see as `vars`: the stack's variables plus the schedule pause status."""
        return {**self.job_variables, "schedule_pause_status": self.job_schedule_pause_status}

    @property
    def pool_names(self) -> list[str] | None:
        """Names of the configured pools; None when the pools' config is invalid (already reported)."""
        return [pool.name for pool in self.instance_pools] if self._pools_known else None

    @property
    def pool_capacities(self) -> dict[str, int] | None:
        """Max capacity by pool name; None when the pools' config is invalid (already reported)."""
        return {pool.name: pool.max_capacity for pool in self.instance_pools} if self._pools_known else None

    @property
    def all_tags(self) -> dict[str, str]:
        """Tags put on every resource: the stage's identity first, then the stack's own tags."""
        return {**reserved_tags(self.stage), **self.tags}


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
    raw: Mapping[str, Any], *, stack: str, secret_keys: Collection[str] = (), problems: list[str] | None = None,
    sources: Mapping[str, str] | None = None,
) -> StageConfig:
    """Validate raw config (``namespace:key`` -> string, as the engine passes it) for ``stack``.

    ``secret_keys`` are keys set with ``--secret``: none of the stage's settings is a secret
    (credentials come from the environment), and a secret here would flow unmasked into resource
    inputs, so they are refused, and their values are never echoed.

    Every problem names the file and key: ``sources`` maps a key to the file that sets it (default: the
    stack file). Without ``problems``, they are raised as one UserError.
    With it, they are appended and a stand-in config is returned (each bad key at its default), so that
    the validators that need a config (jobs, factory) can still report theirs in the same run; the
    caller raises before declaring anything.
    """
    source = shown_name(f"Pulumi.{stack}.yaml")
    where = (lambda key: sources.get(key, source)) if sources is not None else (lambda key: source)
    keys = config_keys()
    found: list[str] = []
    values: dict[str, Any] = {}

    if not STAGE_PATTERN.fullmatch(stack):
        found.append(
            f"{source}: the stack name {shown(stack)} is the stage and must be 2-7 lowercase letters or "
            "digits, starting with a letter (e.g. dev, test, prod)"
        )

    for full_key in sorted(raw):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            problem = foreign_key_problem(full_key, project=PROJECT, project_keys=keys)
            if problem:
                found.append(f"{where(full_key)}: {problem}")
            continue
        if key not in keys:
            close = _close_key(key, keys)
            hint = f"did you mean {close!r}? " if close else ""
            found.append(
                f"{where(full_key)}: {shown_name(full_key)}: unknown key; {hint}allowed keys are declared in "
                "Pulumi.yaml: " + ", ".join(sorted(keys))
            )
            continue
        if full_key in secret_keys:
            found.append(
                f"{where(full_key)}: {full_key}: is set as a secret, but no setting of this program is one "
                "(credentials come from the environment); a secret here would reach resource inputs "
                "unmasked. Set it in plain text, or keep the secret in Key Vault."
            )
            continue
        text = raw[full_key]
        if not isinstance(text, str):
            found.append(f"{where(full_key)}: {full_key}: the engine hands config over as text, got {shown(text)}")
            continue
        if _is_structured(StageConfig.model_fields[keys[key]].annotation):
            value = _parse_structured(text, f"{where(full_key)}: {full_key}", found)
            if value is not _INVALID:
                values[key] = value
            continue
        problem = _scalar_text_problem(keys[key], text)
        if problem:
            found.append(f"{where(full_key)}: {full_key}: {problem}")
        else:
            values[key] = text

    config = _validate(values, stack, source, found, where)
    if found and problems is None:
        raise UserError(found)
    if problems is not None:
        problems.extend(found)
    return config


_INVALID = object()
# Joins the problems of the check across keys into one pydantic error; _describe splits them again.
_ACROSS_KEYS = "\n"
_GO_ATOI = re.compile(r"[+-]?[0-9]+")


def _scalar_text_problem(field: str, text: str) -> str | None:
    """What Pulumi itself refuses in the text of a typed setting before the program runs, said the same way here.

    The CLI checks a value against its Pulumi.yaml `type`: an integer must be what Go's strconv.Atoi reads
    (decimal digits, an optional sign: `010` is ten), a boolean exactly `true` or `false`. Pydantic alone would
    take `1_000`, ` 7` or `yes`, which `pulumi up` refuses: the offline plan would then plan what never deploys.
    """
    annotation = StageConfig.model_fields[field].annotation
    if annotation in (bool, int) and text.lstrip("+-").lower() in ("nan", ".nan", "inf", ".inf", "infinity"):
        return f"{shown(text)} is not a finite number; NaN and infinity are not accepted"
    if annotation is bool and text not in ("true", "false"):
        return (f"Input should be a valid boolean, true or false (got {shown(text)}); Pulumi reads no other "
                "spelling of a boolean setting (not yes/no, on/off or True)")
    if annotation is int and (len(text) > 20 or not _GO_ATOI.fullmatch(text) or not -(2**63) <= int(text) < 2**63):
        return (f"Input should be a valid integer in decimal digits, e.g. 90 (got {shown(text)}); Pulumi reads "
                "no other form of an integer setting (not 1_000, 0x10, 1.0 or 2:8)")
    return None


def _parse_structured(text: str, where: str, found: list[str]) -> Any:
    """Objects and arrays arrive as JSON text; deep, NaN or duplicate-key JSON is refused like a file's."""
    problems: list[str] = []
    value = parse_json(text, source="\0", problems=problems)
    if not problems:
        return value
    for problem in problems:
        position, message = re.fullmatch(r"\0((?::\d+)*): (.*)", problem, flags=re.DOTALL).groups()
        at = f" (at {position.lstrip(':')} of the value)" if position else ""
        found.append(f"{where}: must be a YAML mapping or list; {message}{at}")
    return _INVALID


def _close_key(key: str, keys: Collection[str]) -> str | None:
    for known in keys:
        if known.lower() == key.lower():
            return known
    close = difflib.get_close_matches(key[:100], keys, n=1)
    return close[0] if close else None


def _validate(values: dict[str, Any], stack: str, source: str, found: list[str],
              where: Callable[[str], str]) -> StageConfig:
    try:
        return StageConfig.model_validate({"stage": stack, **values})
    except ValidationError as error:
        found.extend(_describe(error, source, values, where))
        bad = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
    # A stand-in for the validators that run after this one: bad keys at their defaults, and pools that
    # failed a check across keys marked unknown (job definitions then do not repeat the pool problem).
    kept = {key: value for key, value in values.items() if key not in bad}
    try:
        config = StageConfig.model_validate({"stage": stack, **kept}, context={"stand_in": True})
    except ValidationError:  # a bad key the error did not locate: every setting at its default
        config = StageConfig.model_validate({"stage": stack}, context={"stand_in": True})
    pools = [pool.name for pool in config.instance_pools]
    config._pools_known = (
        not {"instancePools", "jobsDefaultPool"} & bad
        and len(set(pools)) == len(pools)
        and (config.jobs_default_pool is None or config.jobs_default_pool in pools)
    )
    return config


def _describe(error: ValidationError, source: str, values: Mapping[str, Any],
              where: Callable[[str], str]) -> list[str]:
    problems = []
    per_key: dict[str, int] = {}
    for item in error.errors(include_url=False):
        location = item["loc"]
        if not location:  # the checks across keys: each message names its keys
            problems += [f"{source}: {line}" for line in item["msg"].removeprefix("Value error, ").split(_ACROSS_KEYS)]
            continue
        key = str(location[0])
        per_key[key] = per_key.get(key, 0) + 1
        if per_key[key] > MAX_PROBLEMS_PER_KEY:  # a list of 100,000 bad entries: the first few say what is wrong
            continue
        path = key + "".join(f"[{part}]" if isinstance(part, int) else f".{shown_name(str(part))}"
                             for part in location[1:])
        message = item["msg"].removeprefix("Value error, ")
        given = values.get(key)
        got = f" (got {shown(given)})" if given is not None and not isinstance(given, dict | list) else ""
        problems.append(f"{where(f'{PROJECT}:{key}')}: {PROJECT}:{path}: {message}{got}")
    problems += [f"{where(f'{PROJECT}:{key}')}: {PROJECT}:{key}: and {count - MAX_PROBLEMS_PER_KEY:,} more "
                 "problems like these" for key, count in per_key.items() if count > MAX_PROBLEMS_PER_KEY]
    return problems


MAX_PROBLEMS_PER_KEY = 10


def load_stage_config(problems: list[str] | None = None) -> StageConfig:
    """Read this stack's config from the Pulumi runtime, once, before any resource is declared.

    The config map is the one the engine handed the program (under ``pulumi up`` the language host parses
    PULUMI_CONFIG into it; the offline plan sets it from the stack's files). Nothing else is read: not the
    environment variables behind pulumi.Config's fallbacks, which a shell may hold from another stack.
    ``problems``: see parse_stage_config.
    """
    import pulumi
    import pulumi.runtime

    raw = dict(pulumi.runtime.config.CONFIG.get())
    secret_keys = {key for key in raw if pulumi.runtime.is_config_secret(key)}
    stack = pulumi.get_stack()
    return parse_stage_config(raw, stack=stack, secret_keys=secret_keys, problems=problems,
                              sources=config_sources(Path.cwd(), stack, raw))


def config_sources(project_dir: Path, stack: str, raw: Collection[str]) -> dict[str, str]:
    """Which file sets each key of the engine's map, so that a problem names the file to fix.

    The engine merges Pulumi.yaml, Pulumi.<stack>.yaml and any ESC environment the stack imports into one
    map; a key found in neither file came from elsewhere, and its messages say so. Unreadable files name
    no source here (their own reader reports them).
    """
    unread: list[str] = []
    project = read_yaml_document(project_dir / "Pulumi.yaml", source="Pulumi.yaml", root=project_dir,
                                 problems=unread)
    project = project if isinstance(project, dict) else {}
    stack_dir = project.get("stackConfigDir") if isinstance(project.get("stackConfigDir"), str) else "."
    stack_name = f"Pulumi.{stack}.yaml"
    stack_file = read_yaml_document(project_dir / stack_dir / stack_name, source=stack_name, root=project_dir,
                                    problems=unread)
    if unread or not isinstance(stack_file, dict):
        return {}

    def keys(section: Any) -> set[str]:
        return {key if ":" in key else f"{PROJECT}:{key}" for key in section} if isinstance(section, dict) else set()

    in_stack, in_project = keys(stack_file.get("config")), keys(project.get("config"))
    elsewhere = f"config of stack {shown_name(stack)} (not set in {shown_name(stack_name)} or Pulumi.yaml: an " \
                "environment the stack imports?)"
    return {key: stack_name if key in in_stack else "Pulumi.yaml" if key in in_project else elsewhere
            for key in raw}
