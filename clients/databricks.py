"""databricks-sdk's WorkspaceClient, authenticated as the deploying identity through azure-identity.

databricks-sdk has Azure auth of its own, but it reads its own environment variables and cannot use every
credential kind the project supports (a client certificate, a loopback authority in tests). So the SDK gets
a credentials strategy that asks the project's azure-identity credential (clients.identity) for an Entra ID
token for Azure Databricks on each request, and, with the workspace's ARM id, adds the management-token
headers that admit a service principal which is Contributor on the workspace but not yet a workspace user.

A workspace call that answers with a redirect is refused, not followed: requests would carry the management
token header to whatever host the redirect names (it strips only Authorization). databricks-sdk has no option
for this, so the refusal is a response hook on its (private) requests session; tests/test_clients.py fails if
an SDK upgrade moves it. The same hook remembers each reply's HTTP status (`last_status`), which the SDK's
errors do not keep (a 502 becomes a bare DatabricksError), and rewrites a Retry-After the SDK would choke on
(clients.retry_after) before the SDK reads it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.clock import Clock
from databricks.sdk.config import Config
from databricks.sdk.credentials_provider import CredentialsProvider, CredentialsStrategy

from clients.deadline import pause
from clients.identity import DATABRICKS_SCOPE, DeployerCredential, management_scope_for
from clients.retry_after import retry_after_seconds

RESOURCE_ID_HEADER = "X-Databricks-Azure-Workspace-Resource-Id"
MANAGEMENT_TOKEN_HEADER = "X-Databricks-Azure-SP-Management-Token"
AUTH_TYPE = "azure-identity"


class RedirectRefused(requests.RequestException):
    """A workspace call was answered with a redirect, which is not followed."""

    def __init__(self, status: int, location: str):
        super().__init__(f"redirected (HTTP {status}) to {location}")
        self.status = status
        self.location = location


_last_status: ContextVar[int | None] = ContextVar("last_databricks_status", default=None)


def last_status() -> int | None:
    """The HTTP status of the last workspace reply a client of this module received in this context."""
    return _last_status.get()


def _watch_response(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    _last_status.set(response.status_code)
    if response.is_redirect:
        raise RedirectRefused(response.status_code, response.headers.get("Location", "?"))
    if "Retry-After" in response.headers:
        _bound_retry_after(response)
    return response


def _bound_retry_after(response: requests.Response) -> None:
    """Rewrite Retry-After as whole seconds within [0, a day] before databricks-sdk reads it: the SDK sleeps
    ``int(value)`` plus jitter, so a huge value overflowed time.sleep (or the float sum) and a negative one made
    it raise; it reads only integers, so an HTTP-date is turned into one. An unreadable value is dropped (the SDK
    then waits one second). The caller's clock cuts the wait further, to its deadline."""
    seconds = retry_after_seconds(response.headers["Retry-After"])
    if seconds is None:
        del response.headers["Retry-After"]
    else:
        response.headers["Retry-After"] = str(math.ceil(seconds))


class _QuietDiscovery(logging.Filter):
    """databricks-sdk warns on every client it builds for a workspace without the discovery endpoint (an older
    one answers 404), though it carries on without it: demote that to DEBUG, or every run prints it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(
            "Failed to automatically resolve config from host metadata"
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_quiet_discovery = _QuietDiscovery()


class DeadlineClock(Clock):
    """databricks-sdk's clock, for the operation's deadline (clients.deadline). The SDK's retry loop sleeps
    through `sleep`, so a Retry-After is capped at ``max_pause`` and a pause that would outlast the deadline
    raises OutOfTime instead. OutOfTime is raised while the SDK handles the failed attempt, so its
    ``__context__`` is that attempt's error."""

    def __init__(self, *, max_pause: float):
        self.max_pause = max_pause
        self.pauses = 0
        """Pauses taken, i.e. retries made (callers reset it per call to count attempts)."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        pause(seconds, self.max_pause)
        self.pauses += 1


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
        return AUTH_TYPE

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
    credential: DeployerCredential | None,
    *,
    workspace_resource_id: str | None = None,
    authority_host: str | None = None,
    token: Callable[[str], str] | None = None,
    **config: Any,
) -> WorkspaceClient:
    """A WorkspaceClient for ``workspace_url`` as the deploying identity.

    ``token(scope)`` returns an access token for a scope; by default the credential's own ``get_token``.
    Callers that must bound or redact token requests pass their own (clients.identity.EntraTokens), and then
    need no ``credential``. ``config`` goes to databricks-sdk's Config (e.g. ``http_timeout_seconds``,
    ``retry_timeout_seconds``, ``clock``).
    """
    if token is None:
        if credential is None:
            raise ValueError("workspace_client needs a credential or a token function")

        def token(scope: str) -> str:
            return credential.credential.get_token(scope).token

    strategy = EntraIdStrategy(
        token,
        workspace_resource_id=workspace_resource_id,
        management_scope=management_scope_for(authority_host) if workspace_resource_id else None,
    )
    sdk_logger = logging.getLogger("databricks.sdk")
    if _quiet_discovery not in sdk_logger.filters:
        sdk_logger.addFilter(_quiet_discovery)
    # auth_type: DATABRICKS_TOKEN or ARM_CLIENT_SECRET in the environment must not count as a second auth method.
    config.setdefault("auth_type", AUTH_TYPE)
    # Building the Config also probes <host>/.well-known/databricks-config once, unauthenticated: the SDK's own
    # discovery, which it tolerates failing.
    client = WorkspaceClient(config=Config(host=workspace_url, credentials_strategy=strategy, **config))
    client.api_client._api_client._session.hooks["response"].append(_watch_response)
    return client
