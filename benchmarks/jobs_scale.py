"""Plan time and memory for 10, 100 and 1,000 job definitions: templated vs bare registrations.

Templated: db-dsc-jobs definitions in jobs/, rendered through templates/notebook_job.json.j2, validated,
and declared by the DatabricksJobs component (the path the stage program takes). Bare: the same number of
databricks.Job registrations with literal settings, no templates. Both run under the offline plan's mock
runtime in a fresh process; each figure is the median of 3 runs. Aim: ratio <= 1.15 at 1,000, linear growth.
Run: .venv/bin/python benchmarks/jobs_scale.py
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = (10, 100, 1000)
RUNS = 3

PROVIDER = """
import pulumi_databricks as databricks
provider = databricks.Provider("ws", host="https://adb-1.1.azuredatabricks.net", auth_type="azure-cli")
"""

TEMPLATED_MAIN = PROVIDER + """
from pathlib import Path
from components.databricks_jobs import DatabricksJobs, DatabricksJobsArgs
from core.jobs import render_jobs
here = Path(__file__).parent
jobs = render_jobs(here / "jobs", here / "templates", stage="dev", variables={"spark_version": "15.4.x-scala2.12"},
                   pool_names=["general"], default_pool="general", relative_to=here)
DatabricksJobs("jobs", DatabricksJobsArgs(jobs=jobs, pool_ids={"general": "pool-0001"}, provider=provider))
"""

BARE_MAIN = PROVIDER + """
import pulumi
COUNT = {count}
for i in range(COUNT):
    databricks.Job(
        f"job-{{i:04d}}",
        name=f"job-{{i:04d}}",
        job_clusters=[{{"job_cluster_key": "main", "new_cluster": {{
            "spark_version": "15.4.x-scala2.12", "instance_pool_id": "pool-0001",
            "driver_instance_pool_id": "pool-0001", "num_workers": 2}}}}],
        tasks=[{{"task_key": "notebook", "job_cluster_key": "main", "notebook_task": {{
            "notebook_path": f"/Shared/jobs/job_{{i:04d}}", "base_parameters": {{"source": f"system-{{i}}"}}}}}}],
        tags={{"project": "databricks-platform", "stage": "dev", "managed-by": "pulumi"}},
        opts=pulumi.ResourceOptions(provider=provider),
    )
"""


def _project(directory: Path) -> None:
    directory.mkdir(parents=True)
    (directory / "Pulumi.yaml").write_text("name: jobs-scale\nruntime: python\n")
    (directory / "Pulumi.dev.yaml").write_text("config: {}\n")


def templated_program(root: Path, count: int) -> Path:
    directory = root / f"templated-{count}"
    _project(directory)
    for part in ("core", "components", "templates"):
        shutil.copytree(REPO / part, directory / part, ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "jobs").mkdir()
    for i in range(count):
        definition = {"name": f"job-{i:04d}", "workers": 2, "notebookpath": f"/Shared/jobs/job_{i:04d}",
                      "par_source": "source", "par_source_val": f"system-{i}", "description": "generated"}
        (directory / "jobs" / f"job_{i:04d}.json").write_text(json.dumps(definition))
    (directory / "__main__.py").write_text(TEMPLATED_MAIN)
    return directory


def bare_program(root: Path, count: int) -> Path:
    directory = root / f"bare-{count}"
    _project(directory)
    (directory / "__main__.py").write_text(BARE_MAIN.format(count=count))
    return directory


# The offline plan's own entry point, then this process's peak resident memory (KiB) on stderr.
PLAN_AND_REPORT_PEAK = (
    "import resource, sys; from offline_plan.cli import main; code = main(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def measure(program: Path) -> tuple[float, float, int]:
    """Median wall seconds, median peak RSS (MiB), resources declared."""
    times, peaks, declared = [], [], 0
    for _ in range(RUNS):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", PLAN_AND_REPORT_PEAK, "--stack", "dev", "--json", "--dir", str(program)],
            cwd=REPO, capture_output=True, text=True, check=False,
        )
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"{program.name}: plan failed:\n{result.stderr}")
        peaks.append(int(result.stderr.strip().splitlines()[-1]) / 1024)
        declared = len(json.loads(result.stdout)["resources"])
    return statistics.median(times), statistics.median(peaks), declared


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="jobs-scale-"))
    try:
        print(f"{'jobs':>6} {'templated s':>12} {'bare s':>8} {'ratio':>6} {'templated MiB':>14} {'bare MiB':>9}"
              f" {'s per 1k templated':>19}")
        for count in SIZES:
            t_time, t_mem, t_count = measure(templated_program(root, count))
            b_time, b_mem, b_count = measure(bare_program(root, count))
            assert t_count == count + 2 and b_count == count + 1, (t_count, b_count)  # + provider (+ component)
            print(f"{count:>6} {t_time:>12.2f} {b_time:>8.2f} {t_time / b_time:>6.2f} {t_mem:>14.0f} {b_mem:>9.0f}"
                  f" {t_time / count * 1000:>19.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("MiB: median peak resident memory of the plan process.")


if __name__ == "__main__":
    main()
