"""The deploying identity's Entra ID credential, built once for every client the project runs.

The PAT provider, the smoke runs (`python -m ops smoke`) and the Data Factory trigger provider all
authenticate as the identity that runs `pulumi up`, through azure-identity, with one of three kinds:

- ``environment``: a client secret (``AZURE_CLIENT_SECRET``) or certificate (``AZURE_CLIENT_CERTIFICATE_PATH``
  and optional ``AZURE_CLIENT_CERTIFICATE_PASSWORD``) read from the process environment;
- ``managed_identity``: the managed identity with the given client id;
- ``azure_cli``: the ``az login`` session (e.g. an Azure DevOps ``AzureCLI@2`` step with workload identity
  federation).

No secret is ever an input: it is read here, from the environment, and listed in ``secrets`` so callers can
redact it from any text they emit. Sovereign clouds choose their authority host; the ARM audience and
endpoint follow from it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

CREDENTIAL_KINDS = ("environment", "managed_identity", "azure_cli")
PUBLIC_CLOUD_AUTHORITY = "login.microsoftonline.com"
DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
"""Entra ID scope of the Azure Databricks resource (its application id is the same in every tenant)."""
# The management (ARM) audience and endpoint of each cloud, by its authority host.
MANAGEMENT_SCOPES = {
    "login.microsoftonline.com": "https://management.core.windows.net/.default",
    "login.microsoftonline.us": "https://management.core.usgovcloudapi.net/.default",
    "login.chinacloudapi.cn": "https://management.core.chinacloudapi.cn/.default",
}
RESOURCE_MANAGER_ENDPOINTS = {
    "login.microsoftonline.com": "https://management.azure.com",
    "login.microsoftonline.us": "https://management.usgovcloudapi.net",
    "login.chinacloudapi.cn": "https://management.chinacloudapi.cn",
}


class CredentialError(Exception):
    """No credential could be set up, or it could not get a token; the text never holds a secret."""


@dataclass(frozen=True)
class DeployerCredential:
    """An azure-identity credential of the deploying identity, and what callers must know about it."""

    credential: Any
    """An azure.core.credentials.TokenCredential (get_token(scope) -> AccessToken)."""
    description: str
    """How it authenticates, in words for error messages ("client secret from AZURE_CLIENT_SECRET")."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Secret values it read from the environment: redact them from any text that leaves the process."""

    def close(self) -> None:
        close = getattr(self.credential, "close", None)
        if close is not None:
            close()


def authority_hostname(authority_host: str | None) -> str:
    """`login.microsoftonline.us` for `https://login.microsoftonline.us/` or the bare host; the public cloud
    for None or ""."""
    value = authority_host or PUBLIC_CLOUD_AUTHORITY
    parts = urlsplit(value if "://" in value else f"https://{value}")
    return (parts.hostname or "").lower()


def known_authority_hosts() -> frozenset[str]:
    """Azure's well-known Entra ID authority hosts (azure.identity.AzureAuthorityHosts)."""
    from azure.identity import AzureAuthorityHosts

    return frozenset(value for name, value in vars(AzureAuthorityHosts).items() if name.startswith("AZURE_"))


def management_scope_for(authority_host: str | None) -> str:
    """The ARM scope of the cloud an authority host belongs to (the public cloud when not a known one)."""
    return MANAGEMENT_SCOPES.get(authority_hostname(authority_host), MANAGEMENT_SCOPES[PUBLIC_CLOUD_AUTHORITY])


def resource_manager_endpoint_for(authority_host: str | None) -> str:
    """The ARM endpoint of the cloud an authority host belongs to (the public cloud when not a known one)."""
    hostname = authority_hostname(authority_host)
    return RESOURCE_MANAGER_ENDPOINTS.get(hostname, RESOURCE_MANAGER_ENDPOINTS[PUBLIC_CLOUD_AUTHORITY])


def deployer_credential(
    kind: str,
    *,
    tenant_id: str,
    client_id: str | None,
    authority_host: str | None = None,
    environ: Mapping[str, str] | None = None,
    process_timeout: int = 30,
    **azure_core_options: Any,
) -> DeployerCredential:
    """Build the azure-identity credential for a ``kind`` (see CREDENTIAL_KINDS).

    ``azure_core_options`` (e.g. ``transport``, ``retry_total``, ``timeout``) are passed to the credentials
    that speak HTTP. An authority host that is not one of Azure's well-known ones (a test's loopback Entra
    ID, a private cloud) is used as given, with instance discovery off. Raises CredentialError, whose text
    never holds a secret.
    """
    environ = os.environ if environ is None else environ
    authority = authority_host or PUBLIC_CLOUD_AUTHORITY
    common: dict[str, Any] = {
        "authority": authority,
        "disable_instance_discovery": authority_hostname(authority) not in known_authority_hosts(),
        **azure_core_options,
    }
    secret = environ.get("AZURE_CLIENT_SECRET") or None
    password = environ.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None
    try:
        from azure.identity import (
            AzureCliCredential,
            CertificateCredential,
            ClientSecretCredential,
            ManagedIdentityCredential,
        )

        if kind == "environment":
            certificate_path = environ.get("AZURE_CLIENT_CERTIFICATE_PATH")
            if secret:
                return DeployerCredential(
                    ClientSecretCredential(tenant_id, client_id, secret, **common),
                    "client secret from AZURE_CLIENT_SECRET",
                    (secret,),
                )
            if certificate_path:
                credential = CertificateCredential(
                    tenant_id, client_id, certificate_path=certificate_path, password=password, **common
                )
                return DeployerCredential(
                    credential, "certificate from AZURE_CLIENT_CERTIFICATE_PATH", (password,) if password else ()
                )
            raise CredentialError(
                "credential 'environment' needs AZURE_CLIENT_SECRET, or AZURE_CLIENT_CERTIFICATE_PATH (with "
                "AZURE_CLIENT_CERTIFICATE_PASSWORD if its key is encrypted), in the environment of the "
                "process that runs Pulumi"
            )
        if kind == "managed_identity":
            options = {key: value for key, value in azure_core_options.items() if key == "transport"}
            return DeployerCredential(
                ManagedIdentityCredential(client_id=client_id, **options), f"managed identity {client_id}"
            )
        if kind == "azure_cli":
            # A subprocess, not HTTP: bounded by its own timeout.
            return DeployerCredential(
                AzureCliCredential(tenant_id=tenant_id, process_timeout=max(int(process_timeout), 1)),
                f"Azure CLI login for tenant {tenant_id}",
            )
    except CredentialError:
        raise
    except Exception as error:  # noqa: BLE001 - e.g. an unreadable certificate; never chain its text
        text = " ".join(str(error).split())
        for value in (secret, password):
            if value:
                text = text.replace(value, "[redacted]")
        raise CredentialError(f"could not set up credential {kind!r}: {text[:400]}") from None
    raise CredentialError(f"unknown credential kind {kind!r}; expected one of {', '.join(CREDENTIAL_KINDS)}")
