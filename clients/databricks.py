"""databricks-sdk's WorkspaceClient, authenticated as the deploying identity through azure-identity.

databricks-sdk has Azure auth of its own, but it reads its own environment variables and cannot use every
credential kind the project supports (a client certificate, a loopback authority in tests). So the SDK gets
a credentials strategy that asks the project's azure-identity credential (clients.identity) for an Entra ID
token for Azure Databricks on each request, and, with the workspace's ARM id, adds the management-token
headers that admit a service principal which is Contributor on the workspace but not yet a workspace user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.credentials_provider import CredentialsProvider, CredentialsStrategy

from clients.identity import DATABRICKS_SCOPE, DeployerCredential, management_scope_for

RESOURCE_ID_HEADER = "X-Databricks-Azure-Workspace-Resource-Id"
MANAGEMENT_TOKEN_HEADER = "X-Databricks-Azure-SP-Management-Token"


class EntraIdStrategy(CredentialsStrategy):
    """Bearer tokens from an azure-identity credential; management headers when the workspace id is known."""

    def __init__(
        self,
        token: Callable[[str], str],
        *,
        workspace_resource_id: str | None = None,
        management_scope: str | None = None,
    ):
        self._token = token
        self._workspace_resource_id = workspace_resource_id
        self._management_scope = management_scope

    def auth_type(self) -> str:
        return "azure-identity"

    def __call__(self, cfg: Config) -> CredentialsProvider:
        def headers() -> dict[str, str]:
            result = {"Authorization": f"Bearer {self._token(DATABRICKS_SCOPE)}"}
            if self._workspace_resource_id and self._management_scope:
                result[RESOURCE_ID_HEADER] = self._workspace_resource_id
                result[MANAGEMENT_TOKEN_HEADER] = self._token(self._management_scope)
            return result

        return headers


def workspace_client(
    workspace_url: str,
    credential: DeployerCredential,
    *,
    workspace_resource_id: str | None = None,
    authority_host: str | None = None,
    token: Callable[[str], str] | None = None,
    **config: Any,
) -> WorkspaceClient:
    """A WorkspaceClient for ``workspace_url`` as the deploying identity.

    ``token(scope)`` returns an access token for a scope; by default the credential's own ``get_token``.
    Callers that must bound or redact token requests pass their own. ``config`` goes to databricks-sdk's
    Config (e.g. ``http_timeout_seconds``, ``retry_timeout_seconds``).
    """
    if token is None:

        def token(scope: str) -> str:
            return credential.credential.get_token(scope).token

    strategy = EntraIdStrategy(
        token,
        workspace_resource_id=workspace_resource_id,
        management_scope=management_scope_for(authority_host) if workspace_resource_id else None,
    )
    # Building the Config also probes <host>/.well-known/databricks-config once, unauthenticated: the SDK's own
    # discovery, which it tolerates failing.
    return WorkspaceClient(config=Config(host=workspace_url, credentials_strategy=strategy, **config))
