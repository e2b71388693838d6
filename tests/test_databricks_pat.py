"""DatabricksPatProvider methods called directly, as the dynamic-provider host calls them."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dill
import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.rpc import UNKNOWN

from dynamic_providers.databricks_pat import (
    REPLACE_ON_CHANGE,
    DatabricksPat,
    DatabricksPatArgs,
    DatabricksPatProvider,
)
from dynamic_providers.token_model import PatError, TokenApiError, iso8601
from tests.fakes import EntraFault, FakeCloud, Fault
from tests.fakes.az import install_fake_az

FAST_POLICY = {"time_budget": 5.0, "request_timeout": 2.0, "retry_after_cap": 0.3, "cleanup_reserve": 1.5}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def cloud(fake_cloud: FakeCloud) -> FakeCloud:
    """The fake cloud, with this process's environment pointed at it (client-secret credential)."""
    return fake_cloud


@pytest.fixture
def provider() -> DatabricksPatProvider:
    return DatabricksPatProvider(FAST_POLICY)


def checked(provider: DatabricksPatProvider, inputs: dict[str, Any]) -> dict[str, Any]:
    result = provider.check({}, inputs)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def state_with_expiry(cloud: FakeCloud, provider: DatabricksPatProvider, expiry: datetime) -> dict[str, Any]:
    """Outputs as they would be in state for a token expiring at `expiry` (no call to Databricks)."""
    inputs = checked(provider, cloud.inputs())
    return {
        **inputs,
        "token_id": "a" * 64,
        "token_value": "state-value",
        "creation_time": iso8601(expiry - timedelta(days=inputs["lifetime_days"])),
        "expiry_time": iso8601(expiry),
    }


def network_requests(cloud: FakeCloud) -> int:
    return len(cloud.databricks.requests) + len(cloud.entra.requests)


# -- check --------------------------------------------------------------------------------------------


def test_check_applies_defaults_and_normalises_the_workspace_url(cloud: FakeCloud, provider):
    inputs = checked(
        provider,
        {
            "workspace_url": cloud.databricks.url.upper().replace("HTTPS", "https") + "/",
            "tenant_id": cloud.tenant_id,
            "client_id": cloud.client_id,
        },
    )
    assert inputs["workspace_url"] == cloud.databricks.url
    assert inputs["credential"] == "environment"
    assert inputs["lifetime_days"] == 90
    assert inputs["rotate_before_days"] == 14
    assert inputs["azure_authority_host"] == "login.microsoftonline.com"
    assert inputs["comment"]
    assert "workspace_resource_id" not in inputs


def test_check_takes_numbers_the_way_protobuf_delivers_them(cloud: FakeCloud, provider):
    inputs = checked(provider, cloud.inputs(lifetime_days=30.0, rotate_before_days=7.0))
    assert inputs["lifetime_days"] == 30 and isinstance(inputs["lifetime_days"], int)


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("workspace_url", "http://adb-1.2.azuredatabricks.net"),
        ("workspace_url", "adb-1.2.azuredatabricks.net"),
        ("workspace_url", "https://adb-1.2.azuredatabricks.net/?o=1"),
        ("workspace_url", "https://adb-1.2.azuredatabricks.net/api"),
        ("workspace_url", 42),
        ("workspace_resource_id", "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/accounts/z"),
        ("tenant_id", "not a tenant!"),
        ("client_id", "not-a-guid"),
        ("credential", "password"),
        ("azure_authority_host", "http://login.microsoftonline.us"),
        ("azure_authority_host", "https://login.microsoftonline.us/tenant/path"),
        ("azure_authority_host", "not a host"),
        ("lifetime_days", 0),
        ("lifetime_days", 731),
        ("lifetime_days", 1.5),
        ("lifetime_days", True),
        ("rotate_before_days", -1),
        ("rotate_before_days", 90),
        ("rotate_before_days", 2.5),
        ("comment", 7),
        ("comment", "x" * 2_000_000),
        ("comment", "pulumi\x00p/s/pat"),
        ("comment", "pulumi\np/s/pat"),
    ],
)
def test_check_refuses_a_bad_input_naming_the_property(cloud: FakeCloud, provider, prop: str, value: Any):
    result = provider.check({}, cloud.inputs(**{prop: value}))
    assert [failure.property for failure in result.failures] == [prop]
    assert result.failures[0].reason
    assert len(result.failures[0].reason) < 400, "a bad value is named, not echoed whole"


