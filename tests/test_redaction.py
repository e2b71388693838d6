"""Secrets out of every text (clients.redaction): known values in any form, token-shaped text, log records."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import uuid
from urllib.parse import quote, quote_plus

import pytest

from clients.redaction import MASK, REDACTOR, Redactor, install_log_redaction


def random_secret() -> str:
    return secrets.token_urlsafe(30) + "~/+&="  # characters that JSON- and URL-encoding change


def jwt_like() -> str:
    parts = [json.dumps({"typ": "JWT", "alg": "RS256"}).encode(), json.dumps({"aud": "x"}).encode(), b"sig" * 20]
    return ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in parts)


@pytest.mark.parametrize(
    "shown",
    [
        lambda s: s,
        lambda s: json.dumps({"detail": s}),
        lambda s: repr(s),
        lambda s: quote(s, safe=""),
        lambda s: quote_plus(s),
        lambda s: s[:20],  # cut short, e.g. by a debug log's truncation
        lambda s: s[7:31],  # a piece from the middle
    ],
    ids=["raw", "json", "repr", "url", "url-plus", "prefix", "middle"],
)
def test_a_known_secret_leaves_no_fragment_in_any_form(shown):
    redactor = Redactor()
    secret = random_secret()
    redactor.add(secret)
    text = redactor(f"error: {shown(secret)} (while calling the API)")
    assert MASK in text
    assert not any(secret[start : start + 8] in text for start in range(len(secret) - 7))
    assert text.startswith("error: ") and text.endswith("(while calling the API)"), "only the secret goes"


def test_a_secret_split_by_a_line_break_leaves_no_piece():
    redactor = Redactor()
    secret = random_secret()
    split = f"{secret[:17]}\n{secret[17:]}"
    redactor.add(split)
    for text in (split, " ".join(split.split()), repr(split), json.dumps(split)):
        masked = redactor(f"header value {text}!")
        assert secret[:17] not in masked and secret[17:] not in masked, masked


def test_a_short_secret_is_masked_whole():
    redactor = Redactor()
    redactor.add("pw12")
    assert redactor("password pw12 given") == f"password {MASK} given"


@pytest.mark.parametrize(
    "text",
    [
        'Content: {"token_type":"Bearer","access_token":"abc.def-123',
        "access_token=abc123&expires_in=3599",
        '{\\"token_value\\": \\"dapi0123456789abcdef\\"}',
        "client_secret%3Dabc123%26x",
        "Authorization: Bearer abc.def.ghi",
        "echo {jwt} back",
        "echo {pat}-2 back",
    ],
)
def test_token_shaped_text_is_masked_without_being_known(text: str):
    jwt = jwt_like()
    text = text.replace("{jwt}", jwt).replace("{pat}", "dapi" + secrets.token_hex(16))
    masked = Redactor()(text)
    assert MASK in masked
    for value in ("abc123", "abc.def", "dapi0123456789", jwt[:12]):
        assert value not in masked


def test_ordinary_text_is_left_alone():
    redactor = Redactor()
    redactor.add(random_secret())
    text = (
        f"Databricks token/create on adb-1.2.azuredatabricks.net failed: token {secrets.token_hex(32)} of client "
        f"{uuid.uuid4()} with comment 'pulumi p/s/pat [0123456789abcdef]' (HTTP 503 TEMPORARILY_UNAVAILABLE)"
    )
    assert redactor(text) == text


def test_log_records_are_redacted_when_made_for_every_logger_arguments_and_tracebacks_included(
    caplog: pytest.LogCaptureFixture,
):
    install_log_redaction()
    secret = random_secret()
    REDACTOR.add(secret)
    caplog.set_level(logging.DEBUG)
    child = logging.getLogger("azure.identity._internal.some_child")
    child.warning("get_token failed: %s", f"echo {secret}")
    child.debug("body %(body)s", {"body": json.dumps({"client_secret": "never-registered-value"})})
    try:
        raise ValueError(f"bad {quote(secret, safe='')}")
    except ValueError:
        logging.getLogger("databricks.sdk").exception("request failed")

    assert caplog.text.count(MASK) >= 3
    assert secret[:8] not in caplog.text and quote(secret, safe="")[:12] not in caplog.text
    assert "never-registered-value" not in caplog.text
    assert all(not record.args for record in caplog.records), "arguments are formatted, then masked"
