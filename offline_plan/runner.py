"""Run a program under Pulumi's mock runtime and record what it sends to the engine.

The recording monitor keeps each RegisterResource request exactly as the SDK serialized it (wire
names, secrets wrapped, unknowns marked), so the plan shows inputs the way the engine receives them.
"""

from __future__ import annotations

import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from offline_plan.render import engine_urn
from offline_plan.stack_config import ignore_shell_config, load_stack_config
from offline_plan.standins import PlanMocks

# Markers of Pulumi's wire format (sdk/python/lib/pulumi/runtime/rpc.py).
_SIG = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

SECRET = "[secret]"
COMPUTED = "<computed>"


def to_plan_value(value: Any) -> Any:
    """Turn a wire value into what the plan prints: secrets masked, unknowns marked."""
    if isinstance(value, dict):
        signature = value.get(_SIG)
        if signature == _SECRET_SIG:
            return SECRET
        if signature == _OUTPUT_SIG:
            if value.get("secret"):
                return SECRET
            return to_plan_value(value["value"]) if "value" in value else COMPUTED
        if signature == _RESOURCE_SIG:
            return value.get("urn", COMPUTED)
        if signature is not None:
            return f"<{signature}>"
        return {key: to_plan_value(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [to_plan_value(item) for item in value]
    if value == _UNKNOWN:
        return COMPUTED
    # Struct numbers are doubles on the wire; show whole numbers as integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _inputs(struct: Any) -> dict[str, Any]:
    inputs = json_format.MessageToDict(struct) if struct is not None else {}
    if "__provider" in inputs:
        # The dynamic provider's pickled code: large, and not an input a reviewer can read.
        inputs["__provider"] = "<serialized dynamic provider>"
    return to_plan_value(inputs)


def _mark_secret(state: Any, key: str) -> None:
    from google.protobuf import struct_pb2

    inner = struct_pb2.Value()
    if key in state.fields:
        inner.CopyFrom(state.fields[key])
    else:
        inner.string_value = _UNKNOWN
    wrapped = struct_pb2.Value()
    wrapped.struct_value.fields[_SIG].string_value = _SECRET_SIG
    wrapped.struct_value.fields["value"].CopyFrom(inner)
    state.fields[key].CopyFrom(wrapped)


@dataclass
class Recording:
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    loops: set[Any] = field(default_factory=set)


def _recording_monitor(mocks: PlanMocks, recording: Recording):
    import asyncio

    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.sync_await import _ensure_event_loop

    def track_loop() -> None:
        # The mock monitor gives each worker thread its own loop; keep them to close at the end.
        _ensure_event_loop()
        recording.loops.add(asyncio.get_event_loop())

    class RecordingMonitor(MockMonitor):
        def Invoke(self, request):
            track_loop()
            return super().Invoke(request)

        def make_urn(self, parent: str, type_: str, name: str) -> str:
            # Pulumi's mock puts the root stack into the type chain; the engine does not.
            from pulumi.runtime.settings import get_project, get_stack

            return engine_urn(stack=get_stack(), project=get_project(), parent=parent, type_=type_, name=name)

        def RegisterResource(self, request):
            track_loop()
            response = super().RegisterResource(request)
            # The engine, not the SDK, marks additional secret outputs; a PAT's value must stay secret
            # wherever it flows, known or not.
            for key in request.additionalSecretOutputs:
                _mark_secret(response.object, key)
            if request.type != "pulumi:pulumi:Stack":
                recording.resources.append(
                    {
                        "type": request.type,
                        "name": request.name,
                        "parent": request.parent,
                        "inputs": _inputs(request.object),
                        "urn": response.urn,
                    }
                )
            return response

        def ReadResource(self, request):
            track_loop()
            response = super().ReadResource(request)
            recording.resources.append(
                {
                    "type": request.type,
                    "name": request.name,
                    "parent": request.parent,
                    "inputs": {"read": request.id, **_inputs(request.properties)},
                    "urn": response.urn,
                }
            )
            return response

        def RegisterResourceOutputs(self, request):
            if "::pulumi:pulumi:Stack::" in request.urn:
                recording.outputs = _inputs(request.outputs)
            return super().RegisterResourceOutputs(request)

    return RecordingMonitor(mocks)


def _close_event_loops(loops: set[Any]) -> None:
    """Close the event loops the mock monitor made for its worker threads, and the main one.

    Left to interpreter shutdown, collecting them can print an "Exception ignored ... Invalid file
    descriptor" traceback after a successful plan.
    """
    import asyncio

    main_loop = asyncio.get_event_loop()
    main_loop.run_until_complete(main_loop.shutdown_default_executor())
    for loop in loops | {main_loop}:
        if not loop.is_closed():
            loop.close()


def plan_program(program_dir: Path, stack: str, *, fill_computed: bool = False) -> dict[str, Any]:
    """Run ``program_dir/__main__.py`` for ``stack`` under mocks and return the plan document.

    Raises pulumi.RunError (e.g. a config error) for problems that are the user's to fix.
    Only call once per process: the Pulumi runtime keeps global state.
    """
    import pulumi.runtime
    from pulumi.runtime.mocks import MockEngine, MockSettings
    from pulumi.runtime.settings import configure
    from pulumi.runtime.stack import run_in_stack
    from pulumi.runtime.sync_await import _sync_await

    program_dir = program_dir.resolve()
    stack_config = load_stack_config(program_dir, stack)
    ignored = ignore_shell_config(os.environ)
    if ignored:
        print(f"offline plan: ignoring {', '.join(ignored)} from the environment; the plan reads "
              f"Pulumi.yaml and Pulumi.{stack}.yaml only", file=sys.stderr)
    pulumi.runtime.set_all_config(stack_config.config, stack_config.secret_keys)

    recording = Recording()
    mocks = PlanMocks(fill_computed=fill_computed)
    monitor = _recording_monitor(mocks, recording)
    # As pulumi.runtime.set_mocks, minus its eager root stack: run_in_stack makes the stack itself,
    # as the real language host does, so stack outputs reach RegisterResourceOutputs.
    configure(
        MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=MockEngine(None),
            project=stack_config.project,
            stack=stack,
            dry_run=not fill_computed,
            organization="organization",
            callbacks=None,
        )
    )

    # The program imports its own modules (core/, components/) from its directory, as under `pulumi up`.
    sys.path.insert(0, str(program_dir))
    previous_dir = os.getcwd()
    os.chdir(program_dir)
    try:
        _sync_await(
            run_in_stack(lambda: runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__"))
        )
    finally:
        os.chdir(previous_dir)
        _close_event_loops(recording.loops)

    resources = sorted(recording.resources, key=lambda r: r["urn"])
    return {
        "project": stack_config.project,
        "stack": stack,
        "resources": [
            {"type": r["type"], "name": r["name"], "parent": r["parent"], "inputs": r["inputs"]}
            for r in resources
        ],
        "outputs": recording.outputs,
    }
