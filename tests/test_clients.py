"""The shared clients: the deploying identity's credential and databricks-sdk on it, against loopback fakes."""

from __future__ import annotations

import pytest
from databricks.sdk.errors import PermissionDenied

from clients.databricks import workspace_client
from clients.identity import (
    DATABRICKS_SCOPE,
    MANAGEMENT_SCOPES,
    RESOURCE_MANAGER_ENDPOINTS,
    CredentialError,
    deployer_credential,
    known_authority_hosts,
    management_scope_for,
    resource_manager_endpoint_for,
)


def credential_for(cloud, **environ):
    return deployer_credential(
        "environment",
        tenant_id=cloud.tenant_id,
        client_id=cloud.client_id,
        authority_host=cloud.entra.authority,
        environ=environ or {"AZURE_CLIENT_SECRET": cloud.client_secret},
    )


def test_environment_credential_gets_entra_tokens_for_the_service_principal(fake_cloud):
    built = credential_for(fake_cloud)
    token = built.credential.get_token(DATABRICKS_SCOPE).token
    issued = fake_cloud.entra.issued(token)
    assert issued is not None and issued.client_id == fake_cloud.client_id
    assert built.secrets == (fake_cloud.client_secret,), "the secret must be known to callers that redact"
    assert fake_cloud.client_secret not in repr(built)


def test_environment_credential_without_secret_or_certificate_names_the_variables(fake_cloud):
    with pytest.raises(CredentialError) as caught:
        deployer_credential("environment", tenant_id=fake_cloud.tenant_id, client_id=fake_cloud.client_id,
                            environ={})
    assert "AZURE_CLIENT_SECRET" in str(caught.value) and "AZURE_CLIENT_CERTIFICATE_PATH" in str(caught.value)


def test_unknown_credential_kind_lists_the_kinds():
    with pytest.raises(CredentialError, match="environment, managed_identity, azure_cli"):
        deployer_credential("password", tenant_id="t", client_id="c", environ={})


def test_unreadable_certificate_error_never_carries_its_password(tmp_path):
    certificate = tmp_path / "broken.pem"
    certificate.write_text("not a certificate")
    password = "certificate-password-that-must-stay-hidden"
    with pytest.raises(CredentialError) as caught:
        deployer_credential(
            "environment", tenant_id="00000000-0000-0000-0000-000000000001", client_id="c",
            environ={"AZURE_CLIENT_CERTIFICATE_PATH": str(certificate), "AZURE_CLIENT_CERTIFICATE_PASSWORD": password},
        )
    assert password not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__, "a chained error could carry it"


@pytest.mark.parametrize("host", ["login.microsoftonline.us", "https://login.chinacloudapi.cn/", None])
def test_each_cloud_gets_its_own_arm_audience_and_endpoint(host):
    expected_host = (host or "login.microsoftonline.com").removeprefix("https://").rstrip("/")
    assert management_scope_for(host) == MANAGEMENT_SCOPES[expected_host]
    assert resource_manager_endpoint_for(host) == RESOURCE_MANAGER_ENDPOINTS[expected_host]
    assert set(MANAGEMENT_SCOPES) == set(RESOURCE_MANAGER_ENDPOINTS) <= known_authority_hosts()


def test_databricks_sdk_admits_a_contributor_through_the_management_headers(fake_cloud):
    client = workspace_client(
        fake_cloud.databricks.url, credential_for(fake_cloud),
        workspace_resource_id=fake_cloud.workspace_resource_id, authority_host=fake_cloud.entra.authority,
    )
    assert list(client.tokens.list()) == []
    [request] = [r for r in fake_cloud.databricks.requests if r.path.startswith("/api/")]
    assert request.status == 200 and request.management_headers
    assert request.principal == fake_cloud.client_id


def test_databricks_sdk_without_the_workspace_id_is_refused_for_a_non_user(fake_cloud):
    client = workspace_client(fake_cloud.databricks.url, credential_for(fake_cloud),
                              authority_host=fake_cloud.entra.authority)
    with pytest.raises(PermissionDenied, match="not a user of this workspace"):
        list(client.tokens.list())
    assert all(not request.management_headers for request in fake_cloud.databricks.requests)
