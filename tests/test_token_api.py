"""The PAT client (databricks-sdk + azure-identity, for real) against loopback fakes of Entra ID and Databricks."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from dynamic_providers.token_api import TokenSession, token_session
from dynamic_providers.token_model import CredentialError, HttpPolicy, NotAllowed, Owner, TokenApiError, Workspace
from tests.fakes import DATABRICKS_AUDIENCE, MANAGEMENT_AUDIENCE, EntraFault, FakeCloud, Fault
from tests.fakes.az import install_fake_az
from tests.fakes.tls import make_client_certificate

# Pauses (Retry-After, backoff) capped short so retries are quick; a budget no test reaches unless it means to.
FAST = HttpPolicy(time_budget=10.0, request_timeout=2.0, retry_after_cap=0.3, cleanup_reserve=3.0)
NINETY_DAYS = 90 * 86400
# Per-request timeouts as long as production's against a small budget: only the deadline can end a stall.
STALLED = HttpPolicy(time_budget=2.0, request_timeout=20.0, retry_after_cap=0.3, cleanup_reserve=0.8)
# A workspace (or Entra ID) that accepts connections and then never answers: far longer than any test waits.
STALL = 60.0
# One byte every 0.2 s: each receive is far inside the 20 s request timeout, so no read timeout ever fires.
TRICKLE = 0.2
# Slack for thread scheduling and TLS on a busy machine; a regression (a budget per call, a read timeout
# per receive) overshoots by whole request timeouts, i.e. by 20 s or more.
MARGIN = 1.0


@pytest.fixture
def cloud(fake_cloud: FakeCloud) -> FakeCloud:
    """The fake cloud, with this process's environment pointed at it (client-secret credential)."""
    return fake_cloud


def workspace_of(cloud: FakeCloud, *, with_resource_id: bool = True, **overrides: Any) -> Workspace:
    values: dict[str, Any] = {
        "url": cloud.databricks.url,
        "tenant_id": cloud.tenant_id,
        "client_id": cloud.client_id,
        "credential": "environment",
        "resource_id": cloud.workspace_resource_id if with_resource_id else None,
        "authority_host": cloud.entra.authority,
    }
    values.update(overrides)
    return Workspace(**values)


@contextmanager
def session(cloud: FakeCloud, policy: HttpPolicy = FAST, **workspace: Any) -> Iterator[TokenSession]:
    with token_session(workspace_of(cloud, **workspace), policy) as opened:
        yield opened


def live_ids(cloud: FakeCloud) -> set[str]:
    return {token.token_id for token in cloud.databricks.live_tokens()}


def create(cloud: FakeCloud, comment: str = "pulumi p/s/pat", policy: HttpPolicy = FAST, **workspace: Any):
    with session(cloud, policy, **workspace) as opened:
        return opened.create(lifetime_seconds=3600, comment=comment)


def with_token_info(reply: dict, **fields: Any) -> bytes:
    """A token/create reply with token_info fields replaced."""
    return json.dumps({**reply, "token_info": {**reply["token_info"], **fields}}).encode()


def split_token_reply(token: str, at: int) -> bytes:
    """An Entra ID token reply whose access token has a line break at ``at``."""
    broken = f"{token[:at]}\n{token[at:]}"
    return json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": broken}).encode()


@contextmanager
def acting_as(monkeypatch: pytest.MonkeyPatch, client_secret: str) -> Iterator[None]:
    """Run the environment credential with another principal's secret."""
    with monkeypatch.context() as patch:
        patch.setenv("AZURE_CLIENT_SECRET", client_secret)
        yield


# -- the happy path -------------------------------------------------------------------------------


def test_created_token_expires_after_the_lifetime_and_carries_a_comment_unique_to_the_create(cloud: FakeCloud):
    with session(cloud) as opened:
        first = opened.create(lifetime_seconds=NINETY_DAYS, comment="pulumi p/s/pat")
        second = opened.create(lifetime_seconds=NINETY_DAYS, comment="pulumi p/s/pat")

    fake = cloud.databricks.tokens[first.info.token_id]
    assert first.token_value == fake.token_value
    assert fake.expiry_time - fake.creation_time == NINETY_DAYS * 1000, "the token must expire"
    assert fake.comment == first.comment and first.comment.startswith("pulumi p/s/pat [")
    assert first.comment != second.comment, "each create sweeps by its own comment"
    assert first.info.expiry_time is not None and first.info.creation_time is not None
    assert int((first.info.expiry_time - first.info.creation_time).total_seconds()) == NINETY_DAYS


def test_create_records_who_owns_the_token(cloud: FakeCloud):
    created = create(cloud)
    assert created.owner == Owner(
        username=cloud.client_id, user_id=str(cloud.databricks.user_id(cloud.client_id)), client_id=cloud.client_id
    )


def test_a_token_without_lifetime_is_never_requested(cloud: FakeCloud):
    with session(cloud) as opened, pytest.raises(ValueError, match="lifetime_seconds"):
        opened.create(lifetime_seconds=0, comment="never expires")
    assert cloud.databricks.count("create") == 0


