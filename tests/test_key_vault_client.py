"""clients.key_vault against a loopback Key Vault data plane, with the real azure-keyvault-secrets client.

The fake speaks the service's 401 challenge protocol, and the client's own check that the challenge's resource
matches the vault's host stays on; tokens come from the fake Entra ID through azure-identity.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from clients.identity import deployer_credential
from clients.key_vault import VaultError, VaultPolicy, VaultSecrets
from tests.conftest import CREDENTIAL_VARIABLES
from tests.fakes.key_vault import SECRETS_OFFICER, VaultCloud, running_vault_cloud, service_error
from tests.fakes.server import Reply

VAULT = "kv-dbp-test"
FAST = VaultPolicy(time_budget=10.0, read_timeout=5.0, retry_total=1, retry_backoff_max=0.05, rbac_wait=0.0,
                   rbac_retry_interval=0.05)


@pytest.fixture
def cloud(tls_material, monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultCloud]:
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with running_vault_cloud(tls_material) as vault_cloud:
        for name, value in vault_cloud.environ().items():
            monkeypatch.setenv(name, value)
        yield vault_cloud


def secrets_of(cloud: VaultCloud, policy: VaultPolicy = FAST) -> VaultSecrets:
    credential = deployer_credential(
        "environment", tenant_id=cloud.tenant_id, client_id=cloud.client_id, authority_host=cloud.entra.authority,
        environ={"AZURE_CLIENT_SECRET": cloud.client_secret}, read_timeout=policy.read_timeout, retry_total=0,
    )
    return VaultSecrets(cloud.vault.url, credential, policy=policy, vault_name=VAULT)


def refusal(cloud: VaultCloud, operation, policy: VaultPolicy = FAST) -> str:
    with secrets_of(cloud, policy) as vault, pytest.raises(VaultError) as raised:
        operation(vault)
    error = raised.value
    assert error.__cause__ is None and (error.__suppress_context__ or error.__context__ is None), (
        "a chained error could carry a token"
    )
    return str(raised.value)


def assert_no_secret_in(text: str, cloud: VaultCloud, where: str) -> None:
    leaked = [value[:6] + "…" for value in cloud.secret_values() if value and value in text]
    assert not leaked, f"secret(s) {leaked} leaked into {where}"


def test_a_soft_deleted_name_is_recovered_then_written_with_the_new_value(cloud):
    cloud.vault.soft_delete("databricks-pool-general", "pool-id-before-removal")
    with secrets_of(cloud) as vault:
        written = vault.create("databricks-pool-general", "pool-id-now", content_type="Databricks instance pool id")

    assert written.recovered
    live = cloud.vault.live("databricks-pool-general")
    assert live is not None and live.value == "pool-id-now" and written.version == live.version
    operations = cloud.vault.operations()
    assert operations.index("recover") < operations.index("set"), f"recover must precede the write: {operations}"
    assert len(cloud.vault.secrets["databricks-pool-general"].versions) == 2, "the write is a new version"


def test_a_name_never_deleted_is_written_without_a_recover_call(cloud):
    expires = datetime(2027, 1, 31, tzinfo=UTC)
    with secrets_of(cloud) as vault:
        written = vault.create("databricks-pat", "dapi-new", content_type="Databricks personal access token",
                               expires_on=expires, tags={"stage": "test"})

    assert not written.recovered
    assert "recover" not in cloud.vault.operations()
    live = cloud.vault.live("databricks-pat")
    assert live is not None and live.value == "dapi-new"
    assert live.expires == int(expires.timestamp()) and live.tags == {"stage": "test"}


def test_a_name_deleted_between_the_check_and_the_write_is_recovered_and_written(cloud):
    cloud.vault.soft_delete("databricks-pat")
    # The first look finds nothing deleted (someone deletes it right after): the write conflicts (409).
    cloud.vault.inject("get_deleted", service_error(404, "SecretNotFound", "Deleted Secret not found"))
    with secrets_of(cloud) as vault:
        assert vault.create("databricks-pat", "dapi-new").recovered

    assert cloud.vault.live("databricks-pat").value == "dapi-new"


@pytest.mark.parametrize(
    ("recovery_level", "expected"),
    [("Recoverable", "Purge protection is on"), ("Recoverable+Purgeable", "az keyvault secret purge --vault-name")],
)
def test_a_caller_that_may_not_recover_gets_the_exact_recover_command(cloud, recovery_level, expected):
    cloud.vault.recovery_level = recovery_level
    cloud.vault.grant(cloud.client_id, SECRETS_OFFICER - {"recover"})
    cloud.vault.soft_delete("databricks-pool-etl", days_ago=10)

    message = refusal(cloud, lambda vault: vault.create("databricks-pool-etl", "pool-id-now"))

    assert f"az keyvault secret recover --vault-name {VAULT} --name databricks-pool-etl" in message
    assert "soft-deleted" in message and expected in message
    assert "set" not in cloud.vault.operations(), "nothing is written over a name that is still deleted"
    assert_no_secret_in(message, cloud, "the refusal")


def test_the_vault_firewall_refusal_names_the_vault_and_the_address_to_allow(cloud):
    cloud.vault.firewall_denies = True
    cloud.vault.client_address = "198.51.100.23"

    message = refusal(cloud, lambda vault: vault.create("databricks-pat", "dapi-new"))

    assert f"Key Vault {VAULT}" in message and "198.51.100.23" in message
    assert "keyVaultAllowedIpRanges" in message
    assert_no_secret_in(message, cloud, "the refusal")


def test_deleting_behind_the_firewall_is_refused_with_the_same_advice(cloud):
    cloud.vault.put("databricks-pat", "dapi-old")
    cloud.vault.firewall_denies = True

    message = refusal(cloud, lambda vault: vault.delete("databricks-pat"))

    assert "deleting secret 'databricks-pat'" in message and "keyVaultAllowedIpRanges" in message
    cloud.vault.firewall_denies = False
    assert cloud.vault.live("databricks-pat") is not None, "a refused delete leaves the secret in place"


def test_a_role_assignment_still_propagating_is_waited_out_before_writing(cloud):
    cloud.vault.propagating = 3
    patient = VaultPolicy(**{**FAST.__dict__, "rbac_wait": 30.0, "rbac_retry_interval": 0.05})
    with secrets_of(cloud, patient) as vault:
        vault.create("databricks-pat", "dapi-new")

    assert cloud.vault.live("databricks-pat").value == "dapi-new"
    refused = [r for r in cloud.vault.requests if r.status == 403]
    assert len(refused) == 3


def test_a_missing_data_plane_role_names_the_role_and_the_recover_command(cloud):
    cloud.vault.grant(cloud.client_id, frozenset())
    waiting = VaultPolicy(**{**FAST.__dict__, "rbac_wait": 0.3, "rbac_retry_interval": 0.05})

    message = refusal(cloud, lambda vault: vault.create("databricks-pat", "dapi-new"), waiting)

    assert "Key Vault Secrets Officer" in message and "Still refused after waiting" in message
    assert "run `pulumi up` again in a few minutes" in message
    assert f"az keyvault secret recover --vault-name {VAULT} --name databricks-pat" in message
    assert_no_secret_in(message, cloud, "the refusal")


def test_a_stalled_vault_fails_within_the_operation_time_budget(cloud):
    cloud.vault.delay = 30.0
    stalled = VaultPolicy(**{**FAST.__dict__, "time_budget": 1.0, "read_timeout": 20.0})

    started = time.monotonic()
    message = refusal(cloud, lambda vault: vault.create("databricks-pat", "dapi-new"), stalled)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0 + 2.0, f"took {elapsed:.1f}s with a 1 s budget"
    assert f"Key Vault {VAULT}" in message and "within 1 s" in message


def test_a_stalled_entra_id_counts_against_the_same_budget(cloud):
    cloud.entra.token_delay = 30.0
    stalled = VaultPolicy(**{**FAST.__dict__, "time_budget": 1.0, "read_timeout": 20.0})

    started = time.monotonic()
    message = refusal(cloud, lambda vault: vault.read("databricks-pat"), stalled)

    assert time.monotonic() - started < 1.0 + 2.0
    assert "Entra ID included" in message


def test_a_recovery_that_never_completes_is_reported_within_the_budget(cloud):
    cloud.vault.soft_delete("databricks-pat")
    cloud.vault.recovery_polls = -1
    short = VaultPolicy(**{**FAST.__dict__, "time_budget": 3.0})

    started = time.monotonic()
    message = refusal(cloud, lambda vault: vault.create("databricks-pat", "dapi-new"), short)

    assert time.monotonic() - started < 3.0 + 2.0
    assert "accepted recovering" in message and "databricks-pat" in message


def test_delete_soft_deletes_and_a_secret_already_gone_is_not_an_error(cloud):
    cloud.vault.put("databricks-pool-general", "pool-id")
    with secrets_of(cloud) as vault:
        assert vault.delete("databricks-pool-general") is True
        assert vault.delete("databricks-pool-general") is False

    assert cloud.vault.is_deleted("databricks-pool-general")


def test_read_reports_a_secret_deleted_out_of_band_as_gone(cloud):
    cloud.vault.put("databricks-pat", "dapi-old", contentType="Databricks personal access token")
    with secrets_of(cloud) as vault:
        live = vault.read("databricks-pat")
        cloud.vault.soft_delete("databricks-pat")
        gone = vault.read("databricks-pat")

    assert live is not None and live.content_type == "Databricks personal access token"
    assert "dapi-old" not in repr(live), "the value stays out of reprs"
    assert gone is None


def test_no_secret_reaches_any_error_or_log_record(cloud, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    cloud.vault.soft_delete("databricks-pat", "dapi-deleted-value")
    with secrets_of(cloud) as vault:
        vault.create("databricks-pat", "dapi-written-value")
    cloud.vault.firewall_denies = True
    messages = [refusal(cloud, lambda vault: vault.create("databricks-pat", "dapi-refused-value"))]
    cloud.vault.firewall_denies = False
    cloud.vault.inject("set", *[service_error(500, "InternalError", "The service failed.")] * 2)
    messages.append(refusal(cloud, lambda vault: vault.create("databricks-pat", "dapi-failed-value")))

    assert "HTTP 500 InternalError" in messages[-1]
    candidates = [*cloud.secret_values(), "dapi-refused-value", "dapi-failed-value"]
    logged = "\n".join(record.getMessage() for record in caplog.records) + "\n".join(messages)
    leaked = [value[:6] + "…" for value in candidates if value in logged]
    assert not leaked, f"secret(s) {leaked} reached a log record or an error"


def test_a_challenge_naming_another_domain_gets_no_token(cloud):
    # The SDK's check: a vault at 127.0.0.1 may not ask for a token for vault.azure.net (nor a phishing host).
    cloud.vault.challenge_resource = "https://vault.azure.net"

    message = refusal(cloud, lambda vault: vault.create("databricks-pat", "dapi-new"))

    assert "does not match the requested domain" in message
    assert cloud.entra.token_requests() == [], "no token may be requested for a domain the vault is not in"


def test_a_managed_identity_deployer_writes_through_the_challenge_too(cloud, monkeypatch):
    cloud.entra.register_managed_identity(cloud.client_id)
    monkeypatch.setenv("IDENTITY_ENDPOINT", cloud.entra.managed_identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", cloud.entra.managed_identity_header)
    credential = deployer_credential("managed_identity", tenant_id=cloud.tenant_id, client_id=cloud.client_id)

    with VaultSecrets(cloud.vault.url, credential, policy=FAST, vault_name=VAULT) as vault:
        vault.create("databricks-pat", "dapi-new")

    assert cloud.vault.live("databricks-pat").value == "dapi-new"
    assert [r.kind for r in cloud.entra.token_requests()] == ["managed_identity"]


# -- a reported timeout is the end of the operation ------------------------------------------------------


def test_a_write_reported_as_timed_out_never_happens_afterwards(cloud):
    # Entra ID answers after 2.5 s, the budget is 1 s: the write must not follow once the token arrives.
    cloud.entra.token_delay = 2.5
    stalled = VaultPolicy(**{**FAST.__dict__, "time_budget": 1.0, "read_timeout": 20.0})

    vault = secrets_of(cloud, stalled)
    try:
        started = time.monotonic()
        with pytest.raises(VaultError, match="within 1 s") as raised:
            vault.create("databricks-pat", "dapi-new")
        # The caller holds the client a while longer, as a provider does while it reports; meanwhile the token
        # would have come.
        time.sleep(max(0.0, started + 2.5 + 1.5 - time.monotonic()))

        assert "Entra ID included" in str(raised.value)
        assert cloud.vault.live("databricks-pat") is None, "the vault was written after the write was reported failed"
        assert "set" not in cloud.vault.operations()
    finally:
        vault.close()


def test_a_vault_reply_trickling_past_the_budget_is_cut_at_the_deadline(cloud):
    cloud.vault.put("databricks-pat", "dapi-old")
    cloud.vault.trickle = 0.2  # each receive is far inside the 20 s read timeout
    stalled = VaultPolicy(**{**FAST.__dict__, "time_budget": 2.0, "read_timeout": 20.0})

    started = time.monotonic()
    message = refusal(cloud, lambda vault: vault.read("databricks-pat"), stalled)

    assert time.monotonic() - started < 2.0 + 2.0, "a reply a byte at a time held the operation past its budget"
    assert "did not complete reading secret 'databricks-pat' within 2 s" in message


def test_a_recovery_given_up_at_the_deadline_is_not_polled_any_more(cloud):
    cloud.vault.soft_delete("databricks-pat")
    cloud.vault.recovery_polls = -1
    short = VaultPolicy(**{**FAST.__dict__, "time_budget": 2.0, "retry_backoff_max": 0.2})

    vault = secrets_of(cloud, short)
    try:
        with pytest.raises(VaultError, match="accepted recovering"):
            vault.create("databricks-pat", "dapi-new")
        seen = len(cloud.vault.requests)
        time.sleep(1.0)  # a poller left running would ask every 0.2 s

        assert len(cloud.vault.requests) == seen, "the vault was still polled after the operation reported"
    finally:
        vault.close()


def test_each_operation_of_one_client_gets_its_own_whole_budget(cloud):
    # The client keeps its connections between operations; the second operation's deadline must cut its own
    # trickling reply though the connection was opened by the first.
    cloud.vault.put("databricks-pat", "dapi-old")
    policy = VaultPolicy(**{**FAST.__dict__, "time_budget": 2.0, "read_timeout": 20.0})
    with secrets_of(cloud, policy) as vault:
        assert vault.read("databricks-pat") is not None
        cloud.vault.trickle = 0.2
        started = time.monotonic()
        with pytest.raises(VaultError, match="within 2 s"):
            vault.read("databricks-pat")
    assert time.monotonic() - started < 2.0 + 2.0


@pytest.mark.parametrize("retry_after", ["99999999999999999999", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_a_throttled_write_with_any_retry_after_is_retried_not_a_python_error(cloud, retry_after):
    # azure-core's own parsing overflows time.sleep or raises ValueError on such values; the write must be
    # retried within the operation's budget like any 429.
    cloud.vault.inject("set", Reply.json(429, {"error": {"code": "Throttled", "message": "slow down"}},
                                         **{"Retry-After": retry_after}))
    with secrets_of(cloud) as vault:
        vault.create("databricks-pat", "dapi-after-throttle")
    live = cloud.vault.live("databricks-pat")
    assert live is not None and live.value == "dapi-after-throttle"
