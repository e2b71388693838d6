"""Apply the policy pack's validators to an offline plan: ``python -m offline_plan --stack <s> --policy``.

The rules are the pack's own pulumi-policy objects (``policy.rules.POLICIES``), called with the same
argument objects the pack's server builds: each planned resource becomes a ``ResourceValidationArgs`` whose
URN is the engine's, whose props are the planned inputs (wire names; ``<computed>`` turned back into
pulumi-policy's unknown marker, behind its unknown-checking proxy) and whose config is the policy's settings.
Settings and enforcement levels come from the same JSON file ``pulumi preview --policy-pack-config`` reads.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.errors import RunError
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from offline_plan.render import engine_urn

# This checkout's core/safe_load.py and core/messages.py (stack_config imports them apart from the program's core/).
from offline_plan.stack_config import messages as core_messages
from offline_plan.stack_config import safe_load

# The rules live beside this package (policy/), not in the planned program: put this checkout first, so a
# program directory that has its own policy/ (another git ref) cannot replace them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from policy.rules import POLICIES

_COMPUTED = "<computed>"  # the plan's unknown (offline_plan/runner.py)
_LEVELS = {level.value: level for level in EnforcementLevel}


class PolicyConfigError(RunError):
    """The policy config file is unreadable or does not fit the policies' schemas (one line per problem)."""


@dataclass(frozen=True)
class Violation:
    policy: str
    """Rule name, e.g. "key-vault-purge-protection-outside-dev"."""
    level: str
    """"mandatory" or "advisory"."""
    resource_type: str
    resource_name: str
    message: str
    """What is wrong and what to change."""

    @property
    def line(self) -> str:
        return f"[{self.level}] {self.policy}: {self.resource_type} {self.resource_name}: {self.message}"


@dataclass
class PolicyReport:
    """The outcome of the rules on one stack's plan."""

    project: str
    stack: str
    resources: int
    policies: int
    violations: list[Violation] = field(default_factory=list)

    @property
    def mandatory_failed(self) -> bool:
        """Whether a mandatory rule is violated: the run must fail (exit 1)."""
        return any(violation.level == "mandatory" for violation in self.violations)

    @property
    def lines(self) -> list[str]:
        mandatory = sum(violation.level == "mandatory" for violation in self.violations)
        advisory = len(self.violations) - mandatory
        lines = [f"Guard rails of {self.project} stack {self.stack}: {self.policies} rules on {self.resources} "
                 f"resources: {mandatory} mandatory and {advisory} advisory violation(s)"]
        lines += [violation.line for violation in self.violations]
        if mandatory:
            lines.append(f"Stack {self.stack} breaks mandatory guard rails: change what each line says.")
        elif advisory:
            lines.append(f"Stack {self.stack} passes: advisory violations are shown, not fatal.")
        else:
            lines.append(f"Stack {self.stack} passes every guard rail.")
        lines.append("Values known only after deployment (<computed>) are not judged here; "
                     "`pulumi up --policy-pack policy` judges them once they are known.")
        return lines

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def load_policy_config(path: Path | None) -> dict[str, Any]:
    """Read a policy config file (the JSON of ``--policy-pack-config``); ``{}`` for None.

    Raises PolicyConfigError naming the file and every problem: unknown policies or settings, wrong types.
    """
    if path is None:
        return {}
    # The readers stack files go through: a FIFO, /dev/zero, a huge or deeply nested file is refused, not read.
    problems: list[str] = []
    source = core_messages.shown_name(str(path), limit=1000)  # the path as given, unless it is no path anyone types
    config = safe_load.read_json_document(Path(path), source=source, root=None, problems=problems)
    if problems:
        raise PolicyConfigError("\n".join(problems))
    problems = _config_problems(config, source)
    if problems:
        raise PolicyConfigError("\n".join(_capped(problems)))
    return config


# A config file of 100,000 bad keys names the first few and counts the rest (each line is bounded by `shown`).
MAX_PROBLEMS = 20


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"… and {len(problems) - MAX_PROBLEMS:,} more problems like these"]


def _config_problems(config: Any, source: str) -> list[str]:
    if not isinstance(config, dict):
        return [f"{source}: the policy config must be a JSON object of policy name -> level or settings"]
    policies = {policy.name: policy for policy in POLICIES}
    problems = []
    for name, value in config.items():
        shown_policy = core_messages.shown_name(name)
        if name != "all" and name not in policies:
            problems.append(f"{source}: {shown_policy}: no such policy; policies: all, {', '.join(policies)}")
            continue
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            problems.append(f"{source}: {name}: must be an enforcement level or an object of settings")
            continue
        schema = {} if name == "all" else _schema(policies[name])
        for key, setting in value.items():
            if key == "enforcementLevel":
                if setting not in _LEVELS:
                    problems.append(f"{source}: {name}.enforcementLevel: must be one of {', '.join(_LEVELS)}, "
                                    f"got {core_messages.shown(setting)}")
            elif key not in schema:
                allowed = ", ".join(["enforcementLevel", *schema])
                problems.append(f"{source}: {name}.{core_messages.shown_name(key)}: unknown setting; {name} takes: "
                                f"{allowed}")
            else:
                problems += [f"{source}: {name}.{key}: {problem}" for problem in _type_problems(setting, schema[key])]
    return problems


