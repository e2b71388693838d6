"""The guard rails of every stage, as pulumi-policy validators.

Each rule is a plain function ``(args: ResourceValidationArgs, report_violation) -> None`` and ``POLICIES``
holds them as pulumi-policy ``ResourceValidationPolicy`` objects with their enforcement levels. Two callers
run the very same objects: the pack's entry point (``policy/__main__.py``, run by
``pulumi preview --policy-pack policy``) and the offline plan (``python -m offline_plan --stack <s> --policy``).
Nothing here starts a server; only constructing ``PolicyPack`` does. The plaintext-secret rule has a module of
its own (``policy/plaintext_secrets.py``, with what looks like a secret in ``policy/secret_shapes.py``).

Stages: a resource's stage is its stack name, read from its URN. "Outside dev" means a stage not listed in
the policy's ``devStages`` setting (default ["dev"]); "outside prod" a stage not in ``prodStages``
(default ["prod"]). Values known only after deployment never make a violation: during ``pulumi up`` the
engine runs the pack again once they are known.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from policy.plaintext_secrets import validate_no_plaintext_secrets
from policy.resource_types import (
    DATABRICKS_PAT,
    DATABRICKS_TAG_INPUTS,
    INSTANCE_POOL,
    JOB,
    KEY_VAULT,
    LINKED_SERVICE,
    TRIGGER_RUNTIME_STATE,
    WORKSPACE,
    WORKSPACE_CONF,
    azure_takes_tags,
    is_data_factory,
)
from policy.values import (
    KEY_PREFIX,
    UNKNOWN,
    config_key,
    get,
    inputs_of,
    is_set,
    job_clusters,
    path_text,
    setting,
    stack_file,
    stage_of,
)

POLICY_PACK_NAME = "databricks-platform-guard-rails"

DEFAULT_DEV_STAGES = ["dev"]
DEFAULT_PROD_STAGES = ["prod"]
# The security analysis tool flags tokens that live longer than 90 days (or never expire).
DEFAULT_MAX_PAT_LIFETIME_DAYS = 90
# What the DatabricksPat provider mints when lifetime_days is not given (dynamic_providers/databricks_pat.py).
PAT_PROVIDER_DEFAULT_LIFETIME_DAYS = 90
RESERVED_TAGS = ["project", "stage", "managed-by"]

_STAGES = {"type": "array", "items": {"type": "string", "minLength": 1}}
DEV_STAGES_SCHEMA = {
    "devStages": {**_STAGES, "default": DEFAULT_DEV_STAGES,
                  "description": "Stack names that are development stages (torn down and rebuilt freely)."},
}
PROD_STAGES_SCHEMA = {
    "prodStages": {**_STAGES, "default": DEFAULT_PROD_STAGES,
                   "description": "Stack names that are production stages."},
}


def _stage(args: ResourceValidationArgs) -> str:
    return stage_of(args.urn) or "(unknown)"


def _is_dev(args: ResourceValidationArgs) -> bool:
    return stage_of(args.urn) in setting(args, "devStages", DEFAULT_DEV_STAGES)


def _is_prod(args: ResourceValidationArgs) -> bool:
    return stage_of(args.urn) in setting(args, "prodStages", DEFAULT_PROD_STAGES)


def _named(inputs: dict, key: str, args: ResourceValidationArgs) -> str:
    value = inputs.get(key)
    return repr(value) if isinstance(value, str) and value else repr(args.name)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def validate_pat_lifetime(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """The stage's Databricks PAT, and any token the workspace lets anyone mint, expire within the cap (policy
    setting maxLifetimeDays, default 90): the security analysis tool flags longer-lived tokens."""
    cap = int(setting(args, "maxLifetimeDays", DEFAULT_MAX_PAT_LIFETIME_DAYS))
    if args.resource_type == WORKSPACE_CONF:
        workspace_cap = get(inputs_of(args), "customConfig", "maxTokenLifetimeDays")
        if workspace_cap is UNKNOWN or workspace_cap is None:
            return
        # The workspace conf holds text ("90"), as the Databricks API does.
        days = int(workspace_cap) if str(workspace_cap).isdigit() else None
        if days is None or days <= 0 or days > cap:
            report_violation(
                f"The workspace lets new tokens live {workspace_cap} days (maxTokenLifetimeDays), beyond the "
                f"{cap}-day cap: set {config_key('workspaceMaxTokenLifetimeDays', args)} to {cap} or less.", None)
        return
    if args.resource_type != DATABRICKS_PAT:
        return
    lifetime = inputs_of(args).get("lifetime_days", PAT_PROVIDER_DEFAULT_LIFETIME_DAYS)
    if lifetime is UNKNOWN:
        return
    days = _number(lifetime)
    if days is None or days <= 0:
        report_violation(f"The Databricks PAT has no lifetime, so it would never expire: set "
                         f"{config_key('patLifetimeDays', args)} to a number of days from 1 to {cap}.", None)
    elif days > cap:
        report_violation(f"The Databricks PAT would live {days:g} days, longer than the {cap}-day cap: set "
                         f"{config_key('patLifetimeDays', args)} to {cap} or less (it is rotated before it expires).",
                         None)


def validate_vault_rbac(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Key Vault authorizes with Azure RBAC, not access policies."""
    if args.resource_type != KEY_VAULT:
        return
    inputs = inputs_of(args)
    rbac = get(inputs, "properties", "enableRbacAuthorization")
    if rbac is UNKNOWN or rbac is True:
        return
    report_violation(
        f"Key Vault {_named(inputs, 'vaultName', args)} would grant access through access policies: turn on RBAC "
        "authorization (properties.enableRbacAuthorization: true, which components/key_vault.py sets), so "
        "each reader gets the Key Vault Secrets User role and nothing more.", None)


