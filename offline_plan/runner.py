"""Run a program under Pulumi's mock runtime and record what it sends to the engine.

The recording monitor keeps each RegisterResource request exactly as the SDK serialized it (wire
names, secrets wrapped, unknowns marked), so the plan shows inputs the way the engine receives them.

Several stacks of one program can be planned in one interpreter (the SDK imports, ~2 s, are paid
once): each plan runs in a runtime of its own, so it is byte-identical to planning that stack alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import runpy
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi.errors import RunError

from offline_plan.render import engine_urn
from offline_plan.stack_config import StackConfig, ignore_shell_config, load_stack_config
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


def _close_event_loops(main_loop: asyncio.AbstractEventLoop, loops: set[Any]) -> None:
    """Close the plan's event loop and those the mock monitor made for its worker threads.

    Tasks a failed program left pending are cancelled first, as asyncio.run does, so none of them
    runs (or complains) during the next stack's plan. Left to interpreter shutdown, collecting the
    loops can print an "Exception ignored ... Invalid file descriptor" traceback after a good plan.
    """
    pending = [task for task in asyncio.all_tasks(main_loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        main_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    main_loop.run_until_complete(main_loop.shutdown_default_executor())
    for loop in loops | {main_loop}:
        if not loop.is_closed():
            loop.close()


# The program whose own modules (core/, components/, ...) this process has imported: the next stack of
# the same program reuses them (they hold no per-stack state). Another program (another git ref's) finds
# them in sys.modules under the same names, so they are forgotten first (see forget_program).
_loaded_program: Path | None = None


def _use_program(program_dir: Path) -> None:
    global _loaded_program
    if _loaded_program is not None and _loaded_program != program_dir:
        raise RuntimeError(f"this process holds the modules of {_loaded_program}; call forget_program() first")
    _loaded_program = program_dir


def forget_program() -> None:
    """Drop the planned program's own modules from sys.modules, so another program imports its own.

    The SDKs stay imported (the costly part); so does this package (with core/safe_load.py and its sibling
    readers, which stack_config imports as offline_plan._readers), even where it lies in the program's directory,
    and anything installed in the interpreter's prefix (a .venv inside the directory).
    """
    global _loaded_program
    if _loaded_program is None:
        return
    # Plain string prefixes, no resolving: the program's modules were imported through the resolved
    # directory that _run_program puts first on sys.path, and thousands of SDK modules are checked.
    program = os.path.join(str(_loaded_program), "")
    kept = tuple(os.path.join(prefix, "") for prefix in {sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix)})
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] == __package__:  # this package, and what it loads under its name
            continue
        locations = [getattr(module, "__file__", None), *getattr(module, "__path__", [])]
        if any(isinstance(location, str) and location.startswith(program) and not location.startswith(kept)
               for location in locations):
            del sys.modules[name]
    _loaded_program = None


def _reset_runtime(stack_config: StackConfig, monitor: Any, *, program_dir: Path, dry_run: bool) -> None:
    """Give the Pulumi runtime the settings of one plan, replacing everything a previous plan left.

    Runs inside a new, empty contextvars.Context: every context variable of the SDK (the root stack,
    config, serialization flags, state-migration markers, ...) starts at its default. The settings
    are context variables too, but their defaults are shared class state that the first assignment
    in a context overwrites, so each one is assigned here: Settings() assigns all of them afresh
    (an empty output-task set, a new lock, RPC manager and package caches), MockSettings the monitor.
    """
    import pulumi.runtime
    from pulumi.runtime.mocks import MockEngine, MockSettings
    from pulumi.runtime.settings import ROOT, Settings, configure

    configure(
        Settings(
            project=stack_config.project,
            stack=stack_config.stack,
            dry_run=dry_run,
            organization="organization",
            root_directory=str(program_dir),
        )
    )
    # As pulumi.runtime.set_mocks, minus its eager root stack: run_in_stack makes the stack itself,
    # as the real language host does, so stack outputs reach RegisterResourceOutputs.
    configure(
        MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=MockEngine(None),
            callbacks=None,
        )
    )
    ROOT.set(None)
    # A new dict and set, never the module-level defaults that set_config would mutate in place.
    pulumi.runtime.set_all_config(dict(stack_config.config), list(stack_config.secret_keys))


def _run_program(program_dir: Path, stack_config: StackConfig, fill_computed: bool) -> dict[str, Any]:
    from pulumi.runtime.stack import run_in_stack

    recording = Recording()
    monitor = _recording_monitor(PlanMocks(fill_computed=fill_computed), recording)
    _reset_runtime(stack_config, monitor, program_dir=program_dir, dry_run=not fill_computed)

    # A loop of its own per plan: a previous plan's loop is closed, and tasks never cross plans.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The program imports its own modules (core/, components/) from its directory, as under `pulumi up`.
    sys.path.insert(0, str(program_dir))
    previous_dir, previous_environment = os.getcwd(), dict(os.environ)
    os.chdir(program_dir)
    try:
        # What the program prints goes to stderr: stdout carries the plan (and the worker's JSON).
        with contextlib.redirect_stdout(sys.stderr):
            loop.run_until_complete(
                run_in_stack(lambda: runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__"))
            )
    finally:
        # Whatever the program changed in the process (directory, import path, environment) is undone.
        os.chdir(previous_dir)
        if str(program_dir) in sys.path:
            sys.path.remove(str(program_dir))
        if os.environ != previous_environment:
            os.environ.clear()
            os.environ.update(previous_environment)
        _close_event_loops(loop, recording.loops)
        asyncio.set_event_loop(None)

    resources = sorted(recording.resources, key=lambda r: r["urn"])
    return {
        "project": stack_config.project,
        "stack": stack_config.stack,
        "resources": [
            {"type": r["type"], "name": r["name"], "parent": r["parent"], "inputs": r["inputs"]}
            for r in resources
        ],
        "outputs": recording.outputs,
    }


def plan_program(program_dir: Path, stack: str, *, fill_computed: bool = False) -> dict[str, Any]:
    """Run ``program_dir/__main__.py`` for ``stack`` under mocks and return the plan document.

    Raises pulumi.RunError (e.g. a config error) for problems that are the user's to fix, and
    whatever else the program raises. May be called again in the same process, for any stack: each
    call runs in a runtime of its own and gives the bytes a fresh process would.
    """
    program_dir = program_dir.resolve()
    stack_config = load_stack_config(program_dir, stack)
    ignored = ignore_shell_config(os.environ)  # said once: the next stack finds them gone
    if ignored:
        print(f"offline plan: ignoring {', '.join(ignored)} from the environment; the plan reads "
              f"Pulumi.yaml and Pulumi.{stack}.yaml only", file=sys.stderr)
    _use_program(program_dir)
    return contextvars.Context().run(_run_program, program_dir, stack_config, fill_computed)


@dataclass
class StackPlan:
    """One stack's plan, or why there is none."""

    stack: str
    plan: dict[str, Any] | None
    """The plan document ({project, stack, resources, outputs}); None when it could not be made."""
    problems: list[str]
    """One line per problem, each naming its file (and key) where it has one."""


