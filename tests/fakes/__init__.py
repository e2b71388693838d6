"""Loopback HTTPS fakes of Entra ID and the Databricks workspace APIs, wired together as one fake cloud.

`running_fake_cloud(directory)` starts both with a fresh service principal whose client secret, like every
token the fakes issue, is random per run; `FakeCloud.new_principal()` registers more.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.databricks import FakeDatabricks, Fault
from tests.fakes.entra import DATABRICKS_AUDIENCE, MANAGEMENT_AUDIENCE, EntraFault, FakeEntra
from tests.fakes.tls import TlsMaterial, make_tls_material

__all__ = [
    "DATABRICKS_AUDIENCE",
    "MANAGEMENT_AUDIENCE",
    "EntraFault",
    "FakeCloud",
    "FakeDatabricks",
    "FakeEntra",
    "Fault",
    "TlsMaterial",
    "make_tls_material",
    "running_fake_cloud",
]


@dataclass
class FakeCloud:
    """A fake tenant with one service principal and one Databricks workspace."""

    tls: TlsMaterial
    entra: FakeEntra
    databricks: FakeDatabricks
    tenant_id: str
    client_id: str
    client_secret: str
    workspace_resource_id: str
    other_secrets: list[str] = field(default_factory=list, repr=False)
    """Client secrets of the principals new_principal() registered."""

    def __repr__(self) -> str:
        # Keeps the client secret out of pytest's assertion rewriting output.
        return f"FakeCloud(workspace={self.databricks.url}, authority={self.entra.authority})"

    def inputs(self, **overrides: Any) -> dict[str, Any]:
        """DatabricksPat inputs for this cloud (without workspace_resource_id unless given)."""
        inputs: dict[str, Any] = {
            "workspace_url": self.databricks.url,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "credential": "environment",
            "azure_authority_host": self.entra.authority,
            "lifetime_days": 90,
            "rotate_before_days": 14,
            "comment": "pulumi test-project/test-stack",
        }
        inputs.update(overrides)
        return {k: v for k, v in inputs.items() if v is not None}

    def environ(self) -> dict[str, str]:
        """Environment a process needs to reach the fakes with the client-secret credential."""
        return {
            "REQUESTS_CA_BUNDLE": str(self.tls.ca_bundle),
            "AZURE_CLIENT_SECRET": self.client_secret,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def new_principal(self) -> tuple[str, str]:
        """Register another service principal with Entra ID: (client id, client secret)."""
        client_id, client_secret = str(uuid.uuid4()), secrets.token_urlsafe(30)
        self.entra.register_secret(client_id, client_secret)
        self.other_secrets.append(client_secret)
        return client_id, client_secret

    def secret_values(self) -> list[str]:
        """Everything that must never be printed, logged or raised: secrets, AAD tokens, PATs."""
        return [
            self.client_secret,
            *self.other_secrets,
            *self.entra.issued_values(),
            *self.databricks.token_values(),
        ]


@contextmanager
def running_fake_cloud(directory: Path, tls: TlsMaterial | None = None) -> Iterator[FakeCloud]:
    """Start the fake Entra ID and Databricks (TLS material written to `directory` unless given)."""
    tls = tls or make_tls_material(directory)
    tenant_id = str(uuid.uuid4())
    client_id = str(uuid.uuid4())
    client_secret = secrets.token_urlsafe(30)
    resource_id = (
        f"/subscriptions/{uuid.uuid4()}/resourceGroups/rg-dbw-test"
        "/providers/Microsoft.Databricks/workspaces/dbw-test"
    )
    entra = FakeEntra(tls, tenant_id)
    entra.register_secret(client_id, client_secret)
    with entra, FakeDatabricks(tls, entra, workspace_resource_id=resource_id) as databricks:
        yield FakeCloud(
            tls=tls,
            entra=entra,
            databricks=databricks,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            workspace_resource_id=resource_id,
        )
