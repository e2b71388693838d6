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


# -- escaped forms -------------------------------------------------------------------------------------------


def escaped(text: str, backslashes: int = 1) -> str:
    """Every character as a JSON \\uXXXX escape (what a JSON encoder may write, and a broken reply holds)."""
    return "".join(f"{chr(92) * backslashes}u{ord(char):04x}" for char in text)


@pytest.mark.parametrize(
    "shown",
    [
        lambda s: escaped(s),
        lambda s: escaped(s, backslashes=2),  # JSON inside a JSON string, or a repr
        lambda s: "".join(escaped(c) if i % 2 else c for i, c in enumerate(s)),  # every other character
        lambda s: escaped(s)[: 6 * 20],  # cut short mid-value
        lambda s: escaped(s[9:30]),  # a piece from the middle
        lambda s: s.replace("/", "\\/"),  # JSON's escaped solidus
    ],
    ids=["u-escaped", "u-escaped-twice", "half-escaped", "escaped-prefix", "escaped-middle", "escaped-solidus"],
)
def test_a_known_secret_written_in_escapes_leaves_no_piece(shown):
    redactor = Redactor()
    secret = random_secret()
    redactor.add(secret)
    text = redactor(f'Content: {{"detail": "{shown(secret)}"}} (while calling the API)')
    assert MASK in text, text
    assert "\\u00" not in text and not any(secret[start : start + 8] in text for start in range(len(secret) - 7))
    assert text.endswith("(while calling the API)"), "only the secret goes"


@pytest.mark.parametrize("cut", [50, 321, None], ids=["cut-early", "cut-in-signature", "whole"])
def test_an_unknown_token_in_an_escaped_reply_is_masked_whole_however_it_was_cut(cut):
    # Entra ID answered 200 with a body azure-identity could not parse; its WARNING quotes the body.
    token = jwt_like()
    body = '{"token_type":"Bearer","access_token":"' + escaped(token)[: None if cut is None else 6 * cut]
    masked = Redactor()(f"ClientSecretCredential.get_token failed: JSON is invalid\nContent: {body}")
    assert "\\u00" not in masked, masked
    assert masked.endswith(f'"access_token":"{MASK}')


def test_escaped_token_material_without_its_key_is_masked():
    # A log line cut so that only the middle of the escaped token remains: base64url written as \u escapes.
    middle = escaped(secrets.token_urlsafe(40))
    masked = Redactor()(f"…{middle}")
    assert masked == f"…{MASK}"


@pytest.mark.parametrize(
    "text",
    [
        '{"authority": "https:\\/\\/login.microsoftonline.com\\/tenant\\/oauth2\\/v2.0\\/token"}',
        "scope=https%3A%2F%2Fmanagement.azure.com%2F.default&grant_type=client_credentials",
        'caf\\u00e9 na\\u00efve \\u00fcber',
        "C:\\\\path\\\\to\\\\file 100% done",
        "Invalid \\uXXXX escape: line 1 column 2375 (char 2374)",
    ],
    ids=["escaped-url", "url-encoded-scope", "escaped-accents", "backslash-path", "python-message"],
)
def test_escaped_ordinary_text_is_left_alone(text: str):
    redactor = Redactor()
    redactor.add(random_secret())
    assert redactor(text) == text


def test_a_text_made_of_backslashes_is_redacted_as_it_is():
    # A hostile body of 50,000 backslashes before a "u": the escape patterns must not backtrack over them.
    text = "\\" * 50_000 + "u00zz"
    assert Redactor()(text) == text


def test_a_huge_value_registers_in_small_memory_and_is_still_masked_whole_and_by_its_ends():
    import tracemalloc

    value = secrets.token_urlsafe(800_000)  # about a million characters
    redactor = Redactor()
    tracemalloc.start()
    try:
        redactor.add(value)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 32 * 2**20, f"registering one value took {peak / 2**20:.0f} MiB"
    assert redactor(f"echo {value} done") == f"echo {MASK} done"
    for piece in (value[:40], value[-40:], value[100:130]):
        assert piece not in redactor(f"echo {piece} done"), "a piece of either end is masked"


def test_a_token_entra_id_sends_in_escapes_reaches_no_warning_or_error(
    fake_cloud, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
):
    # Entra ID answers 200 with a truncated body whose token is written in \u escapes: azure-identity's own
    # WARNING line and its error quote the body (real azure-identity, loopback Entra ID).
    from dynamic_providers.token_model import HttpPolicy, PatError
    from tests.fakes import EntraFault
    from tests.test_token_api import create

    caplog.set_level(logging.DEBUG)
    for name in ("azure", "msal", "urllib3", "databricks.sdk"):
        caplog.set_level(logging.DEBUG, logger=name)
    fake_cloud.entra.inject(
        EntraFault(body=lambda token: ('{"token_type":"Bearer","access_token":"' + escaped(token)).encode())
    )
    quick = HttpPolicy(time_budget=4.0, request_timeout=2.0, retry_after_cap=0.3, cleanup_reserve=1.0)
    with pytest.raises(PatError) as raised:
        create(fake_cloud, policy=quick)

    (token,) = fake_cloud.entra.issued_values()
    out, err = capfd.readouterr()
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert warnings, "azure-identity's WARNING is the record under test"
    for where, text in {"warning": "\n".join(warnings), "log": caplog.text, "error": str(raised.value),
                        "stderr": err, "stdout": out}.items():
        pieces = [escaped(token[start : start + 6]) for start in range(0, len(token) - 6, 6)]
        leaked = [piece for piece in pieces if piece in text]
        assert not leaked, f"{len(leaked)} escaped pieces of the token reached the {where}"
        assert not any(token[start : start + 12] in text for start in range(0, len(token) - 12, 4)), where