def test_read_sees_a_live_token_and_reads_revoked_expired_and_unknown_ones_as_gone(cloud: FakeCloud):
    kept, revoked, expired = (create(cloud, name) for name in ("kept", "revoked", "expired"))
    cloud.databricks.revoke(revoked.info.token_id)
    cloud.databricks.tokens[expired.info.token_id].expiry_time = int(time.time() * 1000) - 1000
    with session(cloud) as opened:
        assert opened.read(kept.info.token_id, kept.owner) == kept.info
        assert opened.read(revoked.info.token_id, revoked.owner) is None
        assert opened.read(expired.info.token_id, expired.owner) is None
        assert opened.read("f" * 64, kept.owner) is None


def test_revoke_revokes_and_revoking_a_gone_token_is_success(cloud: FakeCloud):
    created = create(cloud)
    with session(cloud) as opened:
        assert opened.revoke(created.info.token_id, created.owner) is True
        assert live_ids(cloud) == set()
        assert opened.revoke(created.info.token_id, created.owner) is False


def test_one_create_costs_one_token_create_and_no_sweep(cloud: FakeCloud):
    create(cloud)
    assert cloud.databricks.count("create") == 1
    assert cloud.databricks.count("list") == 0, "a single attempt minted a single token: nothing to sweep"


# -- admission through the management token --------------------------------------------------------


def test_principal_not_yet_a_workspace_user_is_admitted_as_admin_with_the_resource_id(cloud: FakeCloud):
    assert cloud.client_id not in cloud.databricks.users
    created = create(cloud)
    with session(cloud) as opened:
        assert opened.read(created.info.token_id, created.owner) is not None

    api_calls = [r for r in cloud.databricks.requests if r.endpoint != "discovery"]
    assert all(r.management_headers for r in api_calls), "every call carries both headers"
    assert cloud.client_id in cloud.databricks.admins


def test_without_resource_id_no_management_headers_are_sent_and_no_management_token_is_requested(
    cloud: FakeCloud,
):
    cloud.databricks.add_user(cloud.client_id, admin=True)
    create(cloud, with_resource_id=False)

    for request in cloud.databricks.requests:
        assert "x-databricks-azure-workspace-resource-id" not in request.header_names
        assert "x-databricks-azure-sp-management-token" not in request.header_names
    assert cloud.entra.token_requests(MANAGEMENT_AUDIENCE) == []
    assert len(cloud.entra.token_requests(DATABRICKS_AUDIENCE)) == 1, "the token is reused within an operation"


def test_refusal_of_a_non_user_says_status_code_and_how_to_be_admitted(cloud: FakeCloud):
    with pytest.raises(TokenApiError) as raised:
        create(cloud, with_resource_id=False)
    text = str(raised.value)
    assert text.startswith(f"Databricks token/create on {cloud.databricks.url.removeprefix('https://')} failed")
    assert "HTTP 403 PERMISSION_DENIED" in text and "is not a user of this workspace" in text
    assert "workspace_resource_id" in text
    assert raised.value.status == 403 and raised.value.error_code == "PERMISSION_DENIED"
    assert "Config:" not in text, "databricks-sdk's config dump is noise here"


# -- no orphaned token ------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error_code"), [(429, "REQUEST_LIMIT_EXCEEDED"), (503, "TEMPORARILY_UNAVAILABLE")])
def test_create_answered_throttled_after_it_minted_leaves_exactly_one_live_token(
    cloud: FakeCloud, status: int, error_code: str
):
    # Each refused attempt did mint a token; databricks-sdk retries 429/503 by itself.
    minted_anyway = Fault(status=status, error_code=error_code, retry_after="0", process=True)
    cloud.databricks.inject("create", minted_anyway, minted_anyway)
    created = create(cloud)

    assert cloud.databricks.count("create") == 3 and len(cloud.databricks.tokens) == 3
    assert live_ids(cloud) == {created.info.token_id}
    assert cloud.databricks.tokens[created.info.token_id].token_value == created.token_value


def test_create_whose_every_attempt_minted_and_failed_leaves_no_live_token_and_says_so(cloud: FakeCloud):
    cloud.databricks.inject(
        "create", *[Fault(status=503, message="Workspace is restarting", process=True)] * 100
    )
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/busy", HttpPolicy(time_budget=3.0, retry_after_cap=0.3, cleanup_reserve=1.5))

    text = str(raised.value)
    assert "HTTP 503 TEMPORARILY_UNAVAILABLE: Workspace is restarting" in text
    assert "gave up after" in text and "past the deadline" in text
    assert "token(s) it minted with comment 'pulumi p/s/busy [" in text and "were revoked" in text
    assert cloud.databricks.count("create") >= 2 and live_ids(cloud) == set()


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (Fault(body=lambda reply: b'{"token_value": "trunc'), "not JSON"),
        (Fault(body=lambda reply: json.dumps({"token_info": reply["token_info"]}).encode()), "token_value"),
        (Fault(body=lambda reply: with_token_info(reply, expiry_time=-1)), "never expires"),
        (Fault(body=lambda reply: json.dumps({"token_value": reply["token_value"]}).encode()), "token_id"),
        (Fault(status=502, error_code="BAD_GATEWAY", message="upstream", process=True), "BAD_GATEWAY"),
        (Fault(status=500, error_code="INTERNAL_ERROR", message="boom", process=True), "HTTP 500 INTERNAL_ERROR"),
    ],
    ids=["malformed-json", "no-token-value", "never-expires", "no-token-id", "gateway-error", "server-error"],
)
def test_create_with_an_unusable_answer_after_minting_revokes_what_it_minted(cloud: FakeCloud, fault, says):
    cloud.databricks.inject("create", fault)
    with pytest.raises(TokenApiError, match=says) as raised:
        create(cloud, "pulumi p/s/unusable")
    assert "it minted with comment 'pulumi p/s/unusable [" in str(raised.value)
    assert len(cloud.databricks.tokens) >= 1 and live_ids(cloud) == set()