@pytest.mark.parametrize("prop", ["workspace_url", "tenant_id", "client_id"])
def test_check_requires_workspace_and_principal(cloud: FakeCloud, provider, prop: str):
    inputs = cloud.inputs()
    del inputs[prop]
    result = provider.check({}, inputs)
    assert [failure.property for failure in result.failures] == [prop]


def test_check_lets_unknown_values_through_during_preview(cloud: FakeCloud, provider):
    result = provider.check({}, cloud.inputs(workspace_url=UNKNOWN, workspace_resource_id=UNKNOWN))
    assert result.failures == []
    assert result.inputs["workspace_url"] == UNKNOWN


@given(lifetime=st.integers(-5, 800), rotate=st.integers(-5, 800))
def test_check_accepts_exactly_expiring_tokens_rotated_before_expiry(lifetime: int, rotate: int):
    inputs = {
        "workspace_url": "https://adb-1.2.azuredatabricks.net",
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "00000000-0000-0000-0000-000000000001",
        "lifetime_days": lifetime,
        "rotate_before_days": rotate,
    }
    failures = {f.property for f in DatabricksPatProvider().check({}, inputs).failures}
    lifetime_ok = 1 <= lifetime <= 730
    assert ("lifetime_days" in failures) == (not lifetime_ok)
    assert ("rotate_before_days" in failures) == (rotate < 0 or (lifetime_ok and rotate >= lifetime))


# -- create / read / update / delete -------------------------------------------------------------------


def test_create_outputs_the_token_id_value_and_utc_times(cloud: FakeCloud, provider):
    inputs = checked(
        provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id, lifetime_days=30)
    )
    result = provider.create(inputs)

    (fake,) = cloud.databricks.live_tokens()
    assert result.id == fake.token_id == result.outs["token_id"]
    assert result.outs["token_value"] == fake.token_value
    assert ISO_UTC.match(result.outs["creation_time"]) and ISO_UTC.match(result.outs["expiry_time"])
    expiry = datetime.fromisoformat(result.outs["expiry_time"])
    creation = datetime.fromisoformat(result.outs["creation_time"])
    assert expiry - creation == timedelta(days=30)
    assert {key: result.outs[key] for key in inputs} == inputs, "outputs carry the inputs"
    assert fake.token_value not in repr(result.outs)
    assert result.outs["token_comment"] == fake.comment and fake.comment.startswith(inputs["comment"] + " [")
    assert result.outs["created_by_username"] == cloud.client_id, "who owns it, for messages to anyone else"
    assert result.outs["created_by_id"] == str(cloud.databricks.user_id(cloud.client_id))


def test_read_keeps_a_live_token_and_its_value(cloud: FakeCloud, provider):
    created = provider.create(
        checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    )
    result = provider.read(created.id, created.outs)
    assert result.id == created.id
    assert result.outs == created.outs, "token_value is not listed by Databricks; it is kept from state"


@pytest.mark.parametrize("expiry", [True, 1, "2099-01-01"], ids=["true", "one", "date-string"])
def test_refresh_keeps_a_live_token_whose_listed_expiry_is_unreadable_and_states_expiry(
    cloud: FakeCloud, provider, expiry: Any
):
    # databricks-sdk would read `true` as 1 ms after 1970: an expired token, dropped from state, never revoked.
    created = provider.create(
        checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    )

    def odd(reply: dict) -> bytes:
        return json.dumps({"token_info": {**reply["token_info"], "expiry_time": expiry}}).encode()

    cloud.databricks.inject("tm_get", Fault(body=odd))
    result = provider.read(created.id, created.outs)

    assert result.id == created.id, "a live token was read as gone"
    assert result.outs["expiry_time"] == created.outs["expiry_time"], "state keeps the expiry it knows"


@pytest.mark.parametrize("gone_how", ["revoked out of band", "deleted", "never existed"])
def test_read_reports_a_gone_token_as_absent_so_up_recreates_it(cloud: FakeCloud, provider, gone_how: str):
    created = provider.create(
        checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    )
    token_id = created.id
    if gone_how == "revoked out of band":
        cloud.databricks.revoke(token_id)
    elif gone_how == "deleted":
        provider.delete(token_id, created.outs)
    else:
        token_id = "f" * 64
    result = provider.read(token_id, created.outs)
    assert result.id == ""
    assert result.outs == {}


