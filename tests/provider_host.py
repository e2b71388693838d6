"""A dynamic provider's process as the Pulumi engine runs it, for tests that drive it over gRPC.

The engine starts `python -m pulumi.dynamic` in the project directory (where `python -m` finds the providers'
modules: they are pickled by reference) with no PYTHONPATH help, reads the port it prints, and speaks the
ResourceProvider protocol to it. `provider_process` does the same, with an environment of the test's choosing
and none of the caller's Azure, Pulumi or managed-identity variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime._serialization import _serialize
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
# What a developer's shell may hold that would let a provider reach past the fakes.
_CALLERS_VARIABLES = ("AZURE_", "ARM_", "IDENTITY_", "MSI_", "IMDS_", "PULUMI_")


def serialized_provider(provider: Any) -> str:
    """Exactly what pulumi.dynamic.Resource stores in `__provider` (before the engine unwraps the secret)."""
    serialized, _contains_secrets = _serialize(True, serialize_provider, provider)
    return serialized


def struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(props)
    return message


def as_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


@dataclass
class ProviderProcess:
    stub: provider_pb2_grpc.ResourceProviderStub
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@contextmanager
def provider_process(environ: Mapping[str, str], workdir: Path) -> Iterator[ProviderProcess]:
    """`python -m pulumi.dynamic` as the engine starts it, with ``environ`` (e.g. a fake cloud's)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_CALLERS_VARIABLES)}
    env.pop("PYTHONPATH", None)
    env.update(environ)
    stderr_path = workdir / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr
        )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().decode().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=20)
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        stub.Configure(provider_pb2.ConfigureRequest(args=struct({}), acceptSecrets=False))
        yield ProviderProcess(stub=stub, stderr_path=stderr_path)
        channel.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
