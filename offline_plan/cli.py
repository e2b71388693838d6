"""`python -m offline_plan --stack <stack>[,<stack>...]|all [--json] [--against <git-ref>] [--format text|markdown]`.

One stack prints that stack's plan (or diff) exactly as always; several stacks (a comma-separated
list, or `all`) print a section per stack. All stacks of one ref are planned in one interpreter;
with --against the base ref's stacks are planned at the same time, in a subprocess (see _base_planner).

Nothing here imports the Pulumi SDK (the planner does, once it is needed): argument and git errors
come back at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offline_plan import render

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent

# The stage form of core/naming.py STAGE_PATTERN, duplicated because this package imports nothing from
# the program (with --against it plans another ref's program). It also keeps paths out of file names.
_STAGE = re.compile(r"[a-z][a-z0-9]{1,6}")
_STAGE_FORM = "a stage is 2-7 lowercase letters or digits, starting with a letter (e.g. dev, test, prod)"
ALL_STACKS = "all"
_MAX_PROBLEMS = 10  # with the stack list: a list of thousands of bad names is not echoed name by name

class _UsageError(Exception):
    """A bad argument value or a git failure: one line per problem, exit status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m offline_plan",
        description="Run the real Pulumi program under Pulumi's mock runtime and print what a stack "
        "declares. Needs no cloud credentials and no Pulumi CLI.",
    )
    parser.add_argument("--stack", required=True,
                        help="stack (stage) to plan, e.g. dev: reads Pulumi.<stack>.yaml; several separated by "
                        "commas (dev,test,prod), or 'all' for every Pulumi.<stack>.yaml: a section per stack")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON (stable, byte-identical per stack)")
    parser.add_argument("--against", metavar="GIT_REF", help="print what changes relative to the same stack at GIT_REF")
    parser.add_argument("--format", choices=("text", "markdown"),
                        help="output of --against: text (the default), or markdown for a pull-request comment")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="directory holding Pulumi.yaml (default: .)")
    parser.add_argument("--fill-computed", action="store_true",
                        help="give cloud-computed outputs deterministic stand-in values instead of <computed> "
                        "(tests use it to check stack outputs)")
    parser.add_argument("--policy", action="store_true",
                        help="check each stack's plan against the guard rails of policy/ instead of printing it; "
                        "exit 1 on a mandatory violation (advisory ones are shown, not fatal)")
    parser.add_argument("--policy-config", type=Path, metavar="FILE",
                        help="policy levels and settings for --policy, the JSON file --policy-pack-config takes")
    return parser


def _shown(value: str) -> str:
    """An argument as it is echoed in a message: on one line, and not a megabyte of it."""
    text = value if value.isprintable() else repr(value)[1:-1]
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class _StackRequest:
    names: tuple[str, ...]
    """The stacks listed, in the order given; empty for `all`."""
    several: bool
    """A list or `all`: the output has a section per stack (also when `all` finds only one)."""


def _stack_request(value: str) -> _StackRequest:
    if value == ALL_STACKS:
        return _StackRequest((), several=True)
    names = value.split(",")
    problems = []
    for name in dict.fromkeys(names):  # each bad name once
        if name == ALL_STACKS:
            problems.append(f"--stack {_shown(value)}: '{ALL_STACKS}' stands alone, it already means every stack")
        elif not _STAGE.fullmatch(name):
            problems.append(
                f"--stack {_shown(value)}: {_shown(name)!r} is not a stack name; {_STAGE_FORM}; "
                f"separate several with commas, or use '{ALL_STACKS}'"
            )
    counts = Counter(names)
    problems += [f"--stack {_shown(value)}: {name} is listed twice" for name in sorted(counts)
                 if counts[name] > 1 and _STAGE.fullmatch(name)]
    if len(problems) > _MAX_PROBLEMS:
        problems[_MAX_PROBLEMS:] = [f"--stack {_shown(value)}: ... and {len(problems) - _MAX_PROBLEMS} more problems"]
    if problems:
        raise _UsageError("\n".join(problems))
    return _StackRequest(tuple(names), several=len(names) > 1)


