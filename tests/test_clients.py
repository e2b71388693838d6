"""The shared clients: the deploying identity's credential and databricks-sdk on it, against loopback fakes."""

from __future__ import annotations

import logging

import pytest
from databricks.sdk.errors import PermissionDenied

from clients.databricks import RedirectRefused, last_status, workspace_client
from clients.identity import (
    DATABRICKS_SCOPE,
    MANAGEMENT_SCOPES,
    RESOURCE_MANAGER_ENDPOINTS,
    CredentialError,
    EntraTokens,
    deployer_credential,
    identities_at_hand,
    known_authority_hosts,
    management_scope_for,
    resource_manager_endpoint_for,
)
from clients.redaction import redact


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


def test_a_redirect_is_refused_and_the_management_token_never_follows_it(fake_cloud):
    from tests.fakes import Fault

    elsewhere = f"{fake_cloud.entra.authority}/collect"
    fake_cloud.databricks.inject("list", Fault(status=307, headers=(("Location", elsewhere),)))
    client = workspace_client(
        fake_cloud.databricks.url, credential_for(fake_cloud),
        workspace_resource_id=fake_cloud.workspace_resource_id, authority_host=fake_cloud.entra.authority,
    )
    with pytest.raises(RedirectRefused) as raised:
        list(client.tokens.list())
    assert raised.value.status == 307 and raised.value.location == elsewhere
    assert [r for r in fake_cloud.entra.requests if r.path == "/collect"] == [], "nothing was sent there"
    assert last_status() == 307


def test_other_databricks_auth_settings_in_the_environment_do_not_get_in_the_way(fake_cloud, monkeypatch):
    # A user's shell may hold a PAT for the Databricks CLI and the ARM_* variables for azure-native.
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi" + "0" * 32)
    monkeypatch.setenv("ARM_CLIENT_SECRET", fake_cloud.client_secret)
    monkeypatch.setenv("ARM_CLIENT_ID", fake_cloud.client_id)
    client = workspace_client(
        fake_cloud.databricks.url, credential_for(fake_cloud),
        workspace_resource_id=fake_cloud.workspace_resource_id, authority_host=fake_cloud.entra.authority,
    )
    assert list(client.tokens.list()) == []


def test_an_older_workspace_without_discovery_is_probed_once_without_a_warning(fake_cloud, caplog):
    caplog.set_level(logging.WARNING)
    workspace_client(fake_cloud.databricks.url, credential_for(fake_cloud), authority_host=fake_cloud.entra.authority)
    assert fake_cloud.databricks.count("discovery") == 1
    assert [r for r in caplog.records if r.name.startswith("databricks")] == []


def test_entra_tokens_ask_once_per_scope_and_register_every_token_for_redaction(fake_cloud):
    tokens = EntraTokens(
        "environment", tenant_id=fake_cloud.tenant_id, client_id=fake_cloud.client_id,
        authority_host=fake_cloud.entra.authority,
    )
    first, again = tokens(DATABRICKS_SCOPE), tokens(DATABRICKS_SCOPE)
    assert first == again and tokens.requests == {DATABRICKS_SCOPE: 1}
    assert redact(f"header {first}") == "header [redacted]"
    assert tokens.description == "client secret from AZURE_CLIENT_SECRET"


def test_entra_tokens_fall_back_to_an_identity_at_hand_only_when_asked(fake_cloud, monkeypatch):
    other_id, other_secret = fake_cloud.new_principal()
    monkeypatch.setenv("AZURE_CLIENT_SECRET", other_secret)
    monkeypatch.setenv("AZURE_CLIENT_ID", other_id)
    options = {
        "tenant_id": fake_cloud.tenant_id, "client_id": fake_cloud.client_id,
        "authority_host": fake_cloud.entra.authority,
    }
    with pytest.raises(CredentialError, match="AADSTS7000215"):
        EntraTokens("environment", **options)(DATABRICKS_SCOPE)
    fallbacks = identities_at_hand(fake_cloud.tenant_id)
    token = EntraTokens("environment", **options, fallbacks=fallbacks)(DATABRICKS_SCOPE)
    assert fake_cloud.entra.issued(token).client_id == other_id


@pytest.mark.parametrize(
    ("environ", "kinds"),
    [
        ({}, ["azure_cli"]),
        ({"AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}, ["environment", "azure_cli"]),
        ({"AZURE_CLIENT_SECRET": "s"}, ["azure_cli"]),
        ({"ARM_USE_MSI": "true", "ARM_CLIENT_ID": "m"}, ["managed_identity", "azure_cli"]),
        ({"IDENTITY_ENDPOINT": "http://x"}, ["managed_identity", "azure_cli"]),
    ],
)
def test_identities_at_hand_are_the_ones_the_environment_offers(environ, kinds):
    found = identities_at_hand("tenant", environ)
    assert [identity.kind for identity in found] == kinds
    assert all(identity.tenant_id == "tenant" for identity in found)


def test_any_process_that_builds_a_credential_redacts_azure_identitys_log_lines():
    # The trigger provider and the ops commands build credentials too: their azure-identity WARNING lines
    # (which quote what Entra ID answered) must be as clean as the PAT provider's. A fresh process, so that
    # nothing another test installed counts.
    import base64
    import json
    import subprocess
    import sys
    from pathlib import Path

    header = base64.urlsafe_b64encode(json.dumps({"typ": "JWT", "alg": "RS256"}).encode()).decode().rstrip("=")
    token = f"{header}.{'a' * 40}.{'b' * 40}"
    script = (
        "import logging, sys\n"
        "from clients.identity import deployer_credential\n"
        "deployer_credential('environment', tenant_id='t', client_id='c', authority_host='https://127.0.0.1:9',\n"
        "                    environ={'AZURE_CLIENT_SECRET': 'client-secret-value-0123456789'})\n"
        "logging.basicConfig(stream=sys.stderr)\n"
        "logging.getLogger('azure.identity._internal.get_token_mixin').warning(\n"
        f"    'get_token failed: Content: %s and client-secret-value-0123456789', {token!r})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
        text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "get_token failed" in done.stderr
    assert token[:20] not in done.stderr and "client-secret-value" not in done.stderr, done.stderr