def _relative(path: Path, program_dir: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(program_dir)) if path.is_relative_to(program_dir) else str(path)


def problems_of(error: BaseException, program_dir: Path) -> list[str]:
    """What to tell the user about an error from planning a stack, without a traceback."""
    if isinstance(error, RunError):
        # A user's mistake (stack config, job definitions): its lines name the file and key.
        return [line for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    if isinstance(error, SystemExit):
        return [f"the program exited (sys.exit({error.code!r})) before it finished"]
    # A bug in the program: where it happened in the program's own files is what one needs to start.
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if Path(f.filename).resolve().is_relative_to(program_dir)] or frames
    where = f" (at {_relative(Path(own[-1].filename), program_dir)}:{own[-1].lineno})" if own else ""
    message = str(error).splitlines()[0][:300] if str(error).strip() else ""
    return [f"the program raised {type(error).__name__}{where}: {message}".rstrip(": ")]


def plan_stacks(program_dir: Path, stacks: list[str], *, fill_computed: bool = False) -> list[StackPlan]:
    """Plan each stack in turn in this interpreter; a stack that fails does not stop the others."""
    program_dir = program_dir.resolve()
    results = []
    for stack in stacks:
        try:
            results.append(StackPlan(stack, plan_program(program_dir, stack, fill_computed=fill_computed), []))
        except (Exception, SystemExit) as error:  # noqa: BLE001 - reported in the stack's own section
            results.append(StackPlan(stack, None, problems_of(error, program_dir)))
    return results
