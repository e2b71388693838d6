"""Why a Databricks call of the PAT client failed, in words a user can act on. No network.

databricks-sdk raises its own errors (one class per status, the status itself not kept), requests' errors for
the transport, and clients.deadline.OutOfTime when the operation's deadline ends a retry loop; `explain`
turns any of them into one line, with the HTTP status and Databricks error_code when there were some.
"""

from __future__ import annotations

import requests
from databricks.sdk.errors import DatabricksError
from databricks.sdk.errors.platform import STATUS_CODE_MAPPING

from clients.databricks import RedirectRefused, last_status
from clients.deadline import Deadline, OutOfTime
from clients.redaction import one_line
from dynamic_providers.token_model import HttpPolicy

_STATUS_OF = {error_class: status for status, error_class in STATUS_CODE_MAPPING.items()}


def status_of(error: DatabricksError) -> int | None:
    """The HTTP status of the reply the error came from (databricks-sdk keeps only a class per status)."""
    status = last_status()
    if status is not None and status >= 400:
        return status
    return next((_STATUS_OF[cls] for cls in type(error).__mro__ if cls in _STATUS_OF), None)


def explain(
    error: BaseException, *, deadline: Deadline, policy: HttpPolicy, attempts: int, count: bool = True
) -> tuple[str, int | None, str | None]:
    """What went wrong, in words; the HTTP status and Databricks error_code when there were some.

    ``attempts``: requests the call sent (retries included), said when more than one and ``count``.
    """
    gave_up = f" (gave up after {attempts} attempts)" if count and attempts > 1 else ""
    last = error.__context__ or error.__cause__
    if isinstance(error, OutOfTime | TimeoutError) and isinstance(last, Exception):
        if not isinstance(last, DatabricksError) and deadline.expired:
            return f"no reply before {deadline.out_of_time()}", None, None
        reason, status, error_code = explain(last, deadline=deadline, policy=policy, attempts=attempts, count=False)
        asked = getattr(last, "retry_after_secs", None)
        past = f"the next attempt would start past the deadline (time_budget {deadline.budget:g}s)"
        if isinstance(error, OutOfTime) and isinstance(asked, int) and asked > policy.retry_after_cap:
            why = f"Retry-After asked for {asked}s, capped at {policy.retry_after_cap:g}s, and {past}"
        elif isinstance(error, OutOfTime) and error.wanted_pause is not None:
            why = past
        else:
            why = deadline.out_of_time()
        return f"{reason}; gave up after {attempts} attempt(s): {why}", status, error_code
    if isinstance(error, DatabricksError):
        status, error_code = status_of(error), error.error_code
        # For 401/403 the SDK appends its config and environment variable names; for a body it cannot
        # parse, a bug-report invitation and the whole request log: noise here.
        message = str(error).split(". Config: ")[0].split(" This is likely a bug")[0]
        prefix = f"HTTP {status}" if status else "HTTP error"
        text = f"{prefix} {error_code}: {one_line(message)}" if error_code else f"{prefix}: {one_line(message)}"
        return text + gave_up, status, error_code
    if isinstance(error, RedirectRefused):
        location = one_line(error.location, 200)
        reason = f"was redirected (HTTP {error.status}) to {location}; is workspace_url the workspace's URL?"
        return reason, error.status, None
    if deadline.expired or isinstance(error, OutOfTime):
        return f"no reply before {deadline.out_of_time()}", None, None
    timeout = min(policy.request_timeout, policy.time_budget)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return f"could not connect within the {timeout:g}s request timeout{gave_up}", None, None
    if isinstance(error, requests.exceptions.ReadTimeout):
        return f"no reply within the {timeout:g}s request timeout{gave_up}", None, None
    if isinstance(error, requests.exceptions.SSLError):
        return f"TLS error: {one_line(error, 300)}{gave_up}", None, None
    if isinstance(error, requests.exceptions.ChunkedEncodingError) or "Connection aborted" in str(error):
        return f"the connection broke before the reply was complete{gave_up}", None, None
    if isinstance(error, requests.exceptions.ConnectionError):
        detail = one_line(str(error).rpartition(": ")[2].rstrip("'\")"), 200)
        return f"could not connect ({detail}){gave_up}", None, None
    if isinstance(error, requests.exceptions.JSONDecodeError):
        return f"answered with a body that is not JSON ({one_line(error, 200)})", None, None
    return f"{type(error).__name__}: {one_line(error, 300)}", None, None