def person_logged_in_with_az(cloud: FakeCloud, directory: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Another identity, with only an `az login` (no AZURE_CLIENT_SECRET): its client id."""
    person_id, person_secret = cloud.new_principal()
    install_fake_az(
        directory,
        token_endpoint=f"{cloud.entra.authority}/{cloud.tenant_id}/oauth2/v2.0/token",
        tenant_id=cloud.tenant_id,
        client_id=person_id,
        client_secret=person_secret,
    )
    monkeypatch.setenv("PATH", f"{directory}:/usr/bin:/bin")
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    return person_id


def test_refresh_and_destroy_under_another_identitys_az_login_keep_then_revoke_the_token(
    cloud: FakeCloud, provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    created = provider.create(checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id)))
    person_id = person_logged_in_with_az(cloud, tmp_path / "bin", monkeypatch)

    read = provider.read(created.id, created.outs)
    assert read.id == created.id and read.outs["token_value"] == created.outs["token_value"]
    provider.delete(created.id, created.outs)
    assert cloud.databricks.live_tokens() == []
    assert {r.principal for r in cloud.databricks.requests if r.endpoint == "tm_delete"} == {person_id}


def test_refresh_by_a_non_admin_is_refused_naming_the_owner_and_never_drops_the_token(
    cloud: FakeCloud, provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    created = provider.create(checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id)))
    person_id = person_logged_in_with_az(cloud, tmp_path / "bin", monkeypatch)
    cloud.databricks.contributors = {cloud.client_id}
    cloud.databricks.add_user(person_id)  # a workspace user, not an admin

    for operation in (provider.read, provider.delete):
        with pytest.raises(PatError) as raised:
            operation(created.id, created.outs)
        text = str(raised.value)
        assert f"It belongs to Databricks user {created.outs['created_by_username']}" in text
        assert f"Databricks user {person_id}" in text and "Nothing was changed" in text
    assert [token.token_id for token in cloud.databricks.live_tokens()] == [created.id]


def test_delete_revokes_the_token_and_tolerates_one_already_gone(cloud: FakeCloud, provider):
    created = provider.create(
        checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    )
    provider.delete(created.id, created.outs)
    assert cloud.databricks.live_tokens() == []
    provider.delete(created.id, created.outs)  # e.g. revoked by hand before `pulumi destroy`


def test_update_of_comment_only_returns_new_outputs_without_network(cloud: FakeCloud, provider):
    created = provider.create(
        checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    )
    news = {
        **checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id)),
        "comment": "new",
    }
    before = network_requests(cloud)
    result = provider.update(created.id, created.outs, news)
    assert network_requests(cloud) == before
    assert result.outs is not None
    assert result.outs["comment"] == "new"
    assert result.outs["token_value"] == created.outs["token_value"]
    assert result.outs["expiry_time"] == created.outs["expiry_time"]


def test_create_with_malformed_reply_leaves_no_live_token(cloud: FakeCloud, provider):
    cloud.databricks.inject("create", Fault(body=lambda reply: b"<html>oops</html>"))
    inputs = checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    with pytest.raises(TokenApiError, match="not JSON"):
        provider.create(inputs)
    assert len(cloud.databricks.tokens) == 1
    assert cloud.databricks.live_tokens() == []


@pytest.mark.parametrize("stall", ["silent", "trickle"])
@pytest.mark.parametrize("operation", ["create", "read", "delete"])
def test_a_stalled_workspace_fails_each_operation_within_its_time_budget(
    cloud: FakeCloud, provider, operation: str, stall: str
):
    inputs = checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    created = provider.create(inputs)
    # Production-like timeouts, a 1 s budget: only the budget can end a reply that never comes, or that comes
    # one byte at a time.
    stalled = DatabricksPatProvider({**FAST_POLICY, "request_timeout": 20.0, "time_budget": 1.0})
    fault = Fault(delay=60.0) if stall == "silent" else Fault(trickle=0.1)
    for endpoint in {"create": ("create", "list"), "read": ("tm_get",), "delete": ("tm_delete",)}[operation]:
        cloud.databricks.inject(endpoint, *[fault] * 3)
    call = {
        "create": lambda: stalled.create(inputs),
        "read": lambda: stalled.read(created.id, created.outs),
        "delete": lambda: stalled.delete(created.id, created.outs),
    }[operation]

    started = time.monotonic()
    with pytest.raises(TokenApiError) as raised:
        call()
    elapsed = time.monotonic() - started

    assert elapsed < 1.0 + 1.0, f"{operation} took {elapsed:.1f}s"
    text = str(raised.value)
    assert {"create": "token/create", "read": "token management get", "delete": "token management delete"}[
        operation
    ] in text
    assert "time budget ran out" in text
    if operation == "create":
        assert f"a token with comment '{inputs['comment']} [" in text and "may still exist" in text
    elif operation == "read":
        assert created.id in {token.token_id for token in cloud.databricks.live_tokens()}


def test_provider_errors_do_not_chain_exceptions_that_could_hold_a_token(cloud: FakeCloud, provider):
    cloud.databricks.inject("tm_get", *[Fault(status=503)] * 50)
    created = provider.create(
        checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    )
    with pytest.raises(TokenApiError) as raised:
        provider.read(created.id, created.outs)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_unexpected_errors_are_wrapped_without_their_chain(provider):
    with pytest.raises(PatError, match="missing") as raised:
        provider.delete("id", {"credential": "environment"})
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_environment_credential_missing_fails_create_naming_the_variables(
    cloud: FakeCloud, provider, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    with pytest.raises(PatError, match=r"AZURE_CLIENT_SECRET.*AZURE_CLIENT_CERTIFICATE_PATH"):
        provider.create(checked(provider, cloud.inputs()))


# -- diff ---------------------------------------------------------------------------------------------


def test_diff_without_changes_is_no_change_and_makes_no_network_call(cloud: FakeCloud, provider):
    created = provider.create(
        checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    )
    news = checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    before = network_requests(cloud)
    result = provider.diff(created.id, {**created.outs, "__provider": "old"}, {**news, "__provider": "new"})
    assert network_requests(cloud) == before
    assert result.changes is False
    assert result.replaces == []


@pytest.mark.parametrize("prop", REPLACE_ON_CHANGE)
def test_diff_replaces_the_token_when_an_input_it_depends_on_changes(cloud: FakeCloud, provider, prop: str):
    olds = state_with_expiry(cloud, provider, datetime.now(UTC) + timedelta(days=60))
    new_values = {
        "workspace_url": "https://adb-2.3.azuredatabricks.net",
        "workspace_resource_id": cloud.workspace_resource_id,
        "tenant_id": "fabrikam.onmicrosoft.com",
        "client_id": "00000000-0000-0000-0000-000000000002",
        "credential": "azure_cli",
        "azure_authority_host": "login.microsoftonline.us",
        "lifetime_days": 60,
    }
    news = checked(provider, cloud.inputs(**{prop: new_values[prop]}))
    result = provider.diff(olds["token_id"], olds, news)
    assert result.changes is True
    assert result.replaces == [prop]
    assert result.delete_before_replace is False, "the new token must exist before the old one is revoked"


def test_diff_replaces_when_an_input_becomes_unknown(cloud: FakeCloud, provider):
    olds = state_with_expiry(cloud, provider, datetime.now(UTC) + timedelta(days=60))
    news = {**checked(provider, cloud.inputs()), "workspace_url": UNKNOWN}
    assert provider.diff(olds["token_id"], olds, news).replaces == ["workspace_url"]


@pytest.mark.parametrize("prop", ["comment", "rotate_before_days"])
def test_diff_updates_bookkeeping_inputs_in_place(cloud: FakeCloud, provider, prop: str):
    olds = state_with_expiry(cloud, provider, datetime.now(UTC) + timedelta(days=60))
    news = checked(provider, cloud.inputs(**{prop: {"comment": "renamed", "rotate_before_days": 7}[prop]}))
    result = provider.diff(olds["token_id"], olds, news)
    assert result.changes is True
    assert result.replaces == []


@pytest.mark.parametrize(
    ("days_left", "rotate_before_days", "rotates"),
    [(13.9, 14, True), (14.1, 14, False), (0.5, 0, False), (-1, 0, True), (20, 21, True), (60, 14, False)],
)
def test_diff_rotates_the_token_inside_the_rotation_window(
    cloud: FakeCloud, provider, days_left: float, rotate_before_days: int, rotates: bool
):
    olds = state_with_expiry(cloud, provider, datetime.now(UTC) + timedelta(days=days_left))
    news = checked(provider, cloud.inputs(rotate_before_days=rotate_before_days))
    result = provider.diff(olds["token_id"], olds, news)
    assert ("expiry_time" in result.replaces) is rotates
    assert result.changes is (rotates or rotate_before_days != 14)
    assert result.delete_before_replace is False


def test_diff_rotates_when_state_has_no_usable_expiry(cloud: FakeCloud, provider):
    olds = state_with_expiry(cloud, provider, datetime.now(UTC) + timedelta(days=60))
    olds["expiry_time"] = "garbage"
    assert provider.diff(olds["token_id"], olds, checked(provider, cloud.inputs())).replaces == [
        "expiry_time"
    ]


# -- secrets and serialisation -----------------------------------------------------------------------


def test_no_secret_reaches_stdout_stderr_logs_errors_or_reprs(
    cloud: FakeCloud, provider, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
):
    caplog.set_level(logging.DEBUG)
    for name in ("azure", "msal", "urllib3", "databricks.sdk", "dynamic_providers", "clients"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []
    inputs = checked(provider, cloud.inputs(workspace_resource_id=cloud.workspace_resource_id))
    created = provider.create(inputs)
    read = provider.read(created.id, created.outs)
    texts += [repr(created.outs), repr(read.outs), repr(provider), str(vars(created)), str(vars(read))]
    texts.append(repr(provider.update(created.id, created.outs, {**inputs, "comment": "c"}).outs))
    faults = (
        lambda: cloud.databricks.inject("create", Fault(body=lambda reply: b"[" + repr(reply).encode())),
        lambda: cloud.databricks.inject(
            "tm_delete", Fault(status=500, error_code="INTERNAL_ERROR", message=f"boom {created.outs['token_value']}")
        ),
        # Entra ID answers an invalid body that carries the token it issued.
        lambda: cloud.entra.inject(
            EntraFault(body=lambda token: ('{"token_type":"Bearer","access_token":"' + token).encode())
        ),
    )
    calls = (
        lambda: provider.create(inputs),
        lambda: provider.delete(created.id, created.outs),
        lambda: provider.read(created.id, created.outs),
    )
    for inject, failing in zip(faults, calls, strict=True):
        inject()
        with pytest.raises(PatError) as raised:
            failing()
        texts += [str(raised.value), repr(raised.value)]
    provider.delete(created.id, created.outs)

    out, err = capfd.readouterr()
    secrets = cloud.secret_values()
    assert len(secrets) >= 5
    for where, text in {
        "stdout": out,
        "stderr": err,
        "log": caplog.text,
        "reprs/errors": "\n".join(texts),
    }.items():
        leaked = [
            secret[:6] + "…"
            for secret in secrets
            if any(secret[start : start + 12] in text for start in range(0, len(secret) - 11, 4))
        ]
        assert not leaked, f"secret(s) {leaked} (or a fragment) leaked into {where}"
    assert cloud.databricks.live_tokens() == []


def test_provider_pickles_by_reference_with_only_its_http_policy():
    serialized = serialize_provider(DatabricksPatProvider({"request_timeout": 3.0}))
    raw = base64.b64decode(serialized)
    assert b"dynamic_providers.databricks_pat" in raw and b"DatabricksPatProvider" in raw
    assert b"def create" not in raw and len(raw) < 1000, "the class must not be pickled by value"
    restored = dill.loads(raw)
    assert type(restored) is DatabricksPatProvider
    assert restored.http_policy == {"request_timeout": 3.0}
    assert serialize_provider(DatabricksPatProvider({"request_timeout": 3.0})) == serialized, "stable: no diffs"


# -- the resource ------------------------------------------------------------------------------------


class _EchoMocks(pulumi_mocks.Mocks):
    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        return "token-id", {**args.inputs, "token_id": "token-id", "token_value": "v", "expiry_time": "e"}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Any] = []

    def RegisterResource(self, request):
        self.registrations.append(request)
        return super().RegisterResource(request)


def test_resource_creates_before_deleting_keeps_the_value_secret_and_names_project_and_stack():
    mocks = _EchoMocks()
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="platform", stack="dev", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def register() -> pulumi.Output:
        pat = DatabricksPat(
            "workspace-pat",
            DatabricksPatArgs(
                workspace_url="https://adb-1.2.azuredatabricks.net",
                tenant_id="contoso.onmicrosoft.com",
                client_id="00000000-0000-0000-0000-000000000001",
            ),
            opts=pulumi.ResourceOptions(
                delete_before_replace=True, additional_secret_outputs=["expiry_time"]
            ),
        )
        return pat.token_id

    register()
    (request,) = [r for r in monitor.registrations if "DatabricksPat" in r.type]
    assert request.type == "pulumi-python:dynamic/databricks-platform:DatabricksPat"
    assert request.deleteBeforeReplaceDefined and request.deleteBeforeReplace is False
    assert set(request.additionalSecretOutputs) == {"token_value", "expiry_time"}
    fields = request.object.fields
    assert fields["comment"].string_value == "pulumi platform/dev/workspace-pat"
    assert fields["lifetime_days"].number_value == 90
    assert "__provider" in fields