def _stack_files(program_dir: Path) -> list[str]:
    """Stacks with a Pulumi.<stack>.yaml in ``program_dir``, sorted."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in program_dir.glob("Pulumi.*.yaml"))


def _all_stacks(found: list[str], where: str) -> list[str]:
    misnamed = [name for name in found if not _STAGE.fullmatch(name)]
    if misnamed:
        raise _UsageError("\n".join(
            f"--stack all: Pulumi.{_shown(name)}.yaml in {where} is not a stack file name; {_STAGE_FORM}"
            for name in misnamed
        ))
    if not found:
        raise _UsageError(f"--stack all: no Pulumi.<stack>.yaml in {where}")
    return found


@dataclass(frozen=True)
class _Outcome:
    output: str
    problems: dict[str, list[str]]
    """Problems by stack (config errors, a base ref that does not plan): printed to stderr, exit 1."""
    violated: bool = False
    """A mandatory guard rail is violated (--policy): exit 1, the report on stdout says which."""


def _guard_rails(results: list[Any], policy_config: dict[str, Any], program_dir: Path) -> _Outcome:
    """Each planned stack's guard-rail report, in the order the stacks were given."""
    from offline_plan.policy import check_plan

    # From the program's directory: a rule may read a file a resource uploads (a notebook's source).
    with contextlib.chdir(program_dir):
        reports = [check_plan(r.plan, config=policy_config) for r in results if r.plan is not None]
    return _Outcome("\n".join(report.text for report in reports), {r.stack: r.problems for r in results},
                    violated=any(report.mandatory_failed for report in reports))


def _plan(args: argparse.Namespace, request: _StackRequest, program_dir: Path,
          policy_config: dict[str, Any] | None) -> _Outcome:
    """Plan the stacks in this interpreter; the output (plans, or guard-rail reports) and the problems."""
    stacks = list(request.names) or _all_stacks(_stack_files(program_dir), str(program_dir))
    from offline_plan.runner import plan_stacks

    results = plan_stacks(program_dir, stacks, fill_computed=args.fill_computed)
    if policy_config is not None:
        return _guard_rails(results, policy_config, program_dir)
    return _Outcome(*_plans_output(args, request, results))


def _plans_output(args: argparse.Namespace, request: _StackRequest, results: list[Any]) -> tuple[str, dict]:
    problems = {r.stack: r.problems for r in results}
    if not request.several:
        plan = results[0].plan
        if plan is None:
            return "", problems
        return (render.to_json(plan) if args.json else render.to_text(plan)), problems
    if args.json:
        return render.stacks_to_json({r.stack: r.plan for r in results if r.plan is not None}, problems), problems
    return render.stacks_to_text({r.stack: r.plan for r in results}, problems), problems


# --against: the base ref in a temporary git worktree, planned by a subprocess (its own modules).

def _git(*args: str, cwd: Path, ref: str, failure: str | None = None) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise _UsageError(f"--against {_shown(ref)}: git is not installed (it checks out {_shown(ref)})") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise _UsageError(failure or f"--against {_shown(ref)}: git {' '.join(args[:2])} failed: {last}")
    return result.stdout.strip()


class _ForkedPlanner:
    """The base ref's planner as a fork of this process: the SDKs it has imported (two thirds of a plan's
    time) are shared, not imported again. Only where _fork_is_safe()."""

    def __init__(self, base_dir: Path, stacks: list[str], fill_computed: bool, output: Any, errors: Any) -> None:
        from offline_plan import runner
        from offline_plan.worker import write_document

        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid:
            return
        # The child: never returns into the caller's code (which would clean up the parent's worktree).
        status = 1
        try:
            os.dup2(errors.fileno(), 1)  # whatever it prints goes beside the base program's warnings
            os.dup2(errors.fileno(), 2)
            runner.forget_program()  # the base ref's program imports its own core/, components/, ...
            sys.dont_write_bytecode = True  # the worktree, with any .pyc written there, is deleted afterwards
            write_document(runner.plan_stacks(base_dir, stacks, fill_computed=fill_computed), output)
            status = 0
        except BaseException:  # noqa: BLE001 - reported through the exit status, see _collect_worker
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(status)

    def wait(self) -> int:
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


