"""Wall time of the offline plan: one stage, three stages, and three stages against a git ref, side by side.

Prints the median of RUNS runs of each (the runs of all commands are interleaved, so load from other
processes on the machine falls on all of them alike), and the CPU time (user + system) its processes
used: on a busy machine wall time tends to CPU time / free cores, and --against needs two cores to
plan both refs side by side. Two ratios of wall times:
- one dev plan / a floor that only imports the SDK modules the program uses (aim: <= 1.3);
- dev,test,prod --against HEAD --format markdown (the pull-request comment) / one dev plan (aim: <= 1.5).
The old way to get that comment, three single-stack --against runs one after another, is printed beside it.

Run: .venv/bin/python benchmarks/plan_time.py [RUNS]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
STAGES = ("dev", "test", "prod")
# Everything the program imports from the SDKs; the floor is what any Pulumi program using them pays to
# start. azure-native submodules load lazily, on first attribute access, so the floor touches one class
# of each, as the program must.
FLOOR_IMPORTS = (
    "import pulumi, pulumi.dynamic, pulumi.runtime.mocks, pulumi_databricks, yaml, pydantic, jinja2; "
    "from pulumi_azure_native import authorization, databricks, datafactory, keyvault, resources; "
    "authorization.RoleAssignment, databricks.Workspace, datafactory.Factory, keyvault.Vault, "
    "resources.ResourceGroup"
)
PLAN = [sys.executable, "-m", "offline_plan"]
AGAINST_HEAD = ["--against", "HEAD", "--format", "markdown"]
COMMANDS = {
    "offline plan, dev stack": [[*PLAN, "--stack", "dev", "--json"]],
    "floor: import the SDK modules": [[sys.executable, "-c", FLOOR_IMPORTS]],
    "dev,test,prod in one interpreter": [[*PLAN, "--stack", ",".join(STAGES), "--json"]],
    "dev,test,prod --against HEAD (md)": [[*PLAN, "--stack", ",".join(STAGES), *AGAINST_HEAD]],
    "old way: 3 x --stack X --against": [[*PLAN, "--stack", stage, *AGAINST_HEAD] for stage in STAGES],
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seconds(commands: list[list[str]]) -> tuple[float, float]:
    """Wall time and CPU time of running the commands one after another."""
    start, cpu = time.perf_counter(), _children_cpu()
    for command in commands:
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu


def main() -> None:
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(RUNS):
        for name, commands in COMMANDS.items():
            wall, used = seconds(commands)
            times[name].append(wall)
            cpu[name].append(used)
    median = {name: statistics.median(values) for name, values in times.items()}

    print(f"{'what':<38}{'median of ' + str(RUNS) + ' (s)':>18}{'min (s)':>10}{'CPU median (s)':>16}")
    for name, values in times.items():
        print(f"{name:<38}{median[name]:>18.3f}{min(values):>10.3f}{statistics.median(cpu[name]):>16.3f}")
    plan = median["offline plan, dev stack"]
    print(f"{'ratio plan / floor':<38}{plan / median['floor: import the SDK modules']:>18.2f}   (aim <= 1.3)")
    against = median["dev,test,prod --against HEAD (md)"]
    print(f"{'ratio 3 stages against a ref / 1 plan':<38}{against / plan:>18.2f}   (aim <= 1.5)")
    print(f"{'old way / 3 stages against a ref':<38}{median['old way: 3 x --stack X --against'] / against:>18.2f}")
    print(f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
