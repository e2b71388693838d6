"""The Token API client against loopback fakes of Entra ID and Databricks (real HTTPS and azure-identity)."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynamic_providers.token_api import (
    DATABRICKS_SCOPE,
    MANAGEMENT_SCOPES,
    CredentialError,
    EntraTokens,
    HttpPolicy,
    TokenApiClient,
    TokenApiError,
    entra_tokens,
    known_authority_hosts,
    management_scope_for,
)
from tests.fakes import DATABRICKS_AUDIENCE, MANAGEMENT_AUDIENCE, FakeCloud, Fault, running_fake_cloud
from tests.fakes.az import install_fake_az
from tests.fakes.tls import TlsMaterial, make_client_certificate, make_tls_material

FAST = HttpPolicy(
    connect_timeout=2.0,
    read_timeout=0.5,
    max_retries=3,
    backoff_factor=0.01,
    backoff_max=0.05,
    retry_after_cap=1.0,
    time_budget=10.0,
)
NINETY_DAYS = 90 * 86400
# A workspace (or Entra ID) that accepts connections and then never answers: far longer than any test waits.
STALL = 60.0
# Timeouts as long as production's relative to a small operation budget, so only the budget can end a stall.
STALLED = HttpPolicy(
    connect_timeout=5.0,
    read_timeout=20.0,
    backoff_factor=0.01,
    backoff_max=0.05,
    time_budget=2.0,
    cleanup_reserve=0.7,
)
# Slack for thread scheduling and TLS on a busy machine; a regression (a fresh budget per call, an uncapped
# read timeout) would overshoot by whole read timeouts, i.e. by 20 s.
BUDGET_MARGIN = 1.0
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
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def cloud(tls: TlsMaterial, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloud]:
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with running_fake_cloud(tmp_path, tls) as fake_cloud:
        for name, value in fake_cloud.environ().items():
            monkeypatch.setenv(name, value)
        yield fake_cloud


def tokens_for(cloud: FakeCloud, *, policy: HttpPolicy = FAST, **environ: str) -> EntraTokens:
    return entra_tokens(
        "environment",
        tenant_id=cloud.tenant_id,
        client_id=cloud.client_id,
        authority_host=cloud.entra.authority,
        environ=environ or {"AZURE_CLIENT_SECRET": cloud.client_secret},
        connect_timeout=policy.connect_timeout,
        read_timeout=policy.read_timeout,
    )


def client_for(
    cloud: FakeCloud,
    *,
    with_resource_id: bool = True,
    policy: HttpPolicy = FAST,
    tokens: EntraTokens | None = None,
) -> TokenApiClient:
    return TokenApiClient(
        cloud.databricks.url,
        tokens or tokens_for(cloud),
        workspace_resource_id=cloud.workspace_resource_id if with_resource_id else None,
        policy=policy,
    )


def live_ids(cloud: FakeCloud) -> set[str]:
    return {token.token_id for token in cloud.databricks.live_tokens()}


# -- the happy path -------------------------------------------------------------------------------


def test_created_token_expires_after_the_requested_lifetime_and_carries_the_comment(cloud: FakeCloud):
    with client_for(cloud) as client:
        created = client.create_token(lifetime_seconds=NINETY_DAYS, comment="pulumi p/s/pat")

    fake = cloud.databricks.tokens[created.info.token_id]
    assert created.token_value == fake.token_value
    assert fake.expiry_time - fake.creation_time == NINETY_DAYS * 1000, "the token must expire"
    assert fake.comment == "pulumi p/s/pat"
    assert created.info.expiry_time is not None
    assert int((created.info.expiry_time - created.info.creation_time).total_seconds()) == NINETY_DAYS


def test_a_token_without_lifetime_is_never_requested(cloud: FakeCloud):
    with client_for(cloud) as client, pytest.raises(ValueError, match="lifetime_seconds"):
        client.create_token(lifetime_seconds=0, comment="never expires")
    assert cloud.databricks.count("create") == 0


def test_find_sees_live_tokens_and_not_revoked_ones(cloud: FakeCloud):
    with client_for(cloud) as client:
        kept = client.create_token(lifetime_seconds=3600, comment="kept")
        revoked = client.create_token(lifetime_seconds=3600, comment="revoked")
        cloud.databricks.revoke(revoked.info.token_id)

        assert client.find_token(kept.info.token_id) == kept.info
        assert client.find_token(revoked.info.token_id) is None
        assert [info.token_id for info in client.list_tokens()] == [kept.info.token_id]


@pytest.mark.parametrize("gone_status", [404, 400])
def test_delete_revokes_and_deleting_a_gone_token_is_success(cloud: FakeCloud, gone_status: int):
    cloud.databricks.gone_status = gone_status
    with client_for(cloud) as client:
        created = client.create_token(lifetime_seconds=3600, comment="to delete")
        assert client.delete_token(created.info.token_id) is True
        assert live_ids(cloud) == set()
        assert client.delete_token(created.info.token_id) is False


# -- admission through the management token --------------------------------------------------------


def test_principal_not_yet_a_workspace_user_is_admitted_with_the_resource_id(cloud: FakeCloud):
    assert cloud.client_id not in cloud.databricks.users
    with client_for(cloud, with_resource_id=True) as client:
        client.list_tokens()
        client.create_token(lifetime_seconds=3600, comment="admitted")

    assert all(r.management_headers for r in cloud.databricks.requests), "every call carries both headers"
    assert cloud.client_id in cloud.databricks.users
    assert len(cloud.entra.token_requests(MANAGEMENT_AUDIENCE)) == 1, "the management token is reused"


def test_without_resource_id_no_management_headers_are_sent_and_no_management_token_is_requested(
    cloud: FakeCloud,
):
    cloud.databricks.users.add(cloud.client_id)
    with client_for(cloud, with_resource_id=False) as client:
        client.create_token(lifetime_seconds=3600, comment="plain")
        client.list_tokens()

    for request in cloud.databricks.requests:
        assert "x-databricks-azure-workspace-resource-id" not in request.header_names
        assert "x-databricks-azure-sp-management-token" not in request.header_names
    assert cloud.entra.token_requests(MANAGEMENT_AUDIENCE) == []
    assert len(cloud.entra.token_requests(DATABRICKS_AUDIENCE)) == 1


def test_refusal_of_a_non_user_says_status_code_and_how_to_be_admitted(cloud: FakeCloud):
    with client_for(cloud, with_resource_id=False) as client, pytest.raises(TokenApiError) as raised:
        client.list_tokens()
    text = str(raised.value)
    assert "HTTP 403 PERMISSION_DENIED" in text
    assert "is not a user of this workspace" in text
    assert "workspace_resource_id" in text
    assert raised.value.status == 403 and raised.value.error_code == "PERMISSION_DENIED"


# -- retries, throttling, timeouts ------------------------------------------------------------------


def test_throttled_create_waits_for_retry_after_then_succeeds(cloud: FakeCloud):
    cloud.databricks.inject("create", Fault(status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after="1"))
    with client_for(cloud) as client:
        started = time.monotonic()
        created = client.create_token(lifetime_seconds=3600, comment="throttled")
        waited = time.monotonic() - started

    assert waited >= 0.9, "Retry-After: 1 must be honoured"
    assert cloud.databricks.count("create") == 2
    assert live_ids(cloud) == {created.info.token_id}, "a refused create mints nothing, the retry mints one"


def test_an_hour_long_retry_after_is_capped(cloud: FakeCloud):
    cloud.databricks.inject(
        "list", Fault(status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after="3600")
    )
    policy = HttpPolicy(read_timeout=2.0, max_retries=2, backoff_factor=0.01, retry_after_cap=0.2)
    with client_for(cloud, policy=policy) as client:
        started = time.monotonic()
        client.list_tokens()
    assert time.monotonic() - started < 5
    assert cloud.databricks.count("list") == 2


@pytest.mark.parametrize("endpoint", ["create", "list", "delete"])
def test_unavailable_503_is_retried_then_succeeds(cloud: FakeCloud, endpoint: str):
    with client_for(cloud) as client:
        created = client.create_token(lifetime_seconds=3600, comment="x") if endpoint != "create" else None
        cloud.databricks.inject(endpoint, Fault(status=503), Fault(status=503))
        if endpoint == "create":
            created = client.create_token(lifetime_seconds=3600, comment="x")
            assert live_ids(cloud) == {created.info.token_id}
        elif endpoint == "list":
            assert created is not None and client.find_token(created.info.token_id) == created.info
        else:
            assert created is not None and client.delete_token(created.info.token_id) is True
            assert live_ids(cloud) == set()
    assert cloud.databricks.count(endpoint) == 3


def test_unparseable_retry_after_falls_back_to_backoff(cloud: FakeCloud):
    cloud.databricks.inject(
        "list", Fault(status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after="soon")
    )
    with client_for(cloud) as client:
        assert client.list_tokens() == []
    assert cloud.databricks.count("list") == 2


def test_permanent_failure_after_retries_names_status_error_code_and_message(cloud: FakeCloud):
    cloud.databricks.inject(
        "list",
        *[Fault(status=503, error_code="TEMPORARILY_UNAVAILABLE", message="Workspace is restarting")] * 10,
    )
    with client_for(cloud) as client, pytest.raises(TokenApiError) as raised:
        client.list_tokens()

    text = str(raised.value)
    assert "token/list" in text
    assert "HTTP 503" in text and "TEMPORARILY_UNAVAILABLE" in text and "Workspace is restarting" in text
    assert "gave up after 4 attempts" in text
    assert cloud.databricks.count("list") == 1 + FAST.max_retries
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_retries_stop_at_the_time_budget_even_with_retries_left(cloud: FakeCloud):
    cloud.databricks.inject(
        "list", *[Fault(status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after="1")] * 50
    )
    policy = HttpPolicy(read_timeout=2.0, max_retries=40, retry_after_cap=0.3, time_budget=1.0)
    with client_for(cloud, policy=policy) as client, pytest.raises(TokenApiError, match="HTTP 429") as raised:
        started = time.monotonic()
        client.list_tokens()
    assert time.monotonic() - started < 3
    assert 2 <= cloud.databricks.count("list") <= 5, "retried, but stopped by the budget, not the count"
    assert "REQUEST_LIMIT_EXCEEDED" in str(raised.value)


def test_a_reply_slower_than_the_read_timeout_fails_with_a_timeout_error(cloud: FakeCloud):
    policy = HttpPolicy(read_timeout=0.2, max_retries=2, backoff_factor=0.01)
    cloud.databricks.inject("list", *[Fault(delay=0.6)] * 3)
    with client_for(cloud, policy=policy) as client, pytest.raises(TokenApiError) as raised:
        client.list_tokens()
    assert "no reply within the 0.2s read timeout" in str(raised.value)
    assert cloud.databricks.count("list") == 3, "list is idempotent: timeouts are retried"


def test_one_slow_reply_to_list_is_retried(cloud: FakeCloud):
    cloud.databricks.inject("list", Fault(delay=1.0))
    with client_for(cloud) as client:
        assert client.list_tokens() == []
    assert cloud.databricks.count("list") == 2


def test_a_redirect_is_an_error_that_questions_the_workspace_url(cloud: FakeCloud):
    login_page = "https://login.microsoftonline.com/common/oauth2/authorize"
    cloud.databricks.inject("list", Fault(status=302, headers=(("Location", login_page),)))
    with client_for(cloud) as client, pytest.raises(TokenApiError) as raised:
        client.list_tokens()
    assert f"redirected (HTTP 302) to {login_page}" in str(raised.value)
    assert "workspace_url" in str(raised.value)


def test_unreachable_workspace_fails_clearly(cloud: FakeCloud):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    tokens = tokens_for(cloud)
    with TokenApiClient(f"https://127.0.0.1:{closed_port}", tokens, policy=FAST) as client:
        with pytest.raises(TokenApiError, match="could not connect"):
            client.list_tokens()


# -- one time budget per operation ------------------------------------------------------------------


def test_stalled_create_and_stalled_clean_up_fail_within_the_operation_budget_naming_the_comment(
    cloud: FakeCloud,
):
    # token/create mints the token and never answers; the token/list of the clean-up never answers either.
    cloud.databricks.inject("create", Fault(delay=STALL))
    cloud.databricks.inject("list", *[Fault(delay=STALL)] * 5)
    with client_for(cloud, policy=STALLED) as client, pytest.raises(TokenApiError) as raised:
        started = time.monotonic()
        client.create_token(lifetime_seconds=3600, comment="pulumi p/s/stalled")
    elapsed = time.monotonic() - started

    assert elapsed < STALLED.time_budget + BUDGET_MARGIN, f"took {elapsed:.1f}s"
    text = str(raised.value)
    assert text.startswith("Databricks token/create on ")
    assert "no reply before the operation's time budget ran out (time_budget 2s)" in text
    assert "a token with comment 'pulumi p/s/stalled' may have been created" in text
    assert "revoke it in the workspace's token list" in text
    assert cloud.databricks.count("create") == 1 and cloud.databricks.count("list") >= 1, "clean-up was tried"
    assert cloud.databricks.count("delete") == 0
    assert len(live_ids(cloud)) == 1, "the token the message warns about does exist"


def test_create_stalled_to_its_deadline_still_revokes_its_token_in_the_reserved_time(cloud: FakeCloud):
    cloud.databricks.inject("create", Fault(delay=STALL))
    with client_for(cloud, policy=STALLED) as client, pytest.raises(TokenApiError) as raised:
        started = time.monotonic()
        client.create_token(lifetime_seconds=3600, comment="stalled create")
    elapsed = time.monotonic() - started

    assert elapsed < STALLED.time_budget + BUDGET_MARGIN, f"took {elapsed:.1f}s"
    assert "time budget ran out" in str(raised.value) and "has been revoked" in str(raised.value)
    assert live_ids(cloud) == set()


def test_stalled_entra_id_fails_within_the_operation_budget_and_databricks_is_not_called(cloud: FakeCloud):
    cloud.entra.token_delay = STALL
    policy = HttpPolicy(connect_timeout=5.0, read_timeout=20.0, backoff_factor=0.01, time_budget=1.0)
    tokens = tokens_for(cloud, policy=policy)  # Entra ID's own read timeout (20 s) cannot end the stall
    with client_for(cloud, policy=policy, tokens=tokens) as client, pytest.raises(CredentialError) as raised:
        started = time.monotonic()
        client.list_tokens()
    elapsed = time.monotonic() - started

    assert elapsed < policy.time_budget + BUDGET_MARGIN, f"took {elapsed:.1f}s"
    text = str(raised.value)
    assert "could not get an Entra ID token" in text and "time budget ran out" in text
    assert cloud.client_secret not in text
    assert cloud.databricks.count() == 0


# -- no orphaned tokens -----------------------------------------------------------------------------


def test_create_is_not_retried_after_a_read_timeout_and_the_token_it_minted_is_revoked(cloud: FakeCloud):
    # The fake mints the token, then answers too late: the reply is lost, not the request.
    cloud.databricks.inject("create", Fault(delay=1.0))
    with client_for(cloud) as client, pytest.raises(TokenApiError) as raised:
        client.create_token(lifetime_seconds=3600, comment="slow create")

    text = str(raised.value)
    assert "no reply within the 0.5s read timeout" in text
    assert "has been revoked" in text
    assert cloud.databricks.count("create") == 1, "a second create could mint a second token"
    assert live_ids(cloud) == set()


def test_malformed_json_on_create_revokes_the_new_token(cloud: FakeCloud):
    cloud.databricks.inject("create", Fault(body=lambda reply: b'{"token_value": "trunc'))
    with client_for(cloud) as client, pytest.raises(TokenApiError) as raised:
        client.create_token(lifetime_seconds=3600, comment="malformed")

    text = str(raised.value)
    assert "not JSON" in text and "id is unknown from the reply" in text
    assert "has been revoked" in text
    assert len(cloud.databricks.tokens) == 1 and live_ids(cloud) == set()


def test_reply_without_token_value_revokes_the_new_token_by_its_id(cloud: FakeCloud):
    cloud.databricks.inject(
        "create", Fault(body=lambda reply: json.dumps({"token_info": reply["token_info"]}).encode())
    )
    with client_for(cloud) as client, pytest.raises(TokenApiError, match="token_value is missing") as raised:
        client.create_token(lifetime_seconds=3600, comment="no value")

    (token_id,) = cloud.databricks.tokens
    assert f"the new token {token_id} has been revoked" in str(raised.value)
    assert live_ids(cloud) == set()


def test_reply_claiming_a_token_that_never_expires_revokes_it(cloud: FakeCloud):
    def never_expires(reply: dict) -> bytes:
        return json.dumps({**reply, "token_info": {**reply["token_info"], "expiry_time": -1}}).encode()

    cloud.databricks.inject("create", Fault(body=never_expires))
    with client_for(cloud) as client, pytest.raises(TokenApiError, match="never expires"):
        client.create_token(lifetime_seconds=3600, comment="eternal")
    assert live_ids(cloud) == set()


def test_gateway_error_after_the_token_was_minted_is_not_retried_and_the_token_is_revoked(cloud: FakeCloud):
    cloud.databricks.inject(
        "create", Fault(status=502, error_code="BAD_GATEWAY", message="upstream", process=True)
    )
    with client_for(cloud) as client, pytest.raises(TokenApiError) as raised:
        client.create_token(lifetime_seconds=3600, comment="gateway")

    assert "HTTP 502 BAD_GATEWAY" in str(raised.value) and "has been revoked" in str(raised.value)
    assert cloud.databricks.count("create") == 1
    assert live_ids(cloud) == set()


def test_orphan_cleanup_never_revokes_an_older_token_with_the_same_comment(cloud: FakeCloud):
    with client_for(cloud) as client:
        older = client.create_token(lifetime_seconds=3600, comment="same comment")
        # Created a minute ago, e.g. the token this replacement supersedes.
        cloud.databricks.tokens[older.info.token_id].creation_time -= 60_000
        cloud.databricks.inject("create", Fault(status=504, error_code="GATEWAY_TIMEOUT", message="slow"))
        with pytest.raises(TokenApiError, match="nothing to revoke"):
            client.create_token(lifetime_seconds=3600, comment="same comment")
    assert live_ids(cloud) == {older.info.token_id}


# -- credentials --------------------------------------------------------------------------------------


def test_wrong_client_secret_fails_with_the_entra_error_and_without_the_secret(cloud: FakeCloud):
    wrong_secret = "wrong-" + cloud.client_secret[::-1]
    tokens = tokens_for(cloud, AZURE_CLIENT_SECRET=wrong_secret)
    with client_for(cloud, tokens=tokens) as client, pytest.raises(CredentialError) as raised:
        client.list_tokens()
    text = str(raised.value)
    assert "AADSTS7000215" in text and "client secret from AZURE_CLIENT_SECRET" in text
    assert wrong_secret not in text and cloud.client_secret not in text
    assert cloud.databricks.count() == 0


def test_environment_credential_without_secret_or_certificate_names_the_variables(cloud: FakeCloud):
    with pytest.raises(CredentialError) as raised:
        entra_tokens(
            "environment", tenant_id=cloud.tenant_id, client_id=cloud.client_id, environ={"PATH": "/usr/bin"}
        )
    text = str(raised.value)
    assert "AZURE_CLIENT_SECRET" in text and "AZURE_CLIENT_CERTIFICATE_PATH" in text
    assert "AZURE_CLIENT_CERTIFICATE_PASSWORD" in text


def test_certificate_from_the_environment_authenticates_with_a_signed_assertion(
    cloud: FakeCloud, tmp_path: Path
):
    password = "pw-" + cloud.client_secret[:12]
    certificate = make_client_certificate(tmp_path / "principal", password=password)
    cloud.entra.register_certificate(cloud.client_id, certificate.certificate)
    tokens = tokens_for(
        cloud,
        AZURE_CLIENT_CERTIFICATE_PATH=str(certificate.pem_path),
        AZURE_CLIENT_CERTIFICATE_PASSWORD=password,
    )
    with client_for(cloud, tokens=tokens) as client:
        created = client.create_token(lifetime_seconds=3600, comment="by certificate")
    assert live_ids(cloud) == {created.info.token_id}


def test_unreadable_certificate_fails_with_a_credential_error(cloud: FakeCloud, tmp_path: Path):
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate")
    with pytest.raises(CredentialError, match="could not set up credential 'environment'"):
        tokens_for(cloud, AZURE_CLIENT_CERTIFICATE_PATH=str(broken))


def test_managed_identity_credential_gets_tokens_from_the_identity_endpoint(
    cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch
):
    cloud.entra.register_managed_identity(cloud.client_id)
    monkeypatch.setenv("IDENTITY_ENDPOINT", cloud.entra.managed_identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", cloud.entra.managed_identity_header)
    tokens = entra_tokens("managed_identity", tenant_id=cloud.tenant_id, client_id=cloud.client_id)
    with client_for(cloud, tokens=tokens) as client:
        client.create_token(lifetime_seconds=3600, comment="by managed identity")
    assert {r.kind for r in cloud.entra.requests} == {"managed_identity"}
    assert {r.audience for r in cloud.entra.requests} == {DATABRICKS_AUDIENCE, MANAGEMENT_AUDIENCE}


def test_azure_cli_credential_uses_the_cli_login_for_the_tenant(
    cloud: FakeCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    install_fake_az(
        tmp_path / "bin",
        token_endpoint=f"{cloud.entra.authority}/{cloud.tenant_id}/oauth2/v2.0/token",
        tenant_id=cloud.tenant_id,
        client_id=cloud.client_id,
        client_secret=cloud.client_secret,
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    tokens = entra_tokens("azure_cli", tenant_id=cloud.tenant_id, client_id=cloud.client_id)
    with client_for(cloud, tokens=tokens) as client:
        client.create_token(lifetime_seconds=3600, comment="by azure cli")
    assert len(cloud.databricks.live_tokens()) == 1

    other_tenant = entra_tokens("azure_cli", tenant_id="contoso.onmicrosoft.com", client_id=cloud.client_id)
    with pytest.raises(CredentialError, match="AADSTS90002"):
        other_tenant.token(DATABRICKS_SCOPE)


def test_sovereign_clouds_get_their_own_management_audience():
    assert management_scope_for(None) == "https://management.core.windows.net/.default"
    assert management_scope_for("login.microsoftonline.us") == MANAGEMENT_SCOPES["login.microsoftonline.us"]
    assert (
        management_scope_for("https://login.chinacloudapi.cn/") == MANAGEMENT_SCOPES["login.chinacloudapi.cn"]
    )
    assert management_scope_for("https://127.0.0.1:8443") == "https://management.core.windows.net/.default"
    assert set(MANAGEMENT_SCOPES) <= known_authority_hosts()


# -- secrets stay secret ------------------------------------------------------------------------------


def test_secrets_appear_in_no_output_log_error_or_repr(
    cloud: FakeCloud, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
):
    caplog.set_level(logging.DEBUG)
    for name in ("azure", "msal", "urllib3", "dynamic_providers"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []
    tokens = tokens_for(cloud)
    with client_for(cloud, tokens=tokens) as client:
        created = client.create_token(lifetime_seconds=3600, comment="leak check")
        texts += [repr(created), repr(created.info), repr(client), repr(tokens), str(created)]
        cloud.databricks.inject("create", Fault(body=lambda reply: b"{" + json.dumps(reply).encode()))
        cloud.databricks.inject("list", *[Fault(status=500, message=f"echo {created.token_value}")] * 5)
        for failing in (
            lambda: client.create_token(lifetime_seconds=3600, comment="malformed"),
            client.list_tokens,
        ):
            with pytest.raises(TokenApiError) as raised:
                failing()
            texts += [str(raised.value), repr(raised.value)]
        client.delete_token(created.info.token_id)
    wrong = tokens_for(cloud, AZURE_CLIENT_SECRET=cloud.client_secret + "x")
    with pytest.raises(CredentialError) as raised:
        wrong.token(DATABRICKS_SCOPE)
    texts.append(str(raised.value))

    out, err = capfd.readouterr()
    secrets = cloud.secret_values()
    assert len(secrets) >= 5, "the check must cover the secret, AAD tokens and PATs"
    haystacks = {"stdout": out, "stderr": err, "log": caplog.text, "errors/reprs": "\n".join(texts)}
    for where, text in haystacks.items():
        leaked = [secret[:6] + "…" for secret in secrets if secret in text]
        assert not leaked, f"secret(s) {leaked} leaked into {where}"
    assert "[redacted]" in "\n".join(texts), "the echoed PAT was redacted, not dropped silently"
