"""Retry-After as a server may really send it, read into a bounded number of seconds.

Both SDKs trust the header. databricks-sdk takes ``int(value)`` and sleeps that plus a second of jitter, so
``99999999999999999999`` overflows ``time.sleep`` and ``-5`` makes it raise; azure-core takes ``float(value)``
or an HTTP-date, so ``1e400`` overflows and a value that is neither raises ValueError out of its retry policy.
Either way one odd header from a proxy or a throttling gateway ended a call with a Python exception. Here a
value is either a number of seconds within [0, MAX_RETRY_AFTER] or None (unreadable: the SDK's own backoff
applies). Standard library only.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 86400.0
"""A day: no SDK is asked to sleep longer for one retry (each caller bounds it further by its deadline)."""
_MAX_LENGTH = 64
"""Longer than any delay or HTTP-date: such a value is not read (float() of a million digits takes a while)."""


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds ``value`` (a Retry-After header: delay-seconds or an HTTP-date) asks to wait, within
    [0, MAX_RETRY_AFTER]: a negative delay or a date in the past is 0, a huge one or a date far ahead is the
    cap. None when there is no value or it is neither a number nor a date (NaN, garbage)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > _MAX_LENGTH:
        # Only digits can be this long and still mean something: a delay beyond any cap.
        return MAX_RETRY_AFTER if text.isdigit() else None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, now or datetime.now(UTC))
        if seconds is None:
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _seconds_until(text: str, now: datetime) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses without a zone
        moment = moment.replace(tzinfo=UTC)
    return (moment - now).total_seconds()


def bounded_pause(seconds: float, longest: float) -> float:
    """A pause an SDK asked for (a Retry-After, a backoff), within [0, ``longest``]; NaN is 0."""
    if math.isnan(seconds) or math.isnan(longest):
        return 0.0
    return min(max(seconds, 0.0), max(longest, 0.0))