def _type_problems(value: Any, schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            return [f"must be a whole number, got {core_messages.shown(value)}"]
        if "minimum" in schema and value < schema["minimum"]:
            return [f"must be at least {schema['minimum']}, got {core_messages.shown(value)}"]
    elif kind == "array":
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            return [f"must be a list of non-empty strings, got {core_messages.shown(value)}"]
    return []


def _schema(policy: ResourceValidationPolicy) -> dict[str, Any]:
    return dict(policy.config_schema.properties) if policy.config_schema else {}


def _level(policy: ResourceValidationPolicy, config: Mapping[str, Any]) -> EnforcementLevel:
    """As the engine decides: the policy's own entry, else "all", else the level the policy declares."""
    for name in (policy.name, "all"):
        entry = config.get(name)
        level = entry if isinstance(entry, str) else (entry or {}).get("enforcementLevel")
        if level:
            return _LEVELS[level]
    return policy.enforcement_level or EnforcementLevel.ADVISORY


def _settings(policy: ResourceValidationPolicy, config: Mapping[str, Any]) -> dict[str, Any]:
    """The policy's settings: its schema's defaults, overridden by the config file (as the engine does)."""
    settings = {key: schema["default"] for key, schema in _schema(policy).items() if "default" in schema}
    entry = config.get(policy.name)
    if isinstance(entry, dict):
        settings.update({key: value for key, value in entry.items() if key != "enforcementLevel"})
    return settings


def _as_wire(value: Any) -> Any:
    """The plan's inputs with ``<computed>`` back as pulumi-policy's unknown marker."""
    if isinstance(value, dict):
        return {key: _as_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_wire(item) for item in value]
    return UNKNOWN_STRING_VALUE if value == _COMPUTED else value


def validation_args(plan: Mapping[str, Any], resource: Mapping[str, Any],
                    settings: Mapping[str, Any] | None = None) -> ResourceValidationArgs:
    """What the pack's server would hand a rule for this planned resource."""
    urn = engine_urn(stack=plan["stack"], project=plan["project"], parent=resource["parent"],
                     type_=resource["type"], name=resource["name"])
    options = PolicyResourceOptions(
        protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
        parent=resource["parent"] or None,
    )
    props = unknown_checking_proxy(_as_wire(dict(resource["inputs"])))
    return ResourceValidationArgs(resource["type"], props, urn, resource["name"], options, None,
                                  dict(settings or {}), {})


def check_plan(plan: Mapping[str, Any], *, config: Mapping[str, Any] | None = None) -> PolicyReport:
    """Run every enabled rule on every resource of one stack's plan (the document ``plan_program`` returns).

    ``config`` is the policy config (``load_policy_config``): levels and settings per policy. A rule that
    fails with an error is reported as a mandatory violation of that rule: a guard rail never passes silently.
    """
    config = config or {}
    report = PolicyReport(project=plan["project"], stack=plan["stack"], resources=len(plan["resources"]),
                          policies=0)
    for policy in POLICIES:
        level = _level(policy, config)
        if level == EnforcementLevel.DISABLED:
            continue
        report.policies += 1
        # Remediation is not run offline; as the engine does once remediated, report at mandatory.
        shown = "mandatory" if level in (EnforcementLevel.MANDATORY, EnforcementLevel.REMEDIATE) else "advisory"
        settings = _settings(policy, config)
        for resource in plan["resources"]:
            messages: list[str] = []
            try:
                result = policy.validate(validation_args(plan, resource, settings),
                                         lambda message, _urn=None, found=messages: found.append(message))
                if inspect.isawaitable(result):
                    asyncio.run(_awaited(result))
            except Exception as error:  # noqa: BLE001 - a failing rule is a finding, never a traceback
                # Only the error's type: its text could quote an input, and inputs may hold a secret.
                messages.append(f"the rule failed on this resource ({type(error).__name__}); "
                                "report it to the platform team")
                shown_level = "mandatory"
            else:
                shown_level = shown
            report.violations += [Violation(policy.name, shown_level, resource["type"], resource["name"], message)
                                  for message in messages]
    order = {policy.name: index for index, policy in enumerate(POLICIES)}
    report.violations.sort(key=lambda v: (v.level != "mandatory", order[v.policy], v.resource_type, v.resource_name))
    return report


async def _awaited(result: Any) -> None:
    await result
