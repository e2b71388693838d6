"""Dynamic providers that keep a Data Factory trigger stopped while it or its pipelines change, then bring it
to the stage's desired runtime state.

ADF refuses to update a started trigger (`TriggerEnabledCannotUpdate`) or to delete one, and ARM (so
azure-native) cannot start one. So each published trigger gets two resources around its azure-native Trigger
and the Pipelines it runs (dynamic_providers.trigger_gate wires them):

- `TriggerStopper`, which the Trigger and its Pipelines depend on: create, and an update that changes the
  `fingerprint` (a hash of the trigger's and its pipelines' definitions), stop the trigger if it exists and is
  not stopped. Pulumi changes the Trigger and Pipelines only after that. Delete does nothing.
- `TriggerRuntimeState`, which depends on the Trigger and Pipelines: create and update bring the trigger to
  `desired_state` (Started or Stopped) and record the `runtime_state` ADF reports. Its inputs carry the same
  fingerprint, so after the stopper stopped a trigger for a change, this one updates too and starts it again.
  Read (refresh) records the actual runtime state, so a trigger started or stopped by hand shows as drift and
  the next `up` corrects it. Delete stops the trigger, so that the Trigger can then be deleted (Pulumi deletes
  dependents first).

Diff never calls ARM: preview stays offline-safe. The providers are pickled by reference (like DatabricksPat),
so the engine's provider process, started in the project directory, must be able to import this package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pulumi.dynamic
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, UpdateResult
from pulumi.runtime.rpc import unwrap_rpc_secret

from core.messages import shown
from dynamic_providers.provider_inputs import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_CREDENTIAL,
    GUID,
    https_origin,
    identity_failures,
    is_unknown,
    matches,
)
from dynamic_providers.unchained import unchained

STARTED, STOPPED = "Started", "Stopped"
ABSENT = "Absent"
"""What TriggerStopper records when there was no trigger to stop."""

# Which trigger: a change means another trigger (ADF names ignore case, so these compare case-insensitively).
LOCATION_KEYS = ("subscription_id", "resource_group_name", "factory_name", "trigger_name")
# Who calls ARM, and where: bookkeeping for the diff, used on the next call.
IDENTITY_KEYS = ("credential", "tenant_id", "client_id", "azure_authority_host", "arm_endpoint")
STOPPER_INPUTS = (*LOCATION_KEYS, *IDENTITY_KEYS, "fingerprint")
STATE_INPUTS = (*STOPPER_INPUTS, "desired_state")
STOPPER_OUTPUTS = ("found_state",)
STATE_OUTPUTS = ("runtime_state",)

# ARM's and ADF's naming rules (REST API reference of resource groups, factories and triggers).
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
_FACTORY = re.compile(r"^(?=.{3,63}$)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
_TRIGGER = re.compile(r"^[A-Za-z0-9_][^<>*#.%&:\\+?/\x00-\x1f\x7f]{0,259}$")
MAX_FINGERPRINT = 256


def _checked(news: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Inputs with defaults applied and normalised, and one failure per unusable property."""
    inputs = {
        key: unwrap_rpc_secret(value) for key, value in news.items() if key in keys and value is not None
    }
    inputs.setdefault("credential", DEFAULT_CREDENTIAL)
    inputs.setdefault("azure_authority_host", DEFAULT_AUTHORITY_HOST)
    failures: list[CheckFailure] = []

    def check(key: str, ok: Callable[[Any], bool], allowed: str, *, required: bool = True) -> None:
        if key not in inputs:
            if required:
                failures.append(CheckFailure(key, f"{key} is required: {allowed}"))
        elif not is_unknown(inputs[key]) and not ok(inputs[key]):
            failures.append(CheckFailure(key, f"{key} must be {allowed}, got {shown(inputs[key])}"))

    def matching(pattern: re.Pattern[str]) -> Callable[[Any], bool]:
        return lambda value: matches(pattern, value)

    check("subscription_id", matching(GUID), "the factory's subscription id (a GUID)")
    check("resource_group_name", matching(_RESOURCE_GROUP), "the factory's resource group name (1-90 characters: "
          "letters, digits, - _ . ( ), not ending in a period)")
    check("factory_name", matching(_FACTORY), "the data factory's name (3-63 letters, digits and single hyphens)")
    check("trigger_name", matching(_TRIGGER), "the trigger's ADF name (up to 260 characters starting with a letter, "
          "digit or _, none of < > * # . % & : \\ + ? /)")
    # A service principal's credential names its application; a managed identity may be system-assigned, and
    # an `az login` session knows who it is.
    failures += identity_failures(inputs, client_id_required=inputs.get("credential") == "environment")
    check("arm_endpoint", lambda value: https_origin(value) is not None,
          "an https URL of Azure Resource Manager such as https://management.usgovcloudapi.net", required=False)
    check("fingerprint", lambda value: isinstance(value, str) and 0 < len(value) <= MAX_FINGERPRINT,
          f"a non-empty string of at most {MAX_FINGERPRINT} characters (a hash of the trigger's and its "
          "pipelines' definitions)")
    if "desired_state" in keys:
        check("desired_state", lambda value: isinstance(value, str) and value.title() in (STARTED, STOPPED),
              "Started or Stopped")

    endpoint = inputs.get("arm_endpoint")
    if not is_unknown(endpoint) and https_origin(endpoint) is not None:
        inputs["arm_endpoint"] = https_origin(endpoint)
    state = inputs.get("desired_state")
    if isinstance(state, str) and not is_unknown(state) and state.title() in (STARTED, STOPPED):
        inputs["desired_state"] = state.title()
    return inputs, failures


