"""The PAT client against Databricks replies of an odd shape: a live token is never read as gone, a minted one
is never left behind unsaid, and every refusal names the reply field (real databricks-sdk and azure-identity,
loopback fakes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from dynamic_providers.token_model import MAX_COMMENT_LENGTH, TokenApiError
from tests.fakes import FakeCloud, Fault
from tests.test_token_api import create, live_ids, session, with_token_info


@pytest.fixture
def cloud(fake_cloud: FakeCloud) -> FakeCloud:
    return fake_cloud


# Python's own words for a reply it could not walk: none may reach a user.
INTERNALS = ("AttributeError", "TypeError", "KeyError", "has no attribute", "object is not", "NoneType")


def rewritten_entry(rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> Fault:
    """A token management get reply whose token_info is rewritten."""
    return Fault(body=lambda reply: json.dumps({"token_info": rewrite(reply["token_info"])}).encode())


def listed_as(rewrite: Callable[[dict[str, Any]], Any]) -> Fault:
    """A token/list reply whose every entry is rewritten."""
    def body(reply: dict[str, Any]) -> bytes:
        return json.dumps({"token_infos": [rewrite(info) for info in reply["token_infos"]]}).encode()

    return Fault(body=body)


# -- an expiry that cannot be read never makes a live token gone ------------------------------------------


@pytest.mark.parametrize(
    "expiry",
    [
        True,  # databricks-sdk's _int64 reads it as 1 ms after 1970
        1,
        0,
        "seconds",
        "microseconds",
        "2099-01-01T00:00:00Z",
        [1],
        {"ms": 1},
        10**20,
        1.5e300,
    ],
    ids=["true", "one", "zero", "epoch-seconds", "epoch-microseconds", "iso-string", "list", "object", "huge",
         "float-huge"],
)
def test_a_live_token_whose_expiry_is_not_epoch_milliseconds_reads_as_live(cloud: FakeCloud, expiry: Any):
    created = create(cloud)
    real_expiry_ms = cloud.databricks.tokens[created.info.token_id].expiry_time
    value = {"seconds": real_expiry_ms // 1000, "microseconds": real_expiry_ms * 1000}.get(expiry, expiry) \
        if isinstance(expiry, str) else expiry
    cloud.databricks.inject("tm_get", rewritten_entry(lambda info: {**info, "expiry_time": value}))

    with session(cloud) as opened:
        read = opened.read(created.info.token_id, created.owner)

    assert read is not None, f"a live token with expiry_time {value!r} was read as gone"
    assert read.expiry_time is None, "an expiry that cannot be read is unknown, not a guess"
    assert live_ids(cloud) == {created.info.token_id}


def test_an_expiry_in_epoch_milliseconds_that_has_passed_still_reads_as_gone(cloud: FakeCloud):
    created = create(cloud)
    past = cloud.databricks.tokens[created.info.token_id].creation_time - 1000
    cloud.databricks.inject("tm_get", rewritten_entry(lambda info: {**info, "expiry_time": past}))
    with session(cloud) as opened:
        assert opened.read(created.info.token_id, created.owner) is None


def test_times_sent_as_strings_of_digits_are_read_as_the_times_they_are(cloud: FakeCloud):
    # proto3 JSON may write int64 fields as strings.
    def as_strings(reply: dict) -> bytes:
        info = reply["token_info"]
        return with_token_info(reply, creation_time=str(info["creation_time"]), expiry_time=str(info["expiry_time"]))

    cloud.databricks.inject("create", Fault(body=as_strings))
    created = create(cloud)
    fake = cloud.databricks.tokens[created.info.token_id]
    assert created.info.expiry_time is not None
    assert int(created.info.expiry_time.timestamp() * 1000) == fake.expiry_time


@pytest.mark.parametrize("unit", [1000, 1 / 1000], ids=["epoch-seconds", "epoch-microseconds"])
def test_a_create_reply_with_times_not_in_milliseconds_is_refused_and_its_token_revoked(cloud: FakeCloud, unit):
    def rescaled(reply: dict) -> bytes:
        info = reply["token_info"]
        return with_token_info(
            reply, creation_time=int(info["creation_time"] / unit), expiry_time=int(info["expiry_time"] / unit)
        )

    cloud.databricks.inject("create", Fault(body=rescaled))
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/seconds")

    text = str(raised.value)
    assert "token_info.expiry_time is the number" in text and "not a time in epoch milliseconds" in text
    assert "were revoked" in text
    assert live_ids(cloud) == set(), "a token whose expiry cannot be known must not be kept (nor left behind)"


# -- the sweep never skips a listed token it cannot read -----------------------------------------------------


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda info: {**info, "comment": None},
        lambda info: {key: value for key, value in info.items() if key != "comment"},
        lambda info: {**info, "comment": 7},
    ],
    ids=["null", "missing", "number"],
)
def test_a_retried_create_never_leaves_a_token_whose_listed_comment_is_unreadable_unsaid(cloud: FakeCloud, rewrite):
    # The first attempt mints and answers 503; the SDK retries; the list then hides every comment.
    cloud.databricks.inject("create", Fault(status=503, retry_after="0", process=True))
    cloud.databricks.inject("list", listed_as(rewrite))
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/hidden")

    text = str(raised.value)
    assert "may still exist" in text and "without a readable comment" in text
    (left,) = live_ids(cloud)  # the twin the list hid is the one the message warns about
    assert left in text, "the message names the id of the token that may be left"


def test_a_listed_token_with_a_string_comment_of_another_create_is_left_alone(cloud: FakeCloud):
    other = create(cloud, "someone else's token")
    cloud.databricks.inject("create", Fault(status=503, retry_after="0", process=True))
    created = create(cloud, "pulumi p/s/mine")
    assert live_ids(cloud) == {other.info.token_id, created.info.token_id}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lambda reply: json.dumps({"token_infos": {"a": 1}}).encode(), "token_infos is an object, not a list"),
        (lambda reply: b"[]", "the reply is a list, not an object"),
        (lambda reply: json.dumps({"token_infos": ["x", 3]}).encode(), "listed without a usable token_id"),
    ],
    ids=["infos-object", "reply-list", "entries-not-objects"],
)
def test_a_sweep_list_of_an_odd_shape_says_a_token_may_still_exist_naming_the_field(cloud: FakeCloud, body, field):
    cloud.databricks.inject("create", Fault(status=503, retry_after="0", process=True))
    cloud.databricks.inject("list", Fault(body=body))
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/odd-list")
    text = str(raised.value)
    assert field in text and "may still exist" in text
    assert not any(word in text for word in INTERNALS), text


# -- odd create and read replies are named by their field ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lambda reply: json.dumps({**reply, "token_info": [reply["token_info"]]}).encode(), "token_info is a list"),
        (lambda reply: json.dumps([reply]).encode(), "the reply is a list"),
        (lambda reply: json.dumps({**reply, "token_info": "x"}).encode(), "token_info is a string"),
        (lambda reply: json.dumps({**reply, "token_value": 5}).encode(), "token_value is the number 5"),
        (lambda reply: with_token_info(reply, token_id=5), "token_info.token_id is the number 5"),
        (lambda reply: with_token_info(reply, token_id="../token/list"), "token_info.token_id is a string, not"),
        (lambda reply: with_token_info(reply, expiry_time=True), "token_info.expiry_time is true"),
        (lambda reply: b"null", "token_info, which holds the token_id, is missing"),
    ],
    ids=["info-list", "reply-list", "info-string", "value-number", "id-number", "id-path", "expiry-true", "null"],
)
def test_an_odd_create_reply_is_refused_naming_the_field_and_its_token_revoked(cloud: FakeCloud, body, field):
    cloud.databricks.inject("create", Fault(body=body))
    with pytest.raises(TokenApiError) as raised:
        create(cloud, "pulumi p/s/odd")
    text = str(raised.value)
    assert "answered with an unusable reply" in text and field in text, text
    assert not any(word in text for word in INTERNALS), text
    assert live_ids(cloud) == set()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lambda reply: json.dumps({"token_info": [reply["token_info"]]}).encode(), "token_info is a list"),
        (lambda reply: b"[1, 2]", "the reply is a list"),
        (lambda reply: json.dumps({"token_info": None}).encode(), "token_info is missing"),
    ],
    ids=["info-list", "reply-list", "info-null"],
)
def test_an_odd_token_management_reply_is_an_error_naming_the_field_never_gone(cloud: FakeCloud, body, field):
    created = create(cloud)
    cloud.databricks.inject("tm_get", Fault(body=body))
    with session(cloud) as opened, pytest.raises(TokenApiError) as raised:
        opened.read(created.info.token_id, created.owner)
    text = str(raised.value)
    assert field in text and "nothing was changed" in text
    assert not any(word in text for word in INTERNALS), text


def test_a_token_id_from_state_or_an_import_stays_one_path_segment(cloud: FakeCloud):
    created = create(cloud)
    with session(cloud) as opened:
        assert opened.read("../../token/list", created.owner) is None  # no such token
    assert cloud.databricks.count("list") == 0, "the id reached another endpoint"
    assert cloud.databricks.count("tm_get") == 1


# -- the comment is bounded and readable -------------------------------------------------------------------


@pytest.mark.parametrize(
    "comment",
    ["x" * (MAX_COMMENT_LENGTH + 1), "x" * 2_000_000, "pulumi\x00p/s", "pulumi\np/s", "tab\there"],
    ids=["one-too-long", "2MB", "nul", "newline", "tab"],
)
def test_a_comment_too_long_or_with_control_characters_is_refused_before_any_token_is_minted(
    cloud: FakeCloud, comment: str
):
    with session(cloud) as opened, pytest.raises(ValueError, match="comment must") as raised:
        opened.create(lifetime_seconds=3600, comment=comment)
    assert len(str(raised.value)) < 300, "the refusal must not echo the comment"
    assert cloud.databricks.count("create") == 0


def test_a_comment_at_the_limit_is_taken_whole(cloud: FakeCloud):
    comment = "é" * MAX_COMMENT_LENGTH
    created = create(cloud, comment)
    assert cloud.databricks.tokens[created.info.token_id].comment.startswith(comment + " [")


def test_a_retried_create_keeps_its_token_when_only_that_token_is_listed_without_a_comment(cloud: FakeCloud):
    # The first attempt minted nothing (plain 503); the token in hand is known by id, whatever its comment reads.
    cloud.databricks.inject("create", Fault(status=503, retry_after="0"))
    cloud.databricks.inject("list", listed_as(lambda info: {**info, "comment": None}))
    created = create(cloud, "pulumi p/s/only-one")
    assert live_ids(cloud) == {created.info.token_id}