def validate_vault_purge_protection(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Key Vault purge protection is on in every stage but the dev stages."""
    if args.resource_type != KEY_VAULT or _is_dev(args):
        return
    inputs = inputs_of(args)
    purge_protection = get(inputs, "properties", "enablePurgeProtection")
    if purge_protection is UNKNOWN or purge_protection is True:
        return
    report_violation(
        f"Key Vault {_named(inputs, 'vaultName', args)} has no purge protection in stage {_stage(args)}, so a "
        f"deleted secret or vault could be purged before its retention ends: set "
        f"{config_key('keyVaultPurgeProtection', args)} to true. Only dev stages may leave it off; once on, it stays "
        "on.", None)


def validate_workspace_no_public_ip(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Cluster nodes of the Databricks workspace get no public IP (secure cluster connectivity)."""
    if args.resource_type != WORKSPACE:
        return
    inputs = inputs_of(args)
    no_public_ip = get(inputs, "parameters", "enableNoPublicIp", "value")
    if no_public_ip is UNKNOWN or no_public_ip is True:
        return
    report_violation(
        f"Databricks workspace {_named(inputs, 'workspaceName', args)} would give its cluster nodes public IP "
        f"addresses: set {config_key('workspaceNoPublicIp', args)} to true (secure cluster connectivity).", None)


def validate_compute_on_pools(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Job clusters and Data Factory's Databricks linked services run on an instance pool or an existing cluster."""
    inputs = inputs_of(args)
    if args.resource_type == JOB:
        for path, cluster in job_clusters(inputs):
            if cluster is UNKNOWN or not isinstance(cluster, dict) or is_set(cluster.get("instancePoolId")):
                continue
            report_violation(
                f"Job {_named(inputs, 'name', args)}: the cluster at {path_text(path)} is not on an instance pool, "
                "so every run waits for new VMs: give its new_cluster an instance_pool_id (in the job's template: "
                '"instance_pool_id": {{ pool() | tojson }}, the pool named by the definition\'s pool: or by '
                f"{config_key('jobsDefaultPool', args)}), or run the task on an existing cluster "
                "(existing_cluster_id).", None)
    elif args.resource_type == LINKED_SERVICE or (is_data_factory(args.resource_type, inputs)
                                                  and str(inputs.get("resourceType")).lower() == "linkedservices"):
        properties = inputs.get("properties")
        if not isinstance(properties, dict) or properties.get("type") != "AzureDatabricks":
            return
        # The typed resource flattens typeProperties; one published as written keeps them nested.
        settings = properties.get("typeProperties") if args.resource_type != LINKED_SERVICE else properties
        settings = settings if isinstance(settings, dict) else {}
        if is_set(settings.get("instancePoolId")) or is_set(settings.get("existingClusterId")):
            return
        name_key = "linkedServiceName" if args.resource_type == LINKED_SERVICE else "resourceName"
        report_violation(
            f"Data Factory linked service {_named(inputs, name_key, args)} would start a new job cluster "
            "for every Databricks activity (4-5 minutes each): give it instancePoolId (e.g. a Key Vault reference "
            "to the pool's secret databricks-pool-<name>) or existingClusterId.", None)


def validate_pools_idle_at_zero(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Instance pools keep no idle instances outside the prod stages."""
    if args.resource_type != INSTANCE_POOL or _is_prod(args):
        return
    inputs = inputs_of(args)
    idle = _number(inputs.get("minIdleInstances"))
    if idle is None or idle <= 0:
        return
    pool = inputs.get("instancePoolName") if isinstance(inputs.get("instancePoolName"), str) else args.name
    report_violation(
        f"Instance pool {pool!r} would keep {idle:g} idle instance(s) running in stage {_stage(args)}, billed "
        f"around the clock: set minIdle: 0 for pool {pool!r} under {config_key('instancePools', args)}. Only prod "
        "stages keep warm pools.", None)


# Databricks runs a job's schedule, continuous run or trigger unless its pause_status is PAUSED.
_JOB_RUNNERS = (("schedule", "schedule"), ("continuous", "continuous run"), ("trigger", "trigger"))


def validate_job_schedules_paused(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Job schedules, continuous runs and job triggers are paused outside the prod stages."""
    if _is_prod(args) or args.resource_type != JOB:
        return
    inputs = inputs_of(args)
    for field, what in _JOB_RUNNERS:
        runner = inputs.get(field)
        if not isinstance(runner, dict):
            continue
        status = runner.get("pauseStatus")
        if status is UNKNOWN or status == "PAUSED":
            continue
        # The program gives jobSchedulePauseStatus to every runner whose template sets no pause_status, so an
        # unpaused one means that key, or a template that writes its own value.
        given = f"pause_status {status}" if isinstance(status, str) and status else "no pause_status: UNPAUSED"
        report_violation(
            f"Job {_named(inputs, 'name', args)}: its {what} would run in stage {_stage(args)} ({given}): set "
            f"{config_key('jobSchedulePauseStatus', args)} to PAUSED; if it is PAUSED already, the job's template "
            f"writes its own {field}.pause_status: remove it there (the stage's value is then used) or write "
            "{{ vars.schedule_pause_status | tojson }}.", None)


def validate_data_factory_triggers_stopped(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Data Factory triggers published by the program stay stopped outside the prod stages."""
    if _is_prod(args) or args.resource_type != TRIGGER_RUNTIME_STATE:
        return
    inputs = inputs_of(args)
    state = inputs.get("desired_state")
    if not (isinstance(state, str) and state.lower() == "started"):
        return
    trigger = inputs.get("trigger_name") if isinstance(inputs.get("trigger_name"), str) else args.name
    report_violation(
        f"Data Factory trigger {trigger!r} would be started in stage {_stage(args)}, running its pipelines on a "
        f"schedule nobody expects there: in {stack_file(args.urn)}, set {KEY_PREFIX}:dataFactoryTriggerStates "
        f"to {{{trigger!r}: Stopped}} (a per-trigger state wins), or leave {trigger!r} out of it and set "
        f"{KEY_PREFIX}:dataFactoryTriggersStarted to false (or remove it: false is the default).", None)


_TAG_FIX_FOR_JOBS = ('add them to the "tags" of the template that renders the job (its definition\'s template:, '
                     'by default templates/notebook_job.json.j2), e.g. "tags": {"project": "databricks-platform", '
                     '"stage": {{ stage | tojson }}, "managed-by": "pulumi"}')


def validate_reserved_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Taggable Azure resources, Databricks pools and jobs carry the reserved tags project, stage, managed-by."""
    inputs = inputs_of(args)
    if args.resource_type in DATABRICKS_TAG_INPUTS:
        tag_input = DATABRICKS_TAG_INPUTS[args.resource_type]
    elif azure_takes_tags(args.resource_type, inputs):
        tag_input = "tags"
    else:
        return
    tags = inputs.get(tag_input)
    if tags is UNKNOWN:
        return
    tags = tags if isinstance(tags, dict) else {}
    required = setting(args, "requiredTags", RESERVED_TAGS)
    missing = [name for name in required if not is_set(tags.get(name))]
    label = {JOB: "name", INSTANCE_POOL: "instancePoolName", KEY_VAULT: "vaultName", WORKSPACE: "workspaceName",
             "azure-native:datafactory:Factory": "factoryName"}.get(args.resource_type, "")
    what = f"{args.resource_type.rsplit(':', 1)[-1]} {_named(inputs, label, args)}"
    reserved = [name for name in missing if name in RESERVED_TAGS]
    own = [name for name in missing if name not in RESERVED_TAGS]
    if reserved:
        if args.resource_type == JOB:
            fix = _TAG_FIX_FOR_JOBS
        else:
            fix = ("the program gives every resource it declares the stage's tags (core.config StageConfig.all_tags: "
                   "project, stage and managed-by, then your own); pass them as its tags where it is declared")
        report_violation(f"{what} lacks the reserved tag(s) {', '.join(reserved)} in {tag_input}: {fix}.", None)
    if own:
        if args.resource_type == JOB:
            fix = 'add them to the "tags" of the template that renders the job (its definition\'s template:)'
        else:
            fix = (f"set them in {config_key('tags', args)}; the program puts the stack's tags on every resource it "
                   "declares")
        report_violation(f"{what} lacks the tag(s) {', '.join(own)} the policy requires (requiredTags) in "
                         f"{tag_input}: {fix}.", None)
    stage = stage_of(args.urn)
    if "stage" not in required or not stage:
        return
    tagged_places = [(tag_input, tags)]
    if args.resource_type == JOB:  # a job's clusters take the pool's tags; their own must not contradict them
        tagged_places += [(f"{path_text(path)}.customTags", get(cluster, "customTags"))
                          for path, cluster in job_clusters(inputs)]
    for place, place_tags in tagged_places:
        tagged = place_tags.get("stage") if isinstance(place_tags, dict) else None
        if not isinstance(tagged, str) or not tagged or tagged == stage:
            continue
        if args.resource_type == JOB:
            fix = (f"the job's template writes stage {tagged!r} itself; write \"stage\": {{{{ stage | tojson }}}} in "
                   f"its {'cluster custom_tags' if place != tag_input else 'tags'} instead, or leave the tag out")
        else:
            fix = ("the program tags every resource with its stack's stage, and no stack setting can change it: the "
                   "code that declares this resource passes other tags; pass the stage's tags (StageConfig.all_tags)")
        report_violation(f"{what} is tagged stage={tagged!r} in {place} but belongs to stage {stage!r}: {fix}.", None)


# Enforcement levels. Mandatory where a violation is a security exposure or breaks the platform's contract
# (a token that outlives the cap, a vault without RBAC or purge protection, public IPs, plaintext secrets,
# clusters outside pools, schedules and triggers running where nobody expects them: duplicate loads and
# alerts from test). Advisory where it costs money or reporting but harms nothing: idle pool instances
# outside prod (sometimes wanted for a load test) and missing tags. Every level can be changed per policy
# in the pack's config (`--policy-pack-config`), e.g. {"pools-idle-at-zero-outside-prod": "mandatory"}.
POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="pat-lifetime-within-cap",
        description="The stage's Databricks PAT, and tokens the workspace allows, expire within the lifetime cap.",
        validate=validate_pat_lifetime,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        config_schema=PolicyConfigSchema(properties={
            "maxLifetimeDays": {"type": "integer", "minimum": 1, "default": DEFAULT_MAX_PAT_LIFETIME_DAYS,
                                "description": "Longest PAT lifetime allowed, in days."},
        }),
    ),
    ResourceValidationPolicy(
        name="key-vault-rbac",
        description="Key Vault authorizes with Azure RBAC, not access policies.",
        validate=validate_vault_rbac,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
    ),
    ResourceValidationPolicy(
        name="key-vault-purge-protection-outside-dev",
        description="Key Vault purge protection is on outside the dev stages.",
        validate=validate_vault_purge_protection,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        config_schema=PolicyConfigSchema(properties=dict(DEV_STAGES_SCHEMA)),
    ),
    ResourceValidationPolicy(
        name="workspace-no-public-ip",
        description="Databricks cluster nodes get no public IP.",
        validate=validate_workspace_no_public_ip,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
    ),
    ResourceValidationPolicy(
        name="compute-on-pools",
        description="Job clusters and Data Factory Databricks linked services run on a pool or an existing cluster.",
        validate=validate_compute_on_pools,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.MEDIUM,
    ),
    ResourceValidationPolicy(
        name="pools-idle-at-zero-outside-prod",
        description="Instance pools keep no idle instances outside the prod stages.",
        validate=validate_pools_idle_at_zero,
        enforcement_level=EnforcementLevel.ADVISORY,
        severity=Severity.LOW,
        config_schema=PolicyConfigSchema(properties=dict(PROD_STAGES_SCHEMA)),
    ),
    ResourceValidationPolicy(
        name="job-schedules-paused-outside-prod",
        description="Job schedules, continuous runs and job triggers are paused outside the prod stages.",
        validate=validate_job_schedules_paused,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.MEDIUM,
        config_schema=PolicyConfigSchema(properties=dict(PROD_STAGES_SCHEMA)),
    ),
    ResourceValidationPolicy(
        name="data-factory-triggers-stopped-outside-prod",
        description="Data Factory triggers stay stopped outside the prod stages.",
        validate=validate_data_factory_triggers_stopped,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.MEDIUM,
        config_schema=PolicyConfigSchema(properties=dict(PROD_STAGES_SCHEMA)),
    ),
    ResourceValidationPolicy(
        name="reserved-tags",
        description="Taggable resources carry the reserved tags project, stage and managed-by.",
        validate=validate_reserved_tags,
        enforcement_level=EnforcementLevel.ADVISORY,
        severity=Severity.LOW,
        config_schema=PolicyConfigSchema(properties={
            "requiredTags": {"type": "array", "items": {"type": "string", "minLength": 1},
                             "default": RESERVED_TAGS, "description": "Tags every taggable resource must carry."},
        }),
    ),
    ResourceValidationPolicy(
        name="no-plaintext-secrets",
        description="No resource input holds a credential in plain text.",
        validate=validate_no_plaintext_secrets,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.CRITICAL,
    ),
]
