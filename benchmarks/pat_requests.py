"""HTTP requests per DatabricksPat operation: Entra ID (AAD), databricks-sdk's discovery probe, Databricks API.

Runs the real provider (create, no-op diff, read, delete) on databricks-sdk and azure-identity against the
loopback fakes of tests/fakes, with and without workspace_resource_id, and prints a table. Counts only; no
wall-clock figures.

- AAD: OpenID discovery of the tenant plus one token per scope (Azure Databricks, and the management scope
  when the workspace's resource id is known). Every operation builds its own credential, so each pays them.
- probe: databricks-sdk GETs <workspace>/.well-known/databricks-config, unauthenticated, whenever it builds a
  client; an older workspace answers 404 (as the fake does) and the SDK carries on.
- API: create is token/create and SCIM Me (who owns the token); the sweep (token/list, token/delete) runs only
  when token/create was retried or failed. Read and delete are one token management call each.

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
# What each operation needs at most: AAD discovery + 2 tokens, the probe, and its Databricks calls.
AIMS = {"create": 6, "diff (no change)": 0, "read": 5, "delete": 5, "create, one 429 retry": 9}


def count_requests(cloud: Any, operation: Callable[[], object]) -> tuple[int, int, int, int]:
    """(AAD discovery, AAD tokens, Databricks probe, Databricks API) requests the operation made."""
    entra, databricks = len(cloud.entra.requests), len(cloud.databricks.requests)
    operation()
    entra_requests = cloud.entra.requests[entra:]
    databricks_requests = cloud.databricks.requests[databricks:]
    aad_discovery = sum(1 for r in entra_requests if r.kind == "discovery")
    probe = sum(1 for r in databricks_requests if r.endpoint == "discovery")
    return aad_discovery, len(entra_requests) - aad_discovery, probe, len(databricks_requests) - probe


def measure(provider: Any, cloud: Any, resource_id: str | None) -> list[tuple[str, int, int, int, int]]:
    """(operation, AAD discovery, AAD tokens, probe, API) for one token's life, and a throttled create."""
    from tests.fakes import Fault

    inputs = provider.check({}, cloud.inputs(workspace_resource_id=resource_id)).inputs
    created: dict[str, Any] = {}

    def create() -> None:
        result = provider.create(inputs)
        created.update(id=result.id, outs=result.outs)

    def throttled_create() -> None:
        # token/create answers 429 after minting: the SDK retries, the sweep revokes the extra token.
        minted_anyway = Fault(status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after="0", process=True)
        cloud.databricks.inject("create", minted_anyway)
        provider.create(inputs)

    steps: list[tuple[str, Callable[[], object]]] = [
        ("create", create),
        ("diff (no change)", lambda: provider.diff(created["id"], created["outs"], inputs)),
        ("read", lambda: provider.read(created["id"], created["outs"])),
        ("delete", lambda: provider.delete(created["id"], created["outs"])),
        ("create, one 429 retry", throttled_create),
    ]
    return [(name, *count_requests(cloud, step)) for name, step in steps]


def main() -> None:
    sys.path.insert(0, str(REPO))  # run as a script: make the project's packages importable
    from dynamic_providers.databricks_pat import DatabricksPatProvider
    from tests.fakes import running_fake_cloud

    rows: list[tuple[str, str, int, int, int, int]] = []
    with tempfile.TemporaryDirectory() as directory, running_fake_cloud(Path(directory)) as cloud:
        os.environ.update(cloud.environ())
        provider = DatabricksPatProvider()
        # Without the resource id the principal must already be a workspace admin; with it, it is admitted.
        cloud.databricks.add_user(cloud.client_id, admin=True)
        rows += [("without resource id", *row) for row in measure(provider, cloud, None)]
        cloud.databricks.users.discard(cloud.client_id)
        cloud.databricks.admins.discard(cloud.client_id)
        rows += [("with resource id", *row) for row in measure(provider, cloud, cloud.workspace_resource_id)]

    header = ("variant", "operation", "AAD disc", "AAD tok", "probe", "API", "total", "aim")
    print(f"{header[0]:<21}{header[1]:<23}" + "".join(f"{h:>9}" for h in header[2:]))
    for variant, name, aad_discovery, aad_tokens, probe, api in rows:
        total = aad_discovery + aad_tokens + probe + api
        mark = "" if total <= AIMS[name] else "  over aim"
        figures = (aad_discovery, aad_tokens, probe, api, total, f"<={AIMS[name]}")
        print(f"{variant:<21}{name:<23}" + "".join(f"{figure:>9}" for figure in figures) + mark)


if __name__ == "__main__":
    main()
