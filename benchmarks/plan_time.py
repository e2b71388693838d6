"""Wall time of the dev offline plan beside a floor that only imports the SDK modules the program uses.

Prints the median of 5 runs of each and their ratio (aim: <= 1.3). Run: .venv/bin/python benchmarks/plan_time.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 5
# Everything the program imports from the SDKs; the floor is what any Pulumi program using them pays to
# start. azure-native submodules load lazily, on first attribute access, so the floor touches one class
# of each, as the program must.
FLOOR_IMPORTS = (
    "import pulumi, pulumi.dynamic, pulumi.runtime.mocks, pulumi_databricks, yaml, pydantic, jinja2; "
    "from pulumi_azure_native import authorization, databricks, datafactory, keyvault, resources; "
    "authorization.RoleAssignment, databricks.Workspace, datafactory.Factory, keyvault.Vault, "
    "resources.ResourceGroup"
)


def median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    plan = median_seconds([sys.executable, "-m", "offline_plan", "--stack", "dev", "--json"])
    floor = median_seconds([sys.executable, "-c", FLOOR_IMPORTS])
    print(f"{'what':<34}{'median of ' + str(RUNS) + ' (s)':>18}")
    print(f"{'offline plan, dev stack':<34}{plan:>18.3f}")
    print(f"{'floor: import the SDK modules':<34}{floor:>18.3f}")
    print(f"{'ratio plan / floor':<34}{plan / floor:>18.2f}   (aim <= 1.3)")


if __name__ == "__main__":
    main()
