"""Secrets out of every text the project emits: exception messages and log records.

Two kinds of secret reach text:

- values we know: the client secret and certificate password read from the environment, every Entra ID
  access token a credential hands us, every PAT we mint. ``REDACTOR.add`` registers them; they are replaced
  wherever they appear, raw, JSON- or repr-escaped, URL-encoded, and in part: any run of 8 or more of their
  characters, so a value cut short by a log's truncation or split by a line break leaves no fragment;
- token-shaped text we were never handed (Entra ID echoing a token in a reply it got wrong, a PAT in a body
  the SDK truncated for its debug log): JWTs (every Entra ID token is one), Databricks PATs (``dapi…``),
  bearer credentials, and the value of keys such as ``access_token`` or ``client_secret``, however much of it
  is left (a truncated body ends mid-token);
- either of those written in escapes: JSON's ``\\uXXXX`` and ``\\/``, doubled backslashes, URL-encoding. A run
  of escaped text is decoded and masked whole when what it decodes to is a secret, a piece of one, or token
  material (a long base64url run written as ``\\u`` escapes, which no JSON encoder needs for letters).

A value is registered in time and memory linear in its length, with a cap: runs of the first and last
``_FRAGMENT_SPAN`` characters of each form are kept for fragment matching, and a longer value is also masked
whole wherever it appears in full (no real token is that long; a hostile 1 MB one must not cost gigabytes).

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
from urllib.parse import quote, quote_plus, unquote

MASK = "[redacted]"
# Runs this long of a known secret are masked wherever they appear; shorter runs are too common to mean it.
_FRAGMENT = 8
# Values shorter than this are not secrets we could tell from ordinary words.
_SHORTEST_SECRET = 4
# Characters at each end of a form whose runs are registered: covers any real token (Entra ID's are a few KB)
# whole, and keeps a hostile value's cost bounded.
_FRAGMENT_SPAN = 8192

_SECRET_KEYS = (
    "access_token|refresh_token|id_token|token_value|client_secret|client_assertion|assertion|password"
)
# `"access_token": "…"`, `access_token=…`, `\"token_value\": \"…` (JSON inside a JSON string), `password%3D…`.
# The value runs to the next quote, separator or space; JSON escapes (\uXXXX, \/, \n) are part of it.
_KEY_VALUE = re.compile(
    rf"(?i)((?<![A-Za-z0-9])(?:{_SECRET_KEYS})\\?[\"']?\s*(?:[:=]|%3D)\s*\\?[\"']?)"
    r"((?:(?<!\\)\\++(?:u[0-9A-Fa-f]{4}|[nrt/])|[^\s\"'\\&,;}])++)"
)
_BEARER = re.compile(r"(?i)(\bbearer\s+)([^\s\"',;]+)")
# A JWT's header is base64url JSON, so it starts with `eyJ` (`{"`); a cut-off one is still masked.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}(?:\.[A-Za-z0-9_-]*){0,2}")
_PAT = re.compile(r"(?<![A-Za-z0-9])dapi[0-9a-f]{8,}(?:-\d+)?")
# A run of text that may hold escapes: JSON's \uXXXX and \/ (any number of backslashes: JSON inside JSON, a
# repr), URL-encoding, and the characters of tokens, secrets and URLs between them.
# Possessive, and starting at a run's first backslash: linear however many backslashes a hostile text holds.
_ESCAPABLE_RUN = re.compile(r"(?:(?<!\\)\\++(?:u[0-9A-Fa-f]{4}|/)|%[0-9A-Fa-f]{2}|[A-Za-z0-9_.~+=/-])++")
_U_ESCAPE = re.compile(r"(?<!\\)\\++u([0-9A-Fa-f]{4})")
_SLASH_ESCAPE = re.compile(r"(?<!\\)\\++/")
_ESCAPED_ALNUM = re.compile(r"\\+u00(?:3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa])")
_BASE64URL_RUN = re.compile(r"[A-Za-z0-9_-]{16,}")


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


def _runs_of(form: str) -> set[str]:
    """The runs of _FRAGMENT characters of a form; of its two ends only, for a form past twice the span."""
    if len(form) <= 2 * _FRAGMENT_SPAN:
        pieces = [form]
    else:
        pieces = [form[:_FRAGMENT_SPAN], form[-_FRAGMENT_SPAN:]]
    return {piece[start : start + _FRAGMENT] for piece in pieces for start in range(len(piece) - _FRAGMENT + 1)}


def _decoded(run: str) -> str:
    """A run with its escapes undone, nested ones too (a few rounds: a real text nests two deep at most)."""
    for _ in range(4):
        plain = unquote(_SLASH_ESCAPE.sub("/", _U_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), run)))
        if plain == run:
            break
        run = plain
    return run


class Redactor:
    """Known secret values and token-shaped text, replaced by ``[redacted]`` in any text. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._short: tuple[str, ...] = ()
        """Forms too short for fragment matching, longest first (replaced whole, after the shapes)."""
        self._long: tuple[str, ...] = ()
        """Forms too long for their middle to be registered (replaced whole, before anything else)."""
        self._fragments: frozenset[str] = frozenset()
        """Runs of _FRAGMENT characters of every form of the longer values (see _runs_of)."""

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
            long = {form for form in forms if len(form) > 2 * _FRAGMENT_SPAN}
            self._long = tuple(sorted(set(self._long) | long, key=len, reverse=True))
            runs: set[str] = set()
            for form in forms:
                if len(form) >= 2 * _FRAGMENT:
                    runs |= _runs_of(form)
            self._fragments = self._fragments | runs

    def __call__(self, text: Any) -> str:
        text = text if isinstance(text, str) else str(text)
        if not text:
            return text
        short, long, fragments = self._short, self._long, self._fragments
        # A value too long for fragments goes first, whole, before a shape inside it could split it. Then
        # escaped text, while each run is still whole; then shapes, before the other known values: masking a
        # known value inside a token would leave the rest of the token unrecognisable.
        for form in long:
            text = text.replace(form, MASK)
        if "\\" in text or "%" in text:
            text = _ESCAPABLE_RUN.sub(lambda match: self._escaped(match.group(0), fragments), text)
        text = _KEY_VALUE.sub(lambda match: match.group(1) + MASK, text)
        text = _BEARER.sub(lambda match: match.group(1) + MASK, text)
        text = _PAT.sub(MASK, _JWT.sub(MASK, text))
        for form in short:
            text = text.replace(form, MASK)
        return _mask_runs(text, fragments) if fragments else text

    def _escaped(self, run: str, fragments: frozenset[str]) -> str:
        """``run`` masked whole when it holds escapes that hide a secret, a piece of one, or token material."""
        if len(run) < _FRAGMENT or ("\\" not in run and "%" not in run):
            return run
        plain = _decoded(run)
        if plain == run:
            return run
        hidden = (
            _JWT.search(plain)
            or _PAT.search(plain)
            or _KEY_VALUE.search(plain)
            or any(form in plain for form in (*self._short, *self._long))
            or (fragments and _mask_runs(plain, fragments) != plain)
            # No JSON encoder writes letters as \u escapes: base64url material written so is a token hidden.
            or (_ESCAPED_ALNUM.search(run) and _BASE64URL_RUN.search(plain))
        )
        return MASK if hidden else run


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
