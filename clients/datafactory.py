"""azure-mgmt-datafactory's DataFactoryManagementClient, authenticated as the deploying identity.

The client gets the project's azure-identity credential (clients.identity) and the ARM endpoint and token
scope of the stack's cloud, both derived from its Entra ID authority host. ``arm_endpoint`` replaces the
endpoint for a private cloud or a test's loopback ARM; the scope still follows the authority.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clients.identity import DeployerCredential, management_scope_for, resource_manager_endpoint_for
from core.azure_ids import DATA_FACTORY, parse_resource_id

if TYPE_CHECKING:
    from azure.mgmt.datafactory import DataFactoryManagementClient

@dataclass(frozen=True)
class FactoryRef:
    """Where a data factory lives, as its ARM id spells it."""

    subscription_id: str
    """The subscription's id (a GUID)."""
    resource_group: str
    """The factory's resource group."""
    name: str
    """The factory's name."""

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.DataFactory/factories/{self.name}"
        )


def parse_factory_id(resource_id: str) -> FactoryRef:
    """The parts of ``/subscriptions/<s>/resourceGroups/<g>/providers/Microsoft.DataFactory/factories/<n>``.

    Raises ValueError naming the expected shape, and what is wrong, for anything else (core.azure_ids).
    """
    parts = parse_resource_id(resource_id, DATA_FACTORY)
    return FactoryRef(parts.subscription_id, parts.resource_group, parts.name)


def arm_endpoint_for(authority_host: str | None, arm_endpoint: str | None = None) -> str:
    """``arm_endpoint`` without a trailing slash if given, else the ARM endpoint of the authority's cloud."""
    return (arm_endpoint or resource_manager_endpoint_for(authority_host)).rstrip("/")


def datafactory_client(
    credential: DeployerCredential,
    subscription_id: str,
    *,
    authority_host: str | None = None,
    arm_endpoint: str | None = None,
    **azure_core_options: Any,
) -> DataFactoryManagementClient:
    """A DataFactoryManagementClient for ``subscription_id`` as the deploying identity.

    ``azure_core_options`` go to the client's azure-core pipeline (e.g. ``connection_timeout``,
    ``read_timeout``, ``retry_total``, ``transport``). Without a ``retry_policy`` the client gets a
    clients.transport.RetryAfterPolicy with those options: an odd Retry-After never ends a call with a Python
    exception.
    """
    from azure.mgmt.datafactory import DataFactoryManagementClient

    from clients.transport import RetryAfterPolicy

    if "retry_policy" not in azure_core_options:
        azure_core_options["retry_policy"] = RetryAfterPolicy(**azure_core_options)

    return DataFactoryManagementClient(
        credential.credential,
        subscription_id,
        base_url=arm_endpoint_for(authority_host, arm_endpoint),
        credential_scopes=[management_scope_for(authority_host)],
        **azure_core_options,
    )
