"""HTTP requests per DatabricksPat operation, split into Entra ID (AAD) and Databricks.

Runs the real provider (create, no-op diff, read, delete) against the loopback fakes of tests/fakes, with and
without workspace_resource_id, and prints a table. Aim: create <= 4 requests (AAD discovery and both AAD
tokens included), no-op diff 0, read <= 4. Counts only; no wall-clock figures.
Run from the repo root: .venv/bin/python benchmarks/pat_requests.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
AIMS = {"create": 4, "diff (no change)": 0, "read": 4, "delete": 4}


def count_requests(cloud: Any, operation: Callable[[], object]) -> tuple[int, int]:
    aad_before, databricks_before = len(cloud.entra.requests), len(cloud.databricks.requests)
    operation()
    return len(cloud.entra.requests) - aad_before, len(cloud.databricks.requests) - databricks_before


def measure(provider: Any, cloud: Any, resource_id: str | None) -> list[tuple[str, int, int]]:
    """(operation, AAD requests, Databricks requests) for one token's life."""
    inputs = provider.check({}, cloud.inputs(workspace_resource_id=resource_id)).inputs
    created: dict[str, Any] = {}

    def create() -> None:
        result = provider.create(inputs)
        created.update(id=result.id, outs=result.outs)

    steps: list[tuple[str, Callable[[], object]]] = [
        ("create", create),
        ("diff (no change)", lambda: provider.diff(created["id"], created["outs"], inputs)),
        ("read", lambda: provider.read(created["id"], created["outs"])),
        ("delete", lambda: provider.delete(created["id"], created["outs"])),
    ]
    return [(name, *count_requests(cloud, step)) for name, step in steps]


def main() -> None:
    sys.path.insert(0, str(REPO))  # run as a script: make the project's packages importable
    from dynamic_providers.databricks_pat import DatabricksPatProvider
    from tests.fakes import running_fake_cloud

    rows: list[tuple[str, str, int, int]] = []
    with tempfile.TemporaryDirectory() as directory, running_fake_cloud(Path(directory)) as cloud:
        os.environ.update(cloud.environ())
        provider = DatabricksPatProvider()
        # Without the resource id the principal must already be a workspace user; with it, it is admitted.
        cloud.databricks.users.add(cloud.client_id)
        rows += [("without resource id", *row) for row in measure(provider, cloud, None)]
        cloud.databricks.users.discard(cloud.client_id)
        rows += [("with resource id", *row) for row in measure(provider, cloud, cloud.workspace_resource_id)]

    print(f"{'variant':<22}{'operation':<18}{'AAD':>5}{'Databricks':>12}{'total':>7}{'aim':>6}")
    for variant, name, aad, databricks in rows:
        total = aad + databricks
        mark = "" if total <= AIMS[name] else "  over aim"
        print(f"{variant:<22}{name:<18}{aad:>5}{databricks:>12}{total:>7}{'<=' + str(AIMS[name]):>6}{mark}")


if __name__ == "__main__":
    main()
