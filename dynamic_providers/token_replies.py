"""Databricks' token replies read as the JSON they are. No network, no SDK.

databricks-sdk's typed replies convert what they find before anyone can look: its ``_int64`` turns ``true``
into 1 (a time in 1970, so a live token would read as expired), a list into a TypeError, and a reply that is
not an object into an AttributeError. A token's fate must not hang on such a conversion, so token_api asks
databricks-sdk for the raw JSON (``api_client.do``: the SDK's auth, retries and errors all the same) and reads
it here:

- a time is epoch milliseconds between 2000-01-01 and 9999-12-31, or it is unknown: ``true``, 1, epoch
  seconds, microseconds, a date string or a list are all unknown, and an unknown expiry never makes a token
  gone (the caller keeps it);
- a reply of the wrong shape is a `ReplyProblem` whose text names the field and what it was (never its value:
  a reply may carry a token).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from dynamic_providers.token_model import TokenInfo

EARLIEST_MS = 946_684_800_000
"""2000-01-01T00:00:00Z in epoch milliseconds: no Databricks token is older, so anything less is seconds, a
flag (-1 "never", 0, 1, true) or garbage."""
LATEST_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z, the last moment a datetime holds; more is microseconds or garbage."""
TOKEN_ID = re.compile(r"[0-9A-Za-z_-]{1,256}")
"""A token id this client will send back (Databricks' are 64 hex digits); it goes into URL paths."""
_DIGITS = re.compile(r"[0-9]{1,16}")


class ReplyProblem(Exception):
    """A reply, or a field of it, that cannot be used; the text names it and never holds its value."""


def kind(value: Any) -> str:
    """What a JSON value is, in words: `a list`, `null`, `true`…"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, int | float):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    return f"a {type(value).__name__}"


def epoch_ms(value: Any) -> datetime | None:
    """The moment an epoch-milliseconds field names, or None when it names none this client can trust.

    Databricks sends int64 fields as JSON numbers (or, as proto3 JSON may, as strings of digits).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if not isinstance(value, int | float) or not EARLIEST_MS <= value <= LATEST_MS:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def token_id_of(entry: Any) -> str | None:
    """The entry's token id, if it is one this client can use."""
    token_id = entry.get("token_id") if isinstance(entry, dict) else None
    return token_id if isinstance(token_id, str) and TOKEN_ID.fullmatch(token_id) else None


def _object(value: Any, field: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if value is None:
        raise ReplyProblem(f"{field} is missing")
    raise ReplyProblem(f"{field} is {kind(value)}, not an object")


def created(reply: Any) -> tuple[str, TokenInfo]:
    """The token value and info of a token/create reply; ReplyProblem when it cannot be used."""
    reply = _object(reply, "the reply")
    token_value = reply.get("token_value")
    if reply.get("token_info") is None:
        raise ReplyProblem("token_info, which holds the token_id, is missing")
    info = _object(reply.get("token_info"), "token_info")
    token_id = info.get("token_id")
    if token_id_of(info) is None:
        what = "missing" if token_id is None else f"{kind(token_id)}, not a token id"
        raise ReplyProblem(f"token_info.token_id is {what}")
    if not isinstance(token_value, str) or not token_value:
        what = "missing" if token_value is None else f"{kind(token_value)}, not a token"
        raise ReplyProblem(f"token_value is {what}")
    raw_creation, raw_expiry = info.get("creation_time"), info.get("expiry_time")
    creation, expiry = epoch_ms(raw_creation), epoch_ms(raw_expiry)
    if raw_expiry is None or (isinstance(raw_expiry, int | float) and not isinstance(raw_expiry, bool)
                              and raw_expiry <= 0):
        raise ReplyProblem(f"token_info.expiry_time is {kind(raw_expiry)}: the token never expires")
    if expiry is None:
        raise ReplyProblem(f"token_info.expiry_time is {_shown(raw_expiry)}, not a time in epoch milliseconds")
    if creation is None:
        raise ReplyProblem(f"token_info.creation_time is {_shown(raw_creation)}, not a time in epoch milliseconds")
    if expiry <= creation:
        raise ReplyProblem("token_info.expiry_time is not after its creation_time")
    return token_value, TokenInfo(token_id, creation, expiry)


def listed(reply: Any) -> list[Any]:
    """The entries of a token/list reply (each may be anything); ReplyProblem when there is no list."""
    reply = _object(reply, "the reply")
    entries = reply.get("token_infos")
    if entries is None:
        return []  # the API leaves the field out when the caller has no token
    if not isinstance(entries, list):
        raise ReplyProblem(f"token_infos is {kind(entries)}, not a list")
    return entries


def token_info_of(reply: Any) -> dict[str, Any]:
    """The token_info object of a token management get reply; ReplyProblem when there is none."""
    return _object(_object(reply, "the reply").get("token_info"), "token_info")


def times_of(token_id: str, info: dict[str, Any]) -> TokenInfo:
    """A listed or fetched token's info; a time that cannot be read is None (unknown), never a guess."""
    return TokenInfo(token_id, epoch_ms(info.get("creation_time")), epoch_ms(info.get("expiry_time")))


def comment_names(entry: dict[str, Any], nonce: str) -> bool | None:
    """Whether a listed token's comment carries ``nonce``: True or False for a comment that can be read (a
    string, or another JSON value whose text holds the nonce), None when it cannot (null, missing, a number):
    such a token may be anyone's, this create's included."""
    comment = entry.get("comment")
    if isinstance(comment, str):
        return nonce in comment
    if comment is not None and nonce in json.dumps(comment, default=str):
        return True
    return None


def _shown(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:39] + "…"
        return f"the string {json.dumps(text)}"
    return kind(value)