def test_sweep_never_revokes_another_token_carrying_the_resources_comment(cloud: FakeCloud):
    older = create(cloud, "same comment")  # e.g. the token this replacement supersedes
    cloud.databricks.inject("create", Fault(status=504, error_code="GATEWAY_TIMEOUT", message="slow"))
    with pytest.raises(TokenApiError, match="none was left behind"):
        create(cloud, "same comment")
    assert live_ids(cloud) == {older.info.token_id}


def test_sweep_does_not_depend_on_the_servers_clock_or_date_header(cloud: FakeCloud):
    # The list claims the tokens were created in 1970 (a skewed clock) and the refusal carries a Date header
    # no parser reads: matching is by comment, not by time.
    def skewed(reply: dict) -> bytes:
        return json.dumps({"token_infos": [{**info, "creation_time": 1000} for info in reply["token_infos"]]}).encode()

    odd_date = (("Date", "the day after tomorrow"),)
    cloud.databricks.inject("create", Fault(status=503, retry_after="0", process=True, headers=odd_date))
    cloud.databricks.inject("list", Fault(body=skewed))
    created = create(cloud)
    assert live_ids(cloud) == {created.info.token_id}


def test_sweep_matches_a_comment_returned_as_another_type_and_never_skips_it(cloud: FakeCloud):
    def comments_as_lists(reply: dict) -> bytes:
        infos = [{**info, "comment": [info["comment"]]} for info in reply["token_infos"]]
        return json.dumps({"token_infos": infos}).encode()

    cloud.databricks.inject("create", Fault(status=503, retry_after="0", process=True))
    cloud.databricks.inject("list", Fault(body=comments_as_lists))
    created = create(cloud)
    assert live_ids(cloud) == {created.info.token_id}


def test_sweep_that_finds_an_unusable_token_id_says_a_token_may_still_exist(cloud: FakeCloud):
    def ids_as_numbers(reply: dict) -> bytes:
        return json.dumps({"token_infos": [{**info, "token_id": 7} for info in reply["token_infos"]]}).encode()

    cloud.databricks.inject("create", Fault(status=500, error_code="INTERNAL_ERROR", process=True))
    cloud.databricks.inject("list", Fault(body=ids_as_numbers))
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/odd")
    text = str(raised.value)
    assert "a token with comment 'pulumi p/s/odd [" in text and "may still exist" in text
    assert "without a usable token_id" in text and "revoke the token" in text
    assert len(live_ids(cloud)) == 1, "the token the message warns about does exist"


def test_sweep_that_cannot_list_says_a_token_may_still_exist_and_how_to_find_it(cloud: FakeCloud):
    cloud.databricks.inject("create", Fault(status=502, error_code="BAD_GATEWAY", process=True))
    cloud.databricks.inject("list", *[Fault(status=403, error_code="PERMISSION_DENIED", message="nope")] * 3)
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/blind")
    text = str(raised.value)
    assert text.startswith("Databricks token/create on ") and "HTTP 502 BAD_GATEWAY" in text
    assert "a token with comment 'pulumi p/s/blind [" in text and "may still exist" in text
    assert "token list" in text and "revoke the token" in text
    assert cloud.databricks.live_tokens()[0].comment in text, "the exact comment to search for"


def test_a_sweep_whose_revocation_is_refused_never_counts_the_token_as_gone(cloud: FakeCloud):
    cloud.databricks.inject("create", Fault(status=503, retry_after="0", process=True))
    cloud.databricks.inject("delete", Fault(status=400, error_code="INVALID_PARAMETER_VALUE", message="Bad id format"))
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/stubborn")
    text = str(raised.value)
    assert "Bad id format" in text and "may still exist" in text and "comment 'pulumi p/s/stubborn [" in text


def test_a_retried_create_whose_sweep_fails_gives_up_its_token_and_names_the_comment(cloud: FakeCloud):
    cloud.databricks.inject("create", Fault(status=429, retry_after="0", process=True))
    cloud.databricks.inject("list", Fault(status=400, error_code="BAD_REQUEST", message="no"))
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/twins")
    text = str(raised.value)
    assert "was sent 2 times and minted a token, which has been revoked" in text
    assert "comment 'pulumi p/s/twins [" in text and "may still exist" in text
    assert len(live_ids(cloud)) == 1, "the twin the sweep could not find is still there, as the error says"


