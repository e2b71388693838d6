"""Shared helpers: run the offline plan as a user runs it, in a fresh interpreter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# What makes up the program (copied when a test needs to change a stack file or definition).
PROGRAM_PARTS = (
    "Pulumi.yaml", "__main__.py", "clients", "core", "components", "dynamic_providers", "jobs", "templates",
    "notebooks",
    "factory",
)


def run_plan(*args: str, program_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "offline_plan", *args]
    if program_dir is not None:
        command += ["--dir", str(program_dir)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def plan_json(stack: str, *extra: str, program_dir: Path | None = None) -> dict:
    result = run_plan("--stack", stack, "--json", *extra, program_dir=program_dir)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


STAGES = ("dev", "test", "prod")


def copy_program(destination: Path, *, stacks: tuple[str, ...] = STAGES) -> Path:
    """A copy of the program and its stack files that a test may edit."""
    destination.mkdir(parents=True, exist_ok=True)
    for part in PROGRAM_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, destination / part)
    for stack in stacks:
        shutil.copy2(REPO / f"Pulumi.{stack}.yaml", destination / f"Pulumi.{stack}.yaml")
    return destination


@pytest.fixture(scope="session")
def deployed_plans() -> dict[str, dict]:
    """Every shipped stage planned with stand-ins for cloud-computed outputs, as after `pulumi up`: one
    offline-plan run, which plans the stages in one interpreter (each exactly as if planned alone)."""
    result = run_plan("--stack", ",".join(STAGES), "--json", "--fill-computed")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert not any(document["problems"].values()), document["problems"]
    return document["stacks"]


def resources_of(plan: dict, type_token: str) -> list[dict]:
    return [r for r in plan["resources"] if r["type"] == type_token]


def one(plan: dict, type_token: str) -> dict:
    found = resources_of(plan, type_token)
    assert len(found) == 1, f"stack {plan['stack']}: expected one {type_token}, got {[r['name'] for r in found]}"
    return found[0]


# The test stack's plan, recording what each resource waits for (the JSON plan lists inputs only).
_DEPENDENCIES = """
import json, sys
from pathlib import Path
from offline_plan import runner

recorded = {}
original = runner._recording_monitor

def recording_monitor(mocks, recording):
    monitor = original(mocks, recording)
    register = monitor.RegisterResource

    def register_resource(request):
        recorded[request.name] = sorted(urn.rsplit("::", 1)[1] for urn in request.dependencies)
        return register(request)

    monitor.RegisterResource = register_resource
    return monitor

runner._recording_monitor = recording_monitor
runner.plan_program(Path(sys.argv[1]), "test")
print(json.dumps(recorded))
"""


@pytest.fixture(scope="session")
def declared_dependencies() -> dict[str, list[str]]:
    """Logical names of what each resource waits for, as the program declares it to the engine."""
    result = subprocess.run([sys.executable, "-c", _DEPENDENCIES, str(REPO)], cwd=REPO, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# Variables that would let azure-identity reach past the fakes; tests that build credentials clear them.
CREDENTIAL_VARIABLES = (
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
    "AZURE_FEDERATED_TOKEN_FILE",
)


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory):
    """Loopback TLS: a CA the clients trust (REQUESTS_CA_BUNDLE) and a server certificate, made per run."""
    from tests.fakes.tls import make_tls_material

    return make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def fake_cloud(tls_material, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Fake Entra ID and Databricks on loopback, the environment pointed at them (client-secret credential)."""
    from tests.fakes import running_fake_cloud

    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with running_fake_cloud(tmp_path, tls_material) as cloud:
        for name, value in cloud.environ().items():
            monkeypatch.setenv(name, value)
        yield cloud
