"""The two resources around one published Data Factory trigger, and the helper that wires them.

The publishing component calls, per trigger file:

    gate = trigger_gate(f"{name}-trigger-{trigger}", TriggerGateArgs(...), parent=self)
    # the Trigger, and every Pipeline it runs (directly or through Execute Pipeline), depend on the stopper:
    pipeline = datafactory.Pipeline(..., opts=ResourceOptions(parent=self, depends_on=[*refs, *gate.depends_on]))
    trigger = datafactory.Trigger(..., opts=ResourceOptions(parent=self, depends_on=[*refs, *gate.depends_on]))
    gate.runtime_state(trigger, [pipeline, ...])

so that a deployment stops the trigger before it changes the trigger or a pipeline it runs (ADF refuses to
update a started trigger), and afterwards brings it to the stage's desired state. A pipeline run by several
triggers depends on the stopper of each. `fingerprint` must change whenever the trigger's or one of its
pipelines' published definition does: `definition_fingerprint` computes one from those definitions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from dynamic_providers.adf_trigger import (
    DEFAULT_CREDENTIAL,
    STATE_OUTPUTS,
    STOPPER_OUTPUTS,
    TriggerRuntimeStateProvider,
    TriggerStopperProvider,
)


def definition_fingerprint(definition: Any) -> str:
    """sha256 (hex) of a JSON-serialisable definition, independent of key order: equal definitions, equal hashes."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class TriggerGateArgs:
    """Which trigger, how the deploying identity reaches it, and what the stage wants of it."""

    subscription_id: pulumi.Input[str]
    """Subscription of the factory."""
    resource_group_name: pulumi.Input[str]
    """Resource group of the factory."""
    factory_name: pulumi.Input[str]
    """Name of the factory."""
    trigger_name: str
    """ADF name of the trigger (its file name in factory/trigger/)."""
    desired_state: str
    """Started or Stopped: the stage's desired runtime state of this trigger."""
    fingerprint: pulumi.Input[str]
    """Changes exactly when the trigger's or one of its pipelines' published definition changes."""
    tenant_id: pulumi.Input[str]
    """Entra ID tenant of the deploying identity."""
    client_id: pulumi.Input[str] | None = None
    """Application (client) id of the deploying identity (required for the environment credential)."""
    credential: pulumi.Input[str] = DEFAULT_CREDENTIAL
    """How the deploying identity authenticates: environment, managed_identity or azure_cli."""
    azure_authority_host: pulumi.Input[str] | None = None
    """Entra ID authority host for sovereign clouds; defaults to login.microsoftonline.com."""
    arm_endpoint: pulumi.Input[str] | None = None
    """ARM endpoint when it does not follow from the authority host (a private cloud); None derives it."""


def _props(args: TriggerGateArgs) -> dict[str, Any]:
    return {
        "subscription_id": args.subscription_id,
        "resource_group_name": args.resource_group_name,
        "factory_name": args.factory_name,
        "trigger_name": args.trigger_name,
        "tenant_id": args.tenant_id,
        "client_id": args.client_id,
        "credential": args.credential,
        "azure_authority_host": args.azure_authority_host,
        "arm_endpoint": args.arm_endpoint,
        "fingerprint": args.fingerprint,
    }


class TriggerStopper(pulumi.dynamic.Resource, module="databricks-platform", name="TriggerStopper"):
    """Stops its trigger (if it exists and is not stopped) when created and whenever its fingerprint changes."""

    found_state: pulumi.Output[str]
    """The runtime state the last stop found: Started, Stopped, Disabled, or Absent (no such trigger yet)."""

    def __init__(self, name: str, args: TriggerGateArgs, opts: pulumi.ResourceOptions | None = None):
        props = {**_props(args), **dict.fromkeys(STOPPER_OUTPUTS)}
        super().__init__(TriggerStopperProvider(), name, props, opts)


class TriggerRuntimeState(pulumi.dynamic.Resource, module="databricks-platform", name="TriggerRuntimeState"):
    """Brings its trigger to `desired_state` after the trigger and its pipelines changed; stops it on delete."""

    runtime_state: pulumi.Output[str]
    """The runtime state ADF reported after the last create, update or refresh (Started or Stopped)."""

    def __init__(self, name: str, args: TriggerGateArgs, opts: pulumi.ResourceOptions | None = None):
        props = {**_props(args), "desired_state": args.desired_state, **dict.fromkeys(STATE_OUTPUTS)}
        # A replacement (another trigger) brings the new one to its state before the old one is stopped.
        own = pulumi.ResourceOptions(delete_before_replace=False)
        super().__init__(TriggerRuntimeStateProvider(), name, props, pulumi.ResourceOptions.merge(opts, own))


class TriggerGate:
    """The stopper of one trigger, and (once the trigger and its pipelines are declared) its runtime state."""

    stopper: TriggerStopper
    """Stops the trigger before it or a pipeline it runs changes."""
    state: TriggerRuntimeState | None
    """Brings the trigger to its desired state afterwards; None until runtime_state() is called."""

    def __init__(self, name: str, args: TriggerGateArgs, parent: pulumi.Resource | None = None):
        self._name, self._args, self._parent = name, args, parent
        self.stopper = TriggerStopper(f"{name}-stopper", args, pulumi.ResourceOptions(parent=parent))
        self.state = None

    @property
    def depends_on(self) -> list[pulumi.Resource]:
        """Give these to the Trigger and to every Pipeline it runs as `depends_on`."""
        return [self.stopper]

    def runtime_state(
        self, trigger: pulumi.Resource, pipelines: Sequence[pulumi.Resource] = ()
    ) -> TriggerRuntimeState:
        """Declare the TriggerRuntimeState, after ``trigger`` and the ``pipelines`` it runs (once per gate)."""
        if self.state is not None:
            raise ValueError(f"trigger gate {self._name!r}: runtime_state() was already called")
        self.state = TriggerRuntimeState(
            f"{self._name}-runtime-state",
            self._args,
            pulumi.ResourceOptions(parent=self._parent, depends_on=[trigger, *pipelines]),
        )
        return self.state


def trigger_gate(name: str, args: TriggerGateArgs, parent: pulumi.Resource | None = None) -> TriggerGate:
    """Declare the stopper of one trigger; call `.runtime_state(trigger, pipelines)` on the result once the
    azure-native Trigger and the Pipelines it runs are declared with `depends_on=gate.depends_on`.

    Children are named ``f"{name}-stopper"`` and ``f"{name}-runtime-state"`` and parented to ``parent``.
    Raises ValueError for a desired_state other than Started or Stopped (config validation should have caught
    it: this is a programming error, not a user's).
    """
    if args.desired_state not in ("Started", "Stopped"):
        raise ValueError(f"trigger {args.trigger_name!r}: desired_state must be Started or Stopped, "
                         f"got {args.desired_state!r}")
    return TriggerGate(name, args, parent)
