"""`python -m offline_plan --stack <name> [--json] [--against <git-ref>] [--format text|markdown]`."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pulumi.errors import RunError

from offline_plan import render

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class _UsageError(RunError):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m offline_plan",
        description="Run the real Pulumi program under Pulumi's mock runtime and print what a stack "
        "declares. Needs no cloud credentials and no Pulumi CLI.",
    )
    parser.add_argument("--stack", required=True, help="stack (stage) to plan, e.g. dev: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON (stable, byte-identical per stack)")
    parser.add_argument("--against", metavar="GIT_REF", help="print what changes relative to the same stack at GIT_REF")
    parser.add_argument("--format", choices=("text", "markdown"), default="text",
                        help="output of --against: text, or markdown for a pull-request comment")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="directory holding Pulumi.yaml (default: .)")
    parser.add_argument("--fill-computed", action="store_true",
                        help="give cloud-computed outputs deterministic stand-in values instead of <computed> "
                        "(tests use it to check stack outputs)")
    parser.add_argument("--policy", action="store_true",
                        help="check the plan against the guard rails of policy/; exit 1 on a mandatory violation")
    parser.add_argument("--policy-config", type=Path, metavar="FILE",
                        help="policy levels and settings for --policy, the JSON file --policy-pack-config takes")
    return parser


def _plan_in_subprocess(program_dir: Path, stack: str) -> subprocess.Popen[str]:
    # A fresh interpreter per plan: the Pulumi runtime is global state, and another ref's program must
    # import its own modules, not this checkout's.
    return subprocess.Popen(
        [sys.executable, "-m", "offline_plan", "--stack", stack, "--json", "--dir", str(program_dir)],
        cwd=_PACKAGE_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _collect(process: subprocess.Popen[str], what: str) -> dict:
    out, err = process.communicate()
    if process.returncode == 1:
        raise _UsageError("\n".join(f"{what}: {line}" for line in err.strip().splitlines()))
    if process.returncode != 0:
        raise RuntimeError(f"planning {what} failed (exit {process.returncode}):\n{err}")
    return json.loads(out)


def _git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["git failed"])[-1]
        raise _UsageError(f"git {' '.join(args[:2])}: {last}")
    return result.stdout.strip()


def _against(program_dir: Path, stack: str, ref: str, output_format: str) -> str:
    top = Path(_git("rev-parse", "--show-toplevel", cwd=program_dir))
    relative = program_dir.resolve().relative_to(top.resolve())
    commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=top)
    workdir = Path(tempfile.mkdtemp(prefix="offline-plan-"))
    worktree = workdir / "base"
    try:
        _git("worktree", "add", "--detach", "--quiet", str(worktree), commit, cwd=top)
        base_dir = worktree / relative
        # Both plans run at once (two cores); the head is always reaped, even when the base fails.
        head = _plan_in_subprocess(program_dir, stack)
        try:
            if (base_dir / f"Pulumi.{stack}.yaml").exists():
                base = _collect(_plan_in_subprocess(base_dir, stack), f"at {ref}")
            else:  # the stack is new in this change: everything it declares is added
                base = {"project": "", "stack": stack, "resources": [], "outputs": {}}
        finally:
            current = _collect(head, "in the working tree")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=top,
                       capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)
    diff = render.diff_plans(base, current)
    if output_format == "markdown":
        return render.diff_to_markdown(diff, stack=stack, ref=ref)
    return render.diff_to_text(diff, stack=stack, ref=ref)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.policy and (args.against or args.json)) or (args.policy_config and not args.policy):
        parser.error("--policy checks one plan: use it without --against and --json; --policy-config needs --policy")
    program_dir = args.dir.resolve()
    try:
        if args.against:
            output = _against(program_dir, args.stack, args.against, args.format)
        else:
            from offline_plan.runner import plan_program

            if args.policy:
                from offline_plan.policy import check_plan, load_policy_config

                policy_config = load_policy_config(args.policy_config)  # a bad file fails before planning
            plan = plan_program(program_dir, args.stack, fill_computed=args.fill_computed)
            if args.policy:
                report = check_plan(plan, config=policy_config)
                sys.stdout.write(report.text)
                return 1 if report.mandatory_failed else 0
            output = render.to_json(plan) if args.json else render.to_text(plan)
    except RunError as error:
        # A user's mistake (stack config, job definitions, a ref that does not exist): the message
        # names the file and key; no traceback.
        print(str(error), file=sys.stderr)
        return 1
    sys.stdout.write(output)
    return 0