class _WorkerPlanner:
    """The base ref's planner as a fresh interpreter (offline_plan.worker)."""

    def __init__(self, base_dir: Path, stacks: list[str], fill_computed: bool, output: Any, errors: Any) -> None:
        command = [sys.executable, "-m", "offline_plan.worker", "--dir", str(base_dir), *stacks]
        if fill_computed:
            command.insert(3, "--fill-computed")
        # No .pyc files: the worktree, and any written there, is deleted when the plan is done. Output goes
        # to files, not pipes: the worker never blocks on a full pipe while this process plans.
        environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        self.process = subprocess.Popen(command, cwd=_PACKAGE_ROOT, stdout=output, stderr=errors, env=environment)

    def wait(self) -> int:
        return self.process.wait()

    def kill(self) -> None:
        self.process.kill()


def _fork_is_safe() -> bool:
    """Linux, with no other thread in this process. Elsewhere forking a process that has loaded system
    libraries is unsafe (macOS) or impossible (Windows); and a fork copies only the calling thread, so
    a lock another thread holds would stay locked in the child forever."""
    return sys.platform == "linux" and len(os.listdir("/proc/self/task")) == 1


def _base_planner(base_dir: Path, stacks: list[str], fill_computed: bool, output: Any, errors: Any) -> Any:
    planner = _ForkedPlanner if _fork_is_safe() else _WorkerPlanner
    return planner(base_dir, stacks, fill_computed, output, errors)


def _collect_worker(worker: Any, stacks: list[str], output: Any, errors: Any, where: str) -> dict:
    status = worker.wait()
    errors.seek(0)
    for line in errors.read().splitlines():  # the base program's own warnings, if any
        print(f"{where}: {line}", file=sys.stderr)
    output.seek(0)
    if status == 0:
        try:
            return json.loads(output.read())
        except ValueError:
            pass
    failed = {"plan": None, "problems": [f"the offline plan there failed (exit status {status})"]}
    return dict.fromkeys(stacks, failed)


def _empty_plan(stack: str) -> dict[str, Any]:
    return {"project": "", "stack": stack, "resources": [], "outputs": {}}


def _against(args: argparse.Namespace, request: _StackRequest, program_dir: Path) -> list[render.StackDiff]:
    ref = args.against
    if not ref or ref.startswith("-"):
        raise _UsageError(f"--against {_shown(ref)}: not a git ref (a branch, tag or commit)")
    top = Path(_git("rev-parse", "--show-toplevel", cwd=program_dir, ref=ref,
                    failure=f"--against {_shown(ref)}: {program_dir} is not inside a git repository"))
    commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=top, ref=ref,
                  failure=f"--against {_shown(ref)}: no such git ref (branch, tag or commit) in {top} "
                  "(in a shallow clone, fetch it first)")
    if not program_dir.is_relative_to(top.resolve()):  # e.g. a directory inside .git
        raise _UsageError(f"--against {_shown(ref)}: {program_dir} is not in the work tree of {top}")
    relative = program_dir.relative_to(top.resolve())
    workdir = Path(tempfile.mkdtemp(prefix="offline-plan-"))
    worktree = workdir / "base"
    where = f"at {_shown(ref)}"
    try:
        _git("worktree", "add", "--detach", "--quiet", str(worktree), commit, cwd=top, ref=ref)
        base_dir = worktree / relative
        head_files, base_files = set(_stack_files(program_dir)), set(_stack_files(base_dir))
        stacks = list(request.names) or _all_stacks(sorted(head_files | base_files), f"{program_dir} or {where}")
        at_base = [s for s in stacks if s in base_files]
        # A stack in neither is planned in the working tree, which names the missing file.
        in_head = [s for s in stacks if s in head_files or s not in base_files]
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as output, \
                tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errors:
            from offline_plan.runner import plan_stacks

            worker = None
            try:
                # The first stack imports the SDKs; a forked base planner then shares them.
                head = plan_stacks(program_dir, in_head[:1], fill_computed=args.fill_computed)
                if at_base:
                    worker = _base_planner(base_dir, at_base, args.fill_computed, output, errors)
                head += plan_stacks(program_dir, in_head[1:], fill_computed=args.fill_computed)
            except BaseException:  # e.g. Ctrl-C: leave no planner running
                if worker is not None:
                    worker.kill()
                    worker.wait()
                raise
            base = _collect_worker(worker, at_base, output, errors, where) if worker is not None else {}
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=top,
                       capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)

    head_by_stack = {r.stack: r for r in head}
    return [
        _stack_diff(stack, head_by_stack.get(stack), base.get(stack), where=where,
                    new=stack in head_files and stack not in base_files,
                    removed=stack in base_files and stack not in head_files)
        for stack in stacks
    ]


