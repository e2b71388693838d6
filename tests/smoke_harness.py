"""The loopback cloud that `python -m ops smoke` tests run against, and how they run the command.

Fake Entra ID, Jobs API and ARM (tests.fakes) with a fresh principal; `smoke()` runs the command as a user
does (a subprocess), `smoke_in_process()` calls its main(); both check that nothing secret was printed and
that no traceback was. Test modules make their `cloud` fixture from `running_smoke_cloud`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.arm import FakeArm, FakeFactory
from tests.fakes.entra import FakeEntra
from tests.fakes.jobs import FakeJobs
from tests.fakes.tls import TlsMaterial

REPO = Path(__file__).resolve().parent.parent
JOB_ID = 4242
STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
# What a test environment must not inherit: anything that points azure-identity or the SDKs elsewhere.
FOREIGN_PREFIXES = ("AZURE_", "ARM_", "DATABRICKS_", "IDENTITY_", "MSI_", "IMDS_", "DEPLOYER_")


@dataclass
class SmokeCloud:
    """A tenant with one service principal, a workspace with job JOB_ID, and a factory with pipeline 'smoke'."""

    tls: TlsMaterial
    entra: FakeEntra
    jobs: FakeJobs
    arm: FakeArm
    factory: FakeFactory
    tenant_id: str
    client_id: str
    client_secret: str
    workspace_resource_id: str
    directory: Path

    def __repr__(self) -> str:
        return f"SmokeCloud(jobs={self.jobs.url}, arm={self.arm.url})"  # never the secret

    def outputs(self, **overrides: Any) -> dict[str, Any]:
        outputs = {
            "workspace_url": self.jobs.url,
            "workspace_resource_id": self.workspace_resource_id,
            "key_vault_name": "kv-dp-test",
            "key_vault_uri": "https://kv-dp-test.vault.azure.net/",
            "pat_secret_name": "databricks-pat",
            "pat_expiry_time": "2030-01-01T00:00:00Z",
            "pool_ids": {"general": "0101-pool"},
            "pool_secret_names": {"general": "databricks-pool-general"},
            "job_ids": {"smoke": str(JOB_ID), "nightly": "99"},
            "data_factory_name": self.factory.name,
            "data_factory_id": self.factory.resource_id,
            "data_factory_pipelines": ["smoke"],
            "azure_authority_host": self.entra.authority,
        }
        outputs.update(overrides)
        return {key: value for key, value in outputs.items() if value is not None}

    def outputs_file(self, **overrides: Any) -> Path:
        path = self.directory / f"outputs-{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(self.outputs(**overrides)))
        return path

    def environ(self, **overrides: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES)}
        env.update(
            REQUESTS_CA_BUNDLE=str(self.tls.ca_bundle),
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            AZURE_TENANT_ID=self.tenant_id,
            AZURE_CLIENT_ID=self.client_id,
            AZURE_CLIENT_SECRET=self.client_secret,
            AZURE_RESOURCE_MANAGER_ENDPOINT=self.arm.url,
        )
        env.pop("PYTHONPATH", None)
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def secret_values(self) -> list[str]:
        return [self.client_secret, *self.entra.issued_values()]


@contextmanager
def running_smoke_cloud(tls_material: TlsMaterial, directory: Path) -> Iterator[SmokeCloud]:
    """Fake Entra ID, Jobs API and ARM with a fresh principal (a random secret) and a factory 'adf-dp-test'."""
    tenant_id, client_id, secret = str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_urlsafe(30)
    resource_id = (
        f"/subscriptions/{uuid.uuid4()}/resourceGroups/rg-dp-test/providers/Microsoft.Databricks/workspaces/dbw"
    )
    entra = FakeEntra(tls_material, tenant_id)
    entra.register_secret(client_id, secret)
    with entra, FakeJobs(tls_material, entra, workspace_resource_id=resource_id) as jobs, \
            FakeArm(tls_material, entra) as arm:
        factory = arm.add_factory("rg-dp-test", "adf-dp-test")
        yield SmokeCloud(tls_material, entra, jobs, arm, factory, tenant_id, client_id, secret, resource_id, directory)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def smoke(cloud: SmokeCloud, *args: str, outputs: Path | None = None, env: dict[str, str] | None = None,
          limit: float = 90) -> Result:
    """`python -m ops smoke` as a user runs it; `limit` only guards the test run against a hang."""
    argv = [sys.executable, "-m", "ops", "smoke", "--outputs", str(outputs or cloud.outputs_file()), *args]
    done = subprocess.run(argv, cwd=REPO, env=env or cloud.environ(), capture_output=True, text=True,
                          timeout=limit, check=False)
    result = Result(done.returncode, done.stdout, done.stderr)
    assert_clean(cloud, result)
    return result


def smoke_in_process(cloud: SmokeCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                     *args: str, outputs: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """ops.smoke.main() in this process, with the environment a subprocess would get."""
    from ops.smoke import main

    env = env or cloud.environ()
    for key in list(os.environ):
        if key.startswith(FOREIGN_PREFIXES):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(["--outputs", str(outputs or cloud.outputs_file()), *args], environ=env)
    captured = capsys.readouterr()
    result = Result(code, captured.out, captured.err)
    assert_clean(cloud, result)
    return result


def assert_clean(cloud: SmokeCloud, result: Result) -> None:
    assert "Traceback" not in result.text, result.text
    for value in cloud.secret_values():
        assert value not in result.text, "a secret or token was printed"


FAST = ("--poll-interval", "0.05", "--timeout", "30")
