"""Secrets out of every text the project emits: exception messages and log records.

Two kinds of secret reach text:

- values we know: the client secret and certificate password read from the environment, every Entra ID
  access token a credential hands us, every PAT we mint. ``REDACTOR.add`` registers them; they are replaced
  wherever they appear, raw, JSON- or repr-escaped, URL-encoded, and in part: any run of 8 or more of their
  characters, so a value cut short by a log's truncation or split by a line break leaves no fragment;
- token-shaped text we were never handed (Entra ID echoing a token in a reply it got wrong, a PAT in a body
  the SDK truncated for its debug log): JWTs (every Entra ID token is one), Databricks PATs (``dapi…``),
  bearer credentials, and the value of keys such as ``access_token`` or ``client_secret``.

``install_log_redaction()`` passes every log record of the process through the same redaction when the record
is made (a record factory: a filter on ``azure.identity`` would miss the records of its child loggers, which
propagate past their ancestors' filters).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
# Runs this long of a known secret are masked wherever they appear; shorter runs are too common to mean it.
_FRAGMENT = 8
# Values shorter than this are not secrets we could tell from ordinary words.
_SHORTEST_SECRET = 4

_SECRET_KEYS = (
    "access_token|refresh_token|id_token|token_value|client_secret|client_assertion|assertion|password"
)
# `"access_token": "…"`, `access_token=…`, `\"token_value\": \"…` (JSON inside a JSON string), `password%3D…`.
_KEY_VALUE = re.compile(
    rf"(?i)((?<![A-Za-z0-9])(?:{_SECRET_KEYS})\\?[\"']?\s*(?:[:=]|%3D)\s*\\?[\"']?)((?:\\[nrt]|[^\s\"'\\&,;}}])+)"
)
_BEARER = re.compile(r"(?i)(\bbearer\s+)([^\s\"',;]+)")
# A JWT's header is base64url JSON, so it starts with `eyJ` (`{"`); a cut-off one is still masked.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}")
_PAT = re.compile(r"(?<![A-Za-z0-9])dapi[0-9a-f]{8,}(?:-\d+)?")


def _forms(value: str) -> set[str]:
    """How a value can appear in text: raw, JSON- and repr-escaped, URL-encoded. (Each line of a value split by
    a line break is a run of the raw form, so fragment matching finds it.)"""
    return {
        value,
        json.dumps(value)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
        quote(value, safe=""),
        quote_plus(value),
    }


class Redactor:
    """Known secret values and token-shaped text, replaced by ``[redacted]`` in any text. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._short: tuple[str, ...] = ()
        """Forms of values too short for fragment matching, longest first (replaced whole)."""
        self._fragments: frozenset[str] = frozenset()
        """Every run of _FRAGMENT characters of every form of the longer values."""

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} values)"

    def add(self, value: Any) -> None:
        """Mask ``value`` from now on (values under 4 characters are ignored: they would mask ordinary text)."""
        if not isinstance(value, str) or len(value) < _SHORTEST_SECRET:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            forms = _forms(value)
            short = {form for form in forms if len(form) < 2 * _FRAGMENT}
            self._short = tuple(sorted(set(self._short) | short, key=len, reverse=True))
            runs = {
                form[start : start + _FRAGMENT]
                for form in forms - short
                for start in range(len(form) - _FRAGMENT + 1)
            }
            self._fragments = self._fragments | runs

    def __call__(self, text: Any) -> str:
        text = text if isinstance(text, str) else str(text)
        if not text:
            return text
        # Shapes first: masking a known value inside a token would leave the rest unrecognisable.
        text = _KEY_VALUE.sub(lambda match: match.group(1) + MASK, text)
        text = _BEARER.sub(lambda match: match.group(1) + MASK, text)
        text = _PAT.sub(MASK, _JWT.sub(MASK, text))
        short, fragments = self._short, self._fragments
        for form in short:
            text = text.replace(form, MASK)
        return _mask_runs(text, fragments) if fragments else text


def _mask_runs(text: str, fragments: frozenset[str]) -> str:
    """Replace every stretch of ``text`` covered by known fragments with one mask."""
    spans: list[list[int]] = []
    for start in range(len(text) - _FRAGMENT + 1):
        if text[start : start + _FRAGMENT] in fragments:
            end = start + _FRAGMENT
            if spans and start <= spans[-1][1]:
                spans[-1][1] = end
            else:
                spans.append([start, end])
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in spans:
        pieces += [text[position:start], MASK]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


REDACTOR = Redactor()
"""The process's redactor: every secret any client of this project has seen, for every text it emits."""


def redact(text: Any) -> str:
    """``text`` with every known secret and token-shaped value masked."""
    return REDACTOR(text)


def one_line(text: Any, limit: int = 400) -> str:
    """Redacted, whitespace collapsed, at most ``limit`` characters: fit for an error message."""
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_install_lock = threading.Lock()
_installed = False


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record still must not print its arguments raw
        message = f"{record.msg!r} {record.args!r}"
    record.msg, record.args = redact(message), ()
    if record.exc_info:
        # Formatters print exc_text when it is set; the exception's own text may hold a token.
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)


def install_log_redaction() -> None:
    """Redact every log record the process makes from now on (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        make_record = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _installed = True