def _stack_diff(stack: str, head: Any, base: dict[str, Any] | None, *, where: str, new: bool,
                removed: bool) -> render.StackDiff:
    """One stack's section; ``head`` / ``base`` are None where that side has no stack file."""
    new_plan = head.plan if head is not None else _empty_plan(stack)
    old_plan = base["plan"] if base is not None else _empty_plan(stack)
    problems = [f"in the working tree: {p}" for p in head.problems] if head is not None else []
    problems += [f"{where}: {p}" for p in base["problems"]] if base is not None else []
    diff = render.diff_plans(old_plan, new_plan) if old_plan is not None and new_plan is not None else None
    change = "new in this change" if new else "removed in this change" if removed else ""
    return render.StackDiff(stack, diff, change, problems)


def _against_output(args: argparse.Namespace, request: _StackRequest, items: list[render.StackDiff]) -> str:
    if request.several:
        if args.format == "markdown":
            return render.stack_diffs_to_markdown(items, ref=args.against)
        return render.stack_diffs_to_text(items, ref=args.against)
    [item] = items
    if item.diff is None:
        return ""  # one stack: its problems go to stderr only, as they always have
    if args.format == "markdown":
        return render.diff_to_markdown(item.diff, stack=item.stack, ref=args.against)
    return render.diff_to_text(item.diff, stack=item.stack, ref=args.against)


def _program_dir(given: Path) -> Path:
    try:
        program_dir = given.resolve()
        if program_dir.is_dir():
            return program_dir
        problem = "not a directory" if program_dir.exists() else "no such directory"
    except OSError as error:  # e.g. a name too long
        problem = error.strerror or str(error)
    raise _UsageError(f"--dir {_shown(str(given))}: {problem}")


def _conflicts(args: argparse.Namespace) -> list[str]:
    """Options that would be ignored or contradict each other, all of them: a pipeline with an empty variable
    must fail, not post a plain plan where a diff was asked for."""
    problems = []
    if args.against is not None and not args.against.strip():
        problems.append("--against needs a git ref (a branch, tag or commit), got an empty value")
    if args.format is not None and args.against is None:
        problems.append("--format chooses the output of --against; without --against the plan is text (or --json)")
    if args.json and (args.format is not None or args.against is not None):
        problems.append("--json prints plans; it does not combine with --against or --format")
    if args.policy and (args.against is not None or args.json):
        problems.append("--policy checks the plans themselves: use it without --against and --json")
    if args.policy_config and not args.policy:
        problems.append("--policy-config needs --policy")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # usage errors: argparse's message, exit status 2
    conflicts = _conflicts(args)
    if conflicts:
        parser.error("; ".join(conflicts))
    args.format = args.format or "text"
    try:
        request = _stack_request(args.stack)
        program_dir = _program_dir(args.dir)
        if args.against:
            items = _against(args, request, program_dir)
            outcome = _Outcome(_against_output(args, request, items), {item.stack: item.problems for item in items})
        else:
            policy_config = None
            if args.policy:
                from offline_plan.policy import PolicyConfigError, load_policy_config

                try:
                    policy_config = load_policy_config(args.policy_config)  # a bad file fails before planning
                except PolicyConfigError as error:
                    raise _UsageError(str(error)) from None
            outcome = _plan(args, request, program_dir, policy_config)
    except _UsageError as error:
        # A bad argument or a ref that does not exist: one line per problem, naming what is wrong.
        print(str(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the temporary worktree is gone already (see _against)
        return 130
    sys.stdout.write(outcome.output)
    problems = outcome.problems
    for stack, lines in problems.items():
        for line in lines:
            # One stack: its lines exactly as always; several: each says which stack it is about.
            print(f"{stack}: {line}" if request.several else line, file=sys.stderr)
    return 1 if outcome.violated or any(problems.values()) else 0