def test_stalled_create_and_stalled_sweep_end_within_the_budget_naming_the_comment(cloud: FakeCloud):
    cloud.databricks.inject("create", Fault(delay=STALL))
    cloud.databricks.inject("list", *[Fault(delay=STALL)] * 5)
    started = time.monotonic()
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/stalled", policy=STALLED)
    elapsed = time.monotonic() - started

    assert elapsed < STALLED.time_budget + MARGIN, f"took {elapsed:.1f}s"
    text = str(raised.value)
    assert "no reply before the operation's time budget ran out (time_budget 2s)" in text
    assert "a token with comment 'pulumi p/s/stalled [" in text and "may still exist" in text
    assert cloud.databricks.count("list") >= 1, "the sweep was tried"
    assert len(live_ids(cloud)) == 1, "the token the message warns about does exist"


def test_create_stalled_to_its_deadline_still_revokes_its_token_in_the_reserved_time(cloud: FakeCloud):
    cloud.databricks.inject("create", Fault(delay=STALL))
    started = time.monotonic()
    with pytest.raises(TokenApiError) as raised:
        create(cloud, policy=STALLED)
    elapsed = time.monotonic() - started

    assert elapsed < STALLED.time_budget + MARGIN, f"took {elapsed:.1f}s"
    assert "time budget ran out" in str(raised.value) and "were revoked" in str(raised.value)
    assert live_ids(cloud) == set()


# -- read and revoke whoever runs `pulumi up` -------------------------------------------------------


def test_another_admin_reads_and_revokes_a_token_it_did_not_create(cloud: FakeCloud, monkeypatch):
    created = create(cloud)
    admin_id, admin_secret = cloud.new_principal()
    with acting_as(monkeypatch, admin_secret), session(cloud, client_id=admin_id) as opened:
        assert opened.read(created.info.token_id, created.owner) == created.info
        assert opened.revoke(created.info.token_id, created.owner) is True
    assert live_ids(cloud) == set()
    assert {r.principal for r in cloud.databricks.requests if r.endpoint == "tm_delete"} == {admin_id}


@pytest.mark.parametrize("action", ["read", "revoke"])
def test_a_non_admin_is_refused_naming_the_owner_and_the_token_stays(cloud: FakeCloud, monkeypatch, action: str):
    created = create(cloud)
    user_id, user_secret = cloud.new_principal()
    cloud.databricks.add_user(user_id)  # a workspace user, not an admin
    with acting_as(monkeypatch, user_secret), session(cloud, client_id=user_id, with_resource_id=False) as opened:
        with pytest.raises(NotAllowed) as raised:
            getattr(opened, action)(created.info.token_id, created.owner)

    text = str(raised.value)
    assert f"cannot {action} token {created.info.token_id}" in text
    assert f"It belongs to Databricks user {cloud.client_id}" in text and f"client id {cloud.client_id}" in text
    assert f"Databricks user {user_id}" in text, "names who tried"
    assert "PERMISSION_DENIED" in text and "workspace_resource_id" in text and "Nothing was changed" in text
    assert live_ids(cloud) == {created.info.token_id}


@pytest.mark.parametrize("gone_status", [404, 400])
def test_a_non_admin_owner_reads_and_revokes_its_own_token_through_the_token_api(cloud: FakeCloud, gone_status):
    cloud.databricks.gone_status = gone_status  # how token/delete answers for a token already gone
    cloud.databricks.add_user(cloud.client_id)  # a plain user: token management refuses it
    created = create(cloud, with_resource_id=False)
    with session(cloud, with_resource_id=False) as opened:
        assert opened.read(created.info.token_id, created.owner) == created.info
        assert opened.revoke(created.info.token_id, created.owner) is True
        assert opened.read(created.info.token_id, created.owner) is None, "its own token, gone"
        assert opened.revoke(created.info.token_id, created.owner) is False
    assert live_ids(cloud) == set()


def test_read_and_revoke_run_as_whoever_runs_pulumi_when_the_states_identity_cannot_authenticate(
    cloud: FakeCloud, monkeypatch
):
    created = create(cloud)  # as the principal in state, with its secret
    other_id, other_secret = cloud.new_principal()
    monkeypatch.setenv("AZURE_CLIENT_ID", other_id)
    monkeypatch.setenv("AZURE_TENANT_ID", cloud.tenant_id)
    with acting_as(monkeypatch, other_secret):
        with token_session(workspace_of(cloud), FAST, as_whoever_runs=True) as opened:
            assert opened.read(created.info.token_id, created.owner) == created.info
            assert opened.revoke(created.info.token_id, created.owner) is True
        with pytest.raises(CredentialError, match="AADSTS7000215"):
            create(cloud)  # a create never runs as anyone but the identity it is for
    assert {r.principal for r in cloud.databricks.requests if r.endpoint in ("tm_get", "tm_delete")} == {other_id}