def _same(key: str, old: Any, new: Any) -> bool:
    old, new = unwrap_rpc_secret(old), unwrap_rpc_secret(new)
    if is_unknown(new):
        return False
    if key in LOCATION_KEYS and isinstance(old, str) and isinstance(new, str):
        return old.lower() == new.lower()
    return old == new


def _changed(olds: Mapping[str, Any], news: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [key for key in keys if not _same(key, olds.get(key), news.get(key))]


def _inputs(props: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: unwrap_rpc_secret(props[key]) for key in keys if props.get(key) is not None}


def _api(inputs: Mapping[str, Any], policy: Mapping[str, float]) -> Any:
    from dynamic_providers.trigger_api import ArmPolicy, TriggerApi, TriggerError, TriggerRef

    missing = [key for key in (*LOCATION_KEYS, "tenant_id") if not inputs.get(key)]
    if missing:
        raise TriggerError(f"Data Factory trigger input(s) {', '.join(missing)} missing from state")
    ref = TriggerRef(inputs["subscription_id"], inputs["resource_group_name"], inputs["factory_name"],
                     inputs["trigger_name"])
    return TriggerApi(
        ref,
        credential_kind=inputs.get("credential") or DEFAULT_CREDENTIAL,
        tenant_id=inputs["tenant_id"],
        client_id=inputs.get("client_id"),
        authority_host=inputs.get("azure_authority_host") or DEFAULT_AUTHORITY_HOST,
        arm_endpoint=inputs.get("arm_endpoint"),
        policy=ArmPolicy(**policy),
    )


def _resource_id(inputs: Mapping[str, Any]) -> str:
    return (
        f"/subscriptions/{inputs['subscription_id']}/resourceGroups/{inputs['resource_group_name']}"
        f"/providers/Microsoft.DataFactory/factories/{inputs['factory_name']}/triggers/{inputs['trigger_name']}"
    )


def _unchained(resource: str, operation: str) -> Callable[[Any], Any]:
    """Errors leave the provider as TriggerError: its own text, or the operation and the exception's."""

    def as_own_error(error: Exception) -> Exception:
        from dynamic_providers.trigger_api import TriggerError

        if isinstance(error, TriggerError):
            return error
        return TriggerError(f"{resource} {operation} failed: {type(error).__name__}: {error}")

    return unchained(as_own_error)


class TriggerStopperProvider(pulumi.dynamic.ResourceProvider):
    """Stops a trigger before Pulumi changes it or its pipelines; stateless apart from `policy` (ArmPolicy
    fields, for tests). Each operation ends within ArmPolicy.time_budget (300 s by default)."""

    def __init__(self, policy: Mapping[str, float] | None = None):
        super().__init__()
        self.policy: dict[str, float] = dict(policy or {})

    @_unchained("TriggerStopper", "check")
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(*_checked(news, STOPPER_INPUTS))

    @_unchained("TriggerStopper", "diff")
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = _changed(olds, news, STOPPER_INPUTS)
        return DiffResult(changes=bool(changed), replaces=[], stables=[], delete_before_replace=False)

    @_unchained("TriggerStopper", "create")
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = _inputs(props, STOPPER_INPUTS)
        return CreateResult(_resource_id(inputs), {**inputs, "found_state": self._stop(inputs)})

    @_unchained("TriggerStopper", "update")
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = _inputs(news, STOPPER_INPUTS)
        moved = _changed(olds, news, LOCATION_KEYS)
        if not moved and not _changed(olds, news, ("fingerprint",)):
            # Only who calls ARM changed: nothing about the trigger will change, so it keeps running.
            return UpdateResult({**inputs, "found_state": unwrap_rpc_secret(olds.get("found_state")) or ABSENT})
        if moved:
            # The trigger Pulumi will change or delete is the old one.
            self._stop({**inputs, **_inputs(olds, LOCATION_KEYS)})
        return UpdateResult({**inputs, "found_state": self._stop(inputs)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # Nothing to refresh: the stopper records what it did, not a state to keep.
        return ReadResult(id_, {key: value for key, value in props.items() if not key.startswith("__")})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # The Trigger is deleted after its TriggerRuntimeState, whose delete stops it.
        return None

    def _stop(self, inputs: Mapping[str, Any]) -> str:
        with _api(inputs, self.policy) as api:
            return api.stop() or ABSENT


class TriggerRuntimeStateProvider(pulumi.dynamic.ResourceProvider):
    """Brings a trigger to its desired runtime state after Pulumi changed it; stateless apart from `policy`.
    Each operation ends within ArmPolicy.time_budget (300 s by default)."""

    def __init__(self, policy: Mapping[str, float] | None = None):
        super().__init__()
        self.policy: dict[str, float] = dict(policy or {})

    @_unchained("TriggerRuntimeState", "check")
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(*_checked(news, STATE_INPUTS))

    @_unchained("TriggerRuntimeState", "diff")
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, LOCATION_KEYS)
        changed = _changed(olds, news, STATE_INPUTS)
        desired, actual = unwrap_rpc_secret(news.get("desired_state")), unwrap_rpc_secret(olds.get("runtime_state"))
        if isinstance(actual, str) and actual != desired and "desired_state" not in changed:
            # Started or stopped out of band (seen by a refresh): the next `up` brings it back.
            changed.append("runtime_state")
        return DiffResult(
            changes=bool(changed), replaces=replaces, stables=[], delete_before_replace=False
        )

    @_unchained("TriggerRuntimeState", "create")
    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs = _inputs(props, STATE_INPUTS)
        return CreateResult(_resource_id(inputs), {**inputs, "runtime_state": self._bring(inputs)})

    @_unchained("TriggerRuntimeState", "update")
    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs = _inputs(news, STATE_INPUTS)
        return UpdateResult({**inputs, "runtime_state": self._bring(inputs)})

    @_unchained("TriggerRuntimeState", "read")
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = _inputs(props, STATE_INPUTS)
        with _api(inputs, self.policy) as api:
            state = api.runtime_state()
        if state is None:
            # A blank id tells the engine it is gone; `up` creates it again after the Trigger.
            return ReadResult("", {})
        return ReadResult(id_, {**inputs, "runtime_state": state})

    @_unchained("TriggerRuntimeState", "delete")
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with _api(_inputs(props, STATE_INPUTS), self.policy) as api:
            api.stop()

    def _bring(self, inputs: Mapping[str, Any]) -> str:
        with _api(inputs, self.policy) as api:
            return api.bring_to(inputs.get("desired_state") or STOPPED)