def test_a_persons_az_login_reads_a_token_minted_by_the_service_principal(
    cloud: FakeCloud, tmp_path: Path, monkeypatch
):
    created = create(cloud)
    person_id, person_secret = cloud.new_principal()
    install_fake_az(
        tmp_path / "bin",
        token_endpoint=f"{cloud.entra.authority}/{cloud.tenant_id}/oauth2/v2.0/token",
        tenant_id=cloud.tenant_id,
        client_id=person_id,
        client_secret=person_secret,
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.delenv("AZURE_CLIENT_SECRET")  # the person has only `az login`
    cloud.databricks.contributors = {cloud.client_id}  # the person is no Contributor, hence no admin
    cloud.databricks.add_user(person_id)
    with token_session(workspace_of(cloud), FAST, as_whoever_runs=True) as opened:
        with pytest.raises(NotAllowed, match=f"It belongs to Databricks user {cloud.client_id}") as raised:
            opened.read(created.info.token_id, created.owner)
    assert "Azure CLI login" in str(raised.value), "names the identity that tried"
    cloud.databricks.contributors = None  # now a Contributor: admitted as an admin
    with token_session(workspace_of(cloud), FAST, as_whoever_runs=True) as opened:
        assert opened.read(created.info.token_id, created.owner) == created.info
    assert live_ids(cloud) == {created.info.token_id}


def test_an_unreadable_entry_in_the_owners_own_list_never_makes_its_token_gone(cloud: FakeCloud):
    cloud.databricks.add_user(cloud.client_id)  # a plain user: token management refuses it
    created = create(cloud, with_resource_id=False)

    def ids_as_numbers(reply: dict) -> bytes:
        return json.dumps({"token_infos": [{**info, "token_id": 7} for info in reply["token_infos"]]}).encode()

    cloud.databricks.inject("list", Fault(body=ids_as_numbers))
    with session(cloud, with_resource_id=False) as opened, pytest.raises(TokenApiError, match="unknown"):
        opened.read(created.info.token_id, created.owner)
    assert live_ids(cloud) == {created.info.token_id}


def test_an_owner_unknown_to_older_state_is_never_read_as_gone_by_a_non_admin(cloud: FakeCloud, monkeypatch):
    created = create(cloud)
    user_id, user_secret = cloud.new_principal()
    cloud.databricks.add_user(user_id)
    unknown_owner = Owner(client_id=cloud.client_id)
    with acting_as(monkeypatch, user_secret), session(cloud, client_id=user_id, with_resource_id=False) as opened:
        with pytest.raises(NotAllowed, match="does not record"):
            opened.read(created.info.token_id, unknown_owner)


@pytest.mark.parametrize(
    ("rewrite", "outcome"),
    [
        ({"expiry_time": "soon"}, "live"),
        ({"expiry_time": None}, "live"),
        ({"creation_time": True}, "live"),
        ({"token_id": None}, "live"),
        ({"token_id": "another-token"}, "error"),
    ],
    ids=["expiry-string", "expiry-missing", "creation-bool", "id-missing", "id-other"],
)
def test_a_token_entry_with_unexpected_fields_never_reads_as_gone(cloud: FakeCloud, rewrite: dict, outcome: str):
    created = create(cloud)

    def odd(reply: dict) -> bytes:
        return json.dumps({"token_info": {**reply["token_info"], **rewrite}}).encode()

    cloud.databricks.inject("tm_get", Fault(body=odd))
    with session(cloud) as opened:
        if outcome == "error":
            with pytest.raises(TokenApiError, match=r"token management get|answered for token"):
                opened.read(created.info.token_id, created.owner)
        else:
            assert opened.read(created.info.token_id, created.owner) is not None


def test_a_token_management_reply_without_token_info_is_an_error_not_gone(cloud: FakeCloud):
    created = create(cloud)
    cloud.databricks.inject("tm_get", Fault(body=lambda reply: b"{}"))
    with session(cloud) as opened, pytest.raises(TokenApiError, match="token_info is missing"):
        opened.read(created.info.token_id, created.owner)


def test_a_missing_token_management_endpoint_is_an_error_not_gone(cloud: FakeCloud):
    created = create(cloud)
    cloud.databricks.inject("tm_get", Fault(status=404, error_code="ENDPOINT_NOT_FOUND", message="no such API"))
    with session(cloud) as opened, pytest.raises(TokenApiError, match="HTTP 404 ENDPOINT_NOT_FOUND"):
        opened.read(created.info.token_id, created.owner)


# -- retries and throttling -------------------------------------------------------------------------


def test_throttled_call_waits_for_retry_after_then_succeeds(cloud: FakeCloud):
    created = create(cloud)
    cloud.databricks.inject("tm_get", Fault(status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after="1"))
    policy = HttpPolicy(time_budget=10.0, request_timeout=2.0, retry_after_cap=5.0)
    with session(cloud, policy) as opened:
        started = time.monotonic()
        assert opened.read(created.info.token_id, created.owner) is not None
        waited = time.monotonic() - started
    assert waited >= 0.9, "Retry-After: 1 must be honoured"
    assert cloud.databricks.count("tm_get") == 2


def test_an_hour_long_retry_after_is_capped(cloud: FakeCloud):
    created = create(cloud)
    cloud.databricks.inject("tm_get", Fault(status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after="3600"))
    with session(cloud) as opened:
        started = time.monotonic()
        assert opened.read(created.info.token_id, created.owner) is not None
    assert time.monotonic() - started < FAST.retry_after_cap + MARGIN
    assert cloud.databricks.count("tm_get") == 2


@pytest.mark.parametrize("endpoint", ["create", "tm_get", "tm_delete"])
def test_unavailable_503_is_retried_then_succeeds(cloud: FakeCloud, endpoint: str):
    created = create(cloud) if endpoint != "create" else None
    cloud.databricks.inject(endpoint, Fault(status=503), Fault(status=503))
    with session(cloud) as opened:
        if endpoint == "create":
            created = opened.create(lifetime_seconds=3600, comment="x")
            assert live_ids(cloud) == {created.info.token_id}
        elif endpoint == "tm_get":
            assert created is not None and opened.read(created.info.token_id, created.owner) == created.info
        else:
            assert created is not None and opened.revoke(created.info.token_id, created.owner) is True
            assert live_ids(cloud) == set()
    assert cloud.databricks.count(endpoint) == 3


def test_permanent_failure_names_status_error_code_message_and_attempts(cloud: FakeCloud):
    created = create(cloud)
    cloud.databricks.inject(
        "tm_get", *[Fault(status=503, error_code="TEMPORARILY_UNAVAILABLE", message="Workspace is restarting")] * 99
    )
    with session(cloud, HttpPolicy(time_budget=2.0, retry_after_cap=0.3)) as opened:
        with pytest.raises(TokenApiError) as raised:
            opened.read(created.info.token_id, created.owner)

    text = str(raised.value)
    assert text.startswith(f"Databricks token management get on {cloud.databricks.url.removeprefix('https://')}")
    assert "HTTP 503 TEMPORARILY_UNAVAILABLE: Workspace is restarting" in text
    assert "gave up after" in text and "past the deadline (time_budget 2s)" in text
    assert raised.value.status == 503 and raised.value.error_code == "TEMPORARILY_UNAVAILABLE"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_redirect_is_refused_without_following_it_and_questions_the_workspace_url(cloud: FakeCloud):
    created = create(cloud)
    elsewhere = f"{cloud.entra.authority}/common/oauth2/authorize"
    cloud.databricks.inject("tm_get", Fault(status=302, headers=(("Location", elsewhere),)))
    entra_requests = len(cloud.entra.requests)
    with session(cloud) as opened, pytest.raises(TokenApiError) as raised:
        opened.read(created.info.token_id, created.owner)
    assert f"redirected (HTTP 302) to {elsewhere}" in str(raised.value)
    assert "is workspace_url the workspace's URL?" in str(raised.value)
    assert [r.path for r in cloud.entra.requests[entra_requests:] if r.kind == "unknown"] == [], (
        "the redirect (and the management token it would carry) must not be followed"
    )


def test_unreachable_workspace_fails_clearly_within_the_budget(cloud: FakeCloud):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(TokenApiError) as raised:
        create(cloud, policy=STALLED, url=f"https://127.0.0.1:{closed_port}")
    assert time.monotonic() - started < STALLED.time_budget + MARGIN
    text = str(raised.value)
    assert f"Databricks client set-up on 127.0.0.1:{closed_port} failed" in text
    assert "is workspace_url right and reachable from here?" in text


# -- one deadline per operation ---------------------------------------------------------------------


def run_within_budget(call) -> tuple[str, float]:
    """(error text, seconds) of a call that must fail."""
    started = time.monotonic()
    with pytest.raises((TokenApiError, CredentialError)) as raised:
        call()
    return str(raised.value), time.monotonic() - started


@pytest.mark.parametrize("operation", ["create", "read", "revoke"])
def test_a_trickling_workspace_reply_ends_at_the_deadline(cloud: FakeCloud, operation: str):
    created = create(cloud)
    endpoint = {"create": "create", "read": "tm_get", "revoke": "tm_delete"}[operation]
    cloud.databricks.inject(endpoint, *[Fault(trickle=TRICKLE)] * 3)

    def call() -> Any:
        with session(cloud, STALLED) as opened:
            if operation == "create":
                return opened.create(lifetime_seconds=3600, comment="trickled")
            return getattr(opened, operation)(created.info.token_id, created.owner)

    text, elapsed = run_within_budget(call)
    assert elapsed < STALLED.time_budget + MARGIN, f"{operation} took {elapsed:.1f}s"
    assert "no reply before the operation's time budget ran out (time_budget 2s)" in text
    if operation == "create":
        assert live_ids(cloud) == {created.info.token_id}, "the trickled create's token was swept"


@pytest.mark.parametrize("stalled", ["discovery probe", "token/create"])
def test_a_stalled_tls_handshake_ends_at_the_deadline(cloud: FakeCloud, stalled: str):
    def call() -> Any:
        if stalled == "discovery probe":
            cloud.databricks.stall_handshakes(STALL, count=5)
        with session(cloud, STALLED) as opened:
            # The client is built (its discovery probe made): the next connection is token/create's own.
            cloud.databricks.stall_handshakes(STALL, count=5)
            return opened.create(lifetime_seconds=3600, comment="handshake")

    text, elapsed = run_within_budget(call)
    assert elapsed < STALLED.time_budget + MARGIN, f"took {elapsed:.1f}s"
    assert "time budget ran out" in text
    assert ("discovery probe" in text) is (stalled == "discovery probe")
    assert cloud.databricks.count("create") == 0, "no request got through a handshake that never finished"


def test_a_retry_after_of_an_hour_ends_the_call_at_once_saying_so(cloud: FakeCloud):
    created = create(cloud)
    cloud.databricks.inject("tm_get", Fault(status=429, error_code="REQUEST_LIMIT_EXCEEDED", retry_after="3600"))
    policy = HttpPolicy(time_budget=2.0, request_timeout=20.0, retry_after_cap=30.0)

    def call() -> Any:
        with session(cloud, policy) as opened:
            return opened.read(created.info.token_id, created.owner)

    text, elapsed = run_within_budget(call)
    assert elapsed < policy.time_budget + MARGIN
    assert "HTTP 429 REQUEST_LIMIT_EXCEEDED" in text and "Retry-After asked for 3600s" in text


@pytest.mark.parametrize(
    "stall", ["token-endpoint-silent", "token-reply-trickles", "handshake-stalls", "retry-after-an-hour"]
)
def test_a_stalled_entra_id_ends_at_the_deadline_and_databricks_is_not_called(cloud: FakeCloud, stall: str):
    if stall == "token-endpoint-silent":
        cloud.entra.token_delay = STALL
    elif stall == "token-reply-trickles":
        cloud.entra.inject(EntraFault(trickle=TRICKLE))
    elif stall == "handshake-stalls":
        cloud.entra.stall_handshakes(STALL, count=5)
    else:
        cloud.entra.inject(*[EntraFault(status=429, error="throttled", retry_after="3600")] * 5)
    text, elapsed = run_within_budget(lambda: create(cloud, policy=STALLED))

    assert elapsed < STALLED.time_budget + MARGIN, f"took {elapsed:.1f}s"
    assert "could not get an Entra ID token" in text and "client secret from AZURE_CLIENT_SECRET" in text
    assert cloud.client_secret not in text
    assert cloud.databricks.count() == 0, "not even databricks-sdk's discovery probe"


@pytest.mark.parametrize("fault", [Fault(trickle=TRICKLE), Fault(status=503, retry_after="3600")])
def test_a_stalled_discovery_probe_ends_at_the_deadline(cloud: FakeCloud, fault: Fault):
    # databricks-sdk probes /.well-known/databricks-config while it builds its client, on its own clock.
    cloud.databricks.inject("discovery", *[fault] * 3)
    text, elapsed = run_within_budget(lambda: create(cloud, policy=STALLED))
    assert elapsed < STALLED.time_budget + MARGIN, f"took {elapsed:.1f}s"
    assert "client set-up" in text and "discovery probe" in text and "time budget ran out" in text
    assert cloud.databricks.count("create") == 0


# -- credentials --------------------------------------------------------------------------------------


def test_wrong_client_secret_fails_with_the_entra_error_and_without_the_secret(cloud: FakeCloud, monkeypatch):
    wrong_secret = "wrong-" + cloud.client_secret[::-1]
    with acting_as(monkeypatch, wrong_secret), pytest.raises(CredentialError) as raised:
        create(cloud)
    text = str(raised.value)
    assert "AADSTS7000215" in text and "client secret from AZURE_CLIENT_SECRET" in text
    assert wrong_secret not in text and cloud.client_secret not in text
    assert cloud.databricks.count() == 0


def test_environment_credential_without_secret_or_certificate_names_the_variables(cloud: FakeCloud, monkeypatch):
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    with pytest.raises(CredentialError) as raised:
        create(cloud)
    text = str(raised.value)
    assert "AZURE_CLIENT_SECRET" in text and "AZURE_CLIENT_CERTIFICATE_PATH" in text
    assert "AZURE_CLIENT_CERTIFICATE_PASSWORD" in text


def test_certificate_from_the_environment_authenticates_with_a_signed_assertion(
    cloud: FakeCloud, tmp_path: Path, monkeypatch
):
    password = "pw-" + cloud.client_secret[:12]
    certificate = make_client_certificate(tmp_path / "principal", password=password)
    cloud.entra.register_certificate(cloud.client_id, certificate.certificate)
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", str(certificate.pem_path))
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", password)
    created = create(cloud)
    assert live_ids(cloud) == {created.info.token_id}


def test_managed_identity_credential_gets_tokens_from_the_identity_endpoint(cloud: FakeCloud, monkeypatch):
    cloud.entra.register_managed_identity(cloud.client_id)
    monkeypatch.setenv("IDENTITY_ENDPOINT", cloud.entra.managed_identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", cloud.entra.managed_identity_header)
    create(cloud, credential="managed_identity")
    assert {r.kind for r in cloud.entra.requests} == {"managed_identity"}
    assert {r.audience for r in cloud.entra.requests} == {DATABRICKS_AUDIENCE, MANAGEMENT_AUDIENCE}


def test_azure_cli_credential_uses_the_cli_login_for_the_tenant(cloud: FakeCloud, tmp_path: Path, monkeypatch):
    install_fake_az(
        tmp_path / "bin",
        token_endpoint=f"{cloud.entra.authority}/{cloud.tenant_id}/oauth2/v2.0/token",
        tenant_id=cloud.tenant_id,
        client_id=cloud.client_id,
        client_secret=cloud.client_secret,
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    create(cloud, credential="azure_cli")
    assert len(cloud.databricks.live_tokens()) == 1

    with pytest.raises(CredentialError, match="AADSTS90002"):
        create(cloud, credential="azure_cli", tenant_id="contoso.onmicrosoft.com")


def test_an_entra_token_with_a_line_break_is_refused_and_never_printed(cloud: FakeCloud):
    cloud.entra.inject(EntraFault(body=lambda token: split_token_reply(token, 40)))
    with pytest.raises(CredentialError, match="cannot be sent in an HTTP header") as raised:
        create(cloud)
    (token,) = cloud.entra.issued_values()
    for piece in (token[:40], token[40:], token[10:30]):
        assert piece not in str(raised.value)
    assert cloud.databricks.count("create") == 0


# -- no secret, and no fragment of one, anywhere -------------------------------------------------------


def forms_and_fragments(secret: str) -> set[str]:
    """A secret raw, JSON-escaped, URL-encoded, and every 12-character run of it."""
    forms = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
    return forms | {secret[start : start + 12] for start in range(0, max(len(secret) - 12, 0) + 1, 3)}


def assert_nothing_secret_in(texts: dict[str, str], secrets: list[str]) -> None:
    for where, text in texts.items():
        leaked = [secret[:6] + "…" for secret in secrets if any(form in text for form in forms_and_fragments(secret))]
        assert not leaked, f"secret(s) {leaked} (or a fragment) leaked into {where}"


def test_secrets_reach_no_log_output_or_error_in_any_form(
    cloud: FakeCloud, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
):
    caplog.set_level(logging.DEBUG)
    for name in ("azure", "msal", "urllib3", "databricks.sdk", "dynamic_providers", "clients"):
        caplog.set_level(logging.DEBUG, logger=name)
    quick = HttpPolicy(time_budget=3.0, request_timeout=2.0, retry_after_cap=0.3, cleanup_reserve=1.0)
    texts: list[str] = []

    def failing(call) -> None:
        with pytest.raises((TokenApiError, CredentialError)) as raised:
            call()
        texts.extend([str(raised.value), repr(raised.value)])

    created = create(cloud)
    texts += [repr(created), repr(created.info), repr(created.owner)]
    # Entra ID answers an invalid body that carries the token it issued (azure-identity quotes the body).
    cloud.entra.inject(EntraFault(body=lambda token: ('{"token_type":"Bearer","access_token":"' + token).encode()))
    failing(lambda: create(cloud, policy=quick))
    # Entra ID echoes the client secret, raw and URL-encoded, in its error (azure-identity logs it as a WARNING).
    echo = f"AADSTS7000215: got {cloud.client_secret} / {quote_plus(cloud.client_secret)}"
    cloud.entra.inject(EntraFault(status=401, error="invalid_client", description=echo))
    failing(lambda: create(cloud, policy=quick))
    # Entra ID hands out a token split by a line break.
    cloud.entra.inject(EntraFault(body=lambda token: split_token_reply(token, 50)))
    failing(lambda: create(cloud, policy=quick))
    # Databricks echoes the PAT (raw and JSON-escaped) in errors, and answers a create with a truncated body.
    echoed = f"echo {created.token_value} {json.dumps({'token_value': created.token_value})}"
    cloud.databricks.inject("tm_get", *[Fault(status=500, error_code="INTERNAL_ERROR", message=echoed)] * 30)
    with session(cloud, quick) as opened:
        failing(lambda: opened.read(created.info.token_id, created.owner))
    cloud.databricks.inject("create", Fault(body=lambda reply: json.dumps(reply).encode()[:60]))
    failing(lambda: create(cloud, policy=quick))
    with session(cloud) as opened:
        opened.revoke(created.info.token_id, created.owner)

    out, err = capfd.readouterr()
    secrets = cloud.secret_values()
    assert len(secrets) >= 8, "the check must cover the secret, several Entra ID tokens and PATs"
    assert_nothing_secret_in(
        {"stdout": out, "stderr": err, "log": caplog.text, "errors/reprs": "\n".join(texts)}, secrets
    )
    assert "[redacted]" in "\n".join(texts), "echoed secrets were masked, not silently dropped"
