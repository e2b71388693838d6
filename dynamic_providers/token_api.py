"""Client for the Azure Databricks Token API, authenticated with a service principal's Entra ID tokens.

No Pulumi here: the `DatabricksPat` provider drives it, and tests run it against loopback fakes.

Secrets (client secret, Entra ID tokens, PAT values) never appear in an exception, a log line or a repr:
they live in private attributes, are scrubbed from any text this module raises, and exceptions leave this
module without a chained cause (``raise ... from None``) because third-party exception text is not ours to
vouch for.

HTTP policy (`HttpPolicy`): every call has a (connect, read) timeout and bounded retries with exponential
backoff on 429, 502, 503, 504 and connection failures, honouring Retry-After up to a cap. One time budget
covers a whole operation (create, list/find, delete) and every HTTP call it makes, Entra ID's included: no
call, attempt or retry starts after the operation's deadline, each attempt's timeouts are cut to the time
left, and no retry pause sleeps past it. So a permanent failure surfaces within the budget (110 s by
default) with the status, Databricks' `error_code` and message. `token/list` and `token/delete` are
idempotent and retried on everything above, read timeouts included. `token/create` is retried only when the
request was certainly refused (429, 503, connection never established); after a read timeout or a
500/502/504 the token may exist, so it is not retried (that could mint two) and the client instead looks for
the token that call created and revokes it, in a slice of the budget kept for that (`cleanup_reserve`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from clients.identity import (  # noqa: F401 - re-exported: the PAT provider and its tests use them from here
    CREDENTIAL_KINDS,
    DATABRICKS_SCOPE,
    MANAGEMENT_SCOPES,
    PUBLIC_CLOUD_AUTHORITY,
    deployer_credential,
    known_authority_hosts,
    management_scope_for,
)
from clients.identity import CredentialError as IdentityError

log = logging.getLogger(__name__)


RESOURCE_ID_HEADER = "X-Databricks-Azure-Workspace-Resource-Id"
MANAGEMENT_TOKEN_HEADER = "X-Databricks-Azure-SP-Management-Token"
CREATE_PATH = "/api/2.0/token/create"
LIST_PATH = "/api/2.0/token/list"
DELETE_PATH = "/api/2.0/token/delete"

# Seconds an access token must still be valid for to be reused.
_TOKEN_REUSE_MARGIN = 300
# Clock slack when matching a token's server-side creation time to the call that created it.
_CREATION_SLACK = timedelta(seconds=1)


class PatError(Exception):
    """A failure of the PAT provider; its text is safe to show: it never holds a secret."""


class CredentialError(PatError):
    """No Entra ID token could be obtained: the credential is not configured, Entra ID refused it, or it did
    not answer within the operation's time budget."""


class TokenApiError(PatError):
    """The Databricks Token API refused or failed a call."""

    def __init__(self, message: str, *, status: int | None = None, error_code: str | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code


# -- time -------------------------------------------------------------------------------------------


_OUT_OF_TIME = "the operation's time budget ran out"
# Shortest timeout an attempt is given, so a deadline reached mid-flight fails fast rather than oddly.
_MIN_TIMEOUT = 0.01


def _time_left(deadline: float) -> float:
    """Seconds until a `time.monotonic()` deadline (negative once it has passed)."""
    return deadline - time.monotonic()


def iso8601(moment: datetime) -> str:
    """`2027-02-19T05:00:00Z`: UTC, second precision, the form outputs use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso8601(text: str) -> datetime:
    """Inverse of `iso8601` (any ISO 8601 with an offset is accepted); raises ValueError."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment.astimezone(UTC)


def _from_epoch_ms(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not epoch milliseconds")
    return datetime.fromtimestamp(value / 1000, UTC)


@dataclass(frozen=True)
class TokenInfo:
    """A token as Databricks lists it (never its value)."""

    token_id: str
    creation_time: datetime
    expiry_time: datetime | None
    """None for a token that never expires (Databricks reports -1)."""
    comment: str

    @classmethod
    def from_api(cls, info: Any) -> TokenInfo:
        """Parse a `token_info` object; raises ValueError naming the first unusable field."""
        if not isinstance(info, Mapping):
            raise ValueError("token_info is not an object")
        token_id = info.get("token_id")
        if not isinstance(token_id, str) or not token_id:
            raise ValueError("token_info.token_id is missing")
        try:
            creation_time = _from_epoch_ms(info.get("creation_time"))
        except ValueError:
            raise ValueError("token_info.creation_time is missing or not epoch milliseconds") from None
        raw_expiry = info.get("expiry_time")
        try:
            expiry_time = None if raw_expiry == -1 else _from_epoch_ms(raw_expiry)
        except ValueError:
            raise ValueError("token_info.expiry_time is missing or not epoch milliseconds") from None
        comment = info.get("comment")
        return cls(token_id, creation_time, expiry_time, comment if isinstance(comment, str) else "")


@dataclass(frozen=True)
class CreatedToken:
    """A freshly minted PAT; `token_value` is left out of the repr."""

    info: TokenInfo
    token_value: str = field(repr=False)


# -- secrets and Entra ID ---------------------------------------------------------------------------


class _Redactor:
    """Replaces known secret values in text that is about to leave this module."""

    def __init__(self, values: Iterable[str | None] = ()):
        self._values: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        # Very short values would redact ordinary words; real secrets and tokens are long.
        if value and len(value) >= 8:
            self._values.add(value)

    def __call__(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, "[redacted]")
        return text

    def __repr__(self) -> str:
        return f"_Redactor({len(self._values)} values)"


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EntraTokens:
    """Entra ID access tokens for one principal, reused per scope until shortly before they expire."""

    def __init__(
        self,
        credential: Any,
        *,
        description: str,
        secrets: Iterable[str | None] = (),
        transport: _DeadlineTransport | None = None,
    ):
        self._credential = credential
        self.description = description
        """How the principal authenticates, for error messages ("client secret from AZURE_CLIENT_SECRET")."""
        self.redact = _Redactor(secrets)
        self._transport = transport
        """The credential's HTTP transport, told each call's deadline (None: the credential runs no HTTP)."""
        self._cache: dict[str, tuple[str, float]] = {}

    def __repr__(self) -> str:
        return f"EntraTokens({self.description})"

    def token(self, scope: str, deadline: float | None = None) -> str:
        """An access token for `scope`; a request to Entra ID neither starts nor runs past `deadline`."""
        cached = self._cache.get(scope)
        if cached is not None and cached[1] - _TOKEN_REUSE_MARGIN > time.time():
            return cached[0]
        if deadline is not None and _time_left(deadline) <= 0:
            raise CredentialError(
                f"no Entra ID token for {scope} was requested ({self.description}): {_OUT_OF_TIME}"
            )
        if self._transport is not None:
            self._transport.deadline = deadline
        try:
            access = self._credential.get_token(scope)
        except Exception as error:  # noqa: BLE001 - azure-identity raises several types; all mean "no token"
            reason = _one_line(self.redact(str(error)))
            raise CredentialError(
                f"could not get an Entra ID token for {scope} ({self.description}): {reason}"
            ) from None
        self.redact.add(access.token)
        self._cache[scope] = (access.token, float(access.expires_on))
        return access.token

    def close(self) -> None:
        close = getattr(self._credential, "close", None)
        if close is not None:
            close()


def entra_tokens(
    credential_kind: str,
    *,
    tenant_id: str,
    client_id: str,
    authority_host: str | None = None,
    environ: Mapping[str, str] | None = None,
    connect_timeout: float = 10.0,
    read_timeout: float = 30.0,
) -> EntraTokens:
    """The deploying identity's credential (see clients.identity.deployer_credential), wrapped so that its
    HTTP calls stay inside each operation's deadline and every token it issues is redacted."""
    transport = _DeadlineTransport(connection_timeout=connect_timeout, read_timeout=read_timeout)
    try:
        built = deployer_credential(
            credential_kind,
            tenant_id=tenant_id,
            client_id=client_id,
            authority_host=authority_host,
            environ=environ,
            process_timeout=int(read_timeout),
            transport=transport,
            # azure-core's retry policy: a few retries, all inside 45 s (and inside the operation's
            # deadline, which the transport enforces), so Entra ID trouble surfaces quickly.
            retry_total=3,
            timeout=45,
        )
    except IdentityError as error:
        raise CredentialError(str(error)) from None
    # The CLI credential runs a subprocess, not HTTP: it gets no transport to bound.
    return EntraTokens(
        built.credential,
        description=built.description,
        secrets=built.secrets,
        transport=None if credential_kind == "azure_cli" else transport,
    )


# -- HTTP policy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts, retries and the time budget of every operation; the defaults are for production."""

    connect_timeout: float = 10.0
    """Seconds to establish a connection (at most; less when the operation has less time left)."""
    read_timeout: float = 30.0
    """Seconds to wait for a reply once the request is sent (at most, likewise)."""
    max_retries: int = 5
    """Retries after the first attempt."""
    backoff_factor: float = 1.0
    """Pause before retry n is backoff_factor * 2**(n-1) seconds (the first retry is immediate)."""
    backoff_max: float = 20.0
    """Longest pause between attempts without Retry-After."""
    retry_after_cap: float = 30.0
    """Longest Retry-After honoured: a throttled call never stalls longer than this per attempt."""
    time_budget: float = 110.0
    """Seconds one operation (create, list/find or delete) may take, all its HTTP calls together, Entra ID's
    included: nothing is sent and no attempt waits past this, so a failure surfaces in about two minutes."""
    cleanup_reserve: float = 20.0
    """Seconds at the end of a create's budget kept for revoking a token an ambiguous token/create may have
    minted (at most half of time_budget)."""


class _DeadlineTimeout(Timeout):
    """urllib3 Timeout of one call that carries the operation's deadline: urllib3 clones the timeout for
    every attempt, and each clone's connect and read timeouts are cut to the time left."""

    def __init__(self, connect: float, read: float, deadline: float):
        super().__init__(connect=connect, read=read)
        self.deadline = deadline
        self._limits = (connect, read)

    def clone(self) -> Timeout:
        left = max(_time_left(self.deadline), _MIN_TIMEOUT)
        connect, read = self._limits
        return Timeout(connect=min(connect, left), read=min(read, left))


class _BoundedRetry(Retry):
    """urllib3 Retry that caps Retry-After and gives up when the next attempt would start past a deadline."""

    def __init__(
        self,
        *args: Any,
        retry_after_cap: float = 30.0,
        deadline: float | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.retry_after_cap = retry_after_cap
        self.deadline = deadline

    def new(self, **kw: Any) -> _BoundedRetry:
        kw.setdefault("retry_after_cap", self.retry_after_cap)
        kw.setdefault("deadline", self.deadline)
        return super().new(**kw)

    def get_retry_after(self, response: Any) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:
            return None  # an unparseable Retry-After falls back to exponential backoff
        return None if seconds is None else min(seconds, self.retry_after_cap)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> _BoundedRetry:
        new_retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.deadline is not None:
            pause = (new_retry.get_retry_after(response) if response is not None else None) or (
                new_retry.get_backoff_time()
            )
            if pause >= _time_left(self.deadline):
                reason = error or ResponseError(_OUT_OF_TIME)
                raise MaxRetryError(_pool, url, reason) from None  # type: ignore[arg-type]
        return new_retry


class _BudgetedAdapter(HTTPAdapter):
    """HTTPAdapter whose Retry stops at the deadline of each call's `_DeadlineTimeout` (one client = one
    thread)."""

    def __init__(self, retry: _BoundedRetry):
        self._retry_template = retry
        super().__init__(max_retries=retry)

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        deadline = getattr(kwargs.get("timeout"), "deadline", None)
        self.max_retries = self._retry_template.new(deadline=deadline)
        return super().send(request, *args, **kwargs)


class _OutOfTime(Exception):
    """Raised by `_DeadlineTransport` instead of starting an Entra ID request after the deadline. Not an
    AzureError, so azure-core's retry policy lets it through at once."""


class _DeadlineTransport(RequestsTransport):
    """azure-core transport of the Entra ID credentials that keeps them inside the operation's deadline
    (`EntraTokens` sets it before each token request): no attempt starts after it, each attempt's timeouts
    are cut to the time left, and retry pauses (backoff or Retry-After) never sleep past it."""

    deadline: float | None = None

    def send(self, request: Any, **kwargs: Any) -> Any:
        if self.deadline is not None:
            left = _time_left(self.deadline)
            if left <= 0:
                raise _OutOfTime(f"{_OUT_OF_TIME} before Entra ID answered")
            config = self.connection_config
            connect = kwargs.get("connection_timeout") or config.timeout
            read = kwargs.get("read_timeout") or config.read_timeout
            kwargs["connection_timeout"] = min(connect, max(left, _MIN_TIMEOUT))
            kwargs["read_timeout"] = min(read, max(left, _MIN_TIMEOUT))
        return super().send(request, **kwargs)

    def sleep(self, duration: float) -> None:
        if self.deadline is not None:
            duration = min(duration, max(_time_left(self.deadline), 0.0))
        super().sleep(duration)


def _retry_policy(policy: HttpPolicy, *, idempotent: bool) -> _BoundedRetry:
    return _BoundedRetry(
        total=policy.max_retries,
        connect=policy.max_retries,
        # False: a read timeout after the request was sent is raised at once, never retried.
        read=policy.max_retries if idempotent else False,
        status=policy.max_retries,
        other=0,
        allowed_methods=frozenset({"GET", "POST"}),
        # For token/create only statuses that mean "refused, nothing was done" are retried.
        status_forcelist=frozenset({429, 502, 503, 504} if idempotent else {429, 503}),
        backoff_factor=policy.backoff_factor,
        backoff_max=policy.backoff_max,
        raise_on_status=False,
        respect_retry_after_header=True,
        retry_after_cap=policy.retry_after_cap,
    )


def _attempts(response: requests.Response) -> int:
    retries = getattr(response.raw, "retries", None)
    return len(retries.history) + 1 if retries is not None else 1


def _json_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class _AmbiguousCreate(Exception):
    """token/create failed in a way that leaves open whether a token was minted."""


# -- the client -------------------------------------------------------------------------------------


class TokenApiClient:
    """Databricks Token API of one workspace, as one service principal. Not thread-safe; close() it.

    With `workspace_resource_id`, every call also carries the management-token headers, so a principal
    that is Contributor on the workspace but not yet a workspace user is admitted on its first call.
    """

    def __init__(
        self,
        workspace_url: str,
        tokens: EntraTokens,
        *,
        workspace_resource_id: str | None = None,
        management_scope: str = MANAGEMENT_SCOPES[PUBLIC_CLOUD_AUTHORITY],
        policy: HttpPolicy | None = None,
    ):
        parts = urlsplit(workspace_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"workspace_url must be an https URL, got {workspace_url!r}")
        self._base = f"https://{parts.netloc}"
        self._host = parts.netloc
        self._tokens = tokens
        self._workspace_resource_id = workspace_resource_id
        self._management_scope = management_scope
        self._policy = policy or HttpPolicy()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = (
            f"databricks-platform-pat/1 {requests.utils.default_user_agent()}"
        )
        self._session.mount("https://", _BudgetedAdapter(_retry_policy(self._policy, idempotent=True)))
        # The longest matching prefix wins, so token/create gets its own, stricter retry policy.
        self._session.mount(
            f"{self._base}{CREATE_PATH}", _BudgetedAdapter(_retry_policy(self._policy, idempotent=False))
        )

    def __repr__(self) -> str:
        return f"TokenApiClient({self._host})"

    def __enter__(self) -> TokenApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()
        self._tokens.close()

    # -- public operations ----------------------------------------------------------------------
    def create_token(self, *, lifetime_seconds: int, comment: str) -> CreatedToken:
        """Mint a PAT. If the reply is unusable, the token is revoked before the error is raised."""
        if (
            isinstance(lifetime_seconds, bool)
            or not isinstance(lifetime_seconds, int)
            or lifetime_seconds <= 0
        ):
            # Databricks reads a missing or non-positive lifetime as "never expires".
            raise ValueError(f"lifetime_seconds must be a positive integer, got {lifetime_seconds!r}")
        deadline = self._deadline()
        # token/create gets the budget but its last slice, kept for revoking a token it may have minted.
        reserve = min(self._policy.cleanup_reserve, self._policy.time_budget / 2)
        sent_at = time.monotonic()
        try:
            response = self._send(
                "POST",
                CREATE_PATH,
                "token/create",
                {"lifetime_seconds": lifetime_seconds, "comment": comment},
                deadline=deadline - reserve,
                ambiguous_read=True,
            )
        except _AmbiguousCreate as failure:
            outcome = self._revoke_unclaimed(comment, sent_at, deadline)
            raise TokenApiError(f"{failure}; {outcome}") from None
        if response.status_code >= 500 and response.status_code != 503:
            outcome = self._revoke_unclaimed(comment, sent_at, deadline)
            error = self._failure("token/create", response)
            raise TokenApiError(
                f"{error}; {outcome}", status=error.status, error_code=error.error_code
            ) from None
        if not response.ok:
            raise self._failure("token/create", response) from None

        payload = _json_body(response)
        raw_info = payload.get("token_info") if isinstance(payload, dict) else None
        token_id = raw_info.get("token_id") if isinstance(raw_info, dict) else None
        if not isinstance(token_id, str) or not token_id:
            shape = "is not JSON" if payload is None else "has no token_info.token_id"
            outcome = self._revoke_unclaimed(comment, sent_at, deadline)
            raise TokenApiError(
                f"Databricks token/create on {self._host} answered HTTP {response.status_code} with a body "
                f"that {shape}, so the new token's id is unknown from the reply; {outcome}"
            ) from None
        try:
            info = TokenInfo.from_api(raw_info)
            token_value = payload.get("token_value")
            if not isinstance(token_value, str) or not token_value:
                raise ValueError("token_value is missing")
            if info.expiry_time is None or info.expiry_time <= info.creation_time:
                raise ValueError("token_info.expiry_time says the token never expires")
        except ValueError as problem:
            outcome = self._revoke_after_failed_create(token_id, comment, deadline)
            raise TokenApiError(
                f"Databricks token/create on {self._host} answered with an unusable reply ({problem}); "
                f"{outcome}"
            ) from None
        self._tokens.redact.add(token_value)
        log.debug("created Databricks token %s on %s, expires %s", token_id, self._host, info.expiry_time)
        return CreatedToken(info=info, token_value=token_value)

    def list_tokens(self) -> list[TokenInfo]:
        """The principal's live tokens."""
        return self._list(self._deadline())[0]

    def find_token(self, token_id: str) -> TokenInfo | None:
        """The token if it is still live (not revoked, expired or deleted), else None."""
        return next((info for info in self.list_tokens() if info.token_id == token_id), None)

    def delete_token(self, token_id: str) -> bool:
        """Revoke a token; False if it was already gone (which is not an error)."""
        return self._delete(token_id, self._deadline())

    # -- plumbing -------------------------------------------------------------------------------
    def _deadline(self) -> float:
        """When an operation starting now must be done: every call it makes shares this deadline."""
        return time.monotonic() + self._policy.time_budget

    def _out_of_time(self) -> str:
        return f"{_OUT_OF_TIME} (time_budget {self._policy.time_budget:g}s)"

    def _delete(self, token_id: str, deadline: float) -> bool:
        response = self._send("POST", DELETE_PATH, "token/delete", {"token_id": token_id}, deadline=deadline)
        if response.ok:
            return True
        error_code, _ = self._error_fields(response)
        if response.status_code == 404 or (
            response.status_code == 400
            and error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
        ):
            log.debug("Databricks token %s on %s was already gone", token_id, self._host)
            return False
        raise self._failure("token/delete", response) from None

    def _headers(self, deadline: float) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._tokens.token(DATABRICKS_SCOPE, deadline)}"}
        if self._workspace_resource_id:
            headers[RESOURCE_ID_HEADER] = self._workspace_resource_id
            headers[MANAGEMENT_TOKEN_HEADER] = self._tokens.token(self._management_scope, deadline)
        return headers

    def _send(
        self,
        method: str,
        path: str,
        operation: str,
        body: dict[str, Any] | None = None,
        *,
        deadline: float,
        ambiguous_read: bool = False,
    ) -> requests.Response:
        headers = self._headers(deadline)
        if _time_left(deadline) <= 0:
            raise TokenApiError(
                f"Databricks {operation} on {self._host} was not attempted: {self._out_of_time()}"
            )
        policy = self._policy
        try:
            response = self._session.request(
                method,
                f"{self._base}{path}",
                json=body,
                headers=headers,
                timeout=_DeadlineTimeout(policy.connect_timeout, policy.read_timeout, deadline),
                allow_redirects=False,
            )
        except requests.RequestException as error:
            reason, sent = self._transport_reason(error, deadline)
            message = f"Databricks {operation} on {self._host} failed: {reason}"
            if ambiguous_read and sent:
                raise _AmbiguousCreate(message) from None
            raise TokenApiError(message) from None
        if response.is_redirect:
            # Token API calls never redirect; a wrong workspace URL can answer with a login page redirect.
            location = _one_line(response.headers.get("Location", "?"), 200)
            raise TokenApiError(
                f"Databricks {operation} on {self._host} was redirected (HTTP {response.status_code}) to "
                f"{location}; is workspace_url the workspace's URL?",
                status=response.status_code,
            ) from None
        log.debug(
            "%s %s on %s -> HTTP %s after %d attempt(s)",
            method,
            path,
            self._host,
            response.status_code,
            _attempts(response),
        )
        return response

    def _transport_reason(self, error: requests.RequestException, deadline: float) -> tuple[str, bool]:
        """What went wrong, in words, and whether the request may have reached the server."""
        cause: BaseException | None = error
        for argument in error.args:
            if isinstance(argument, MaxRetryError):
                cause = argument.reason
                break
            if isinstance(argument, BaseException):
                cause = argument
                break
        policy = self._policy
        # A timeout that ended at the deadline was cut short by it, not by the timeout setting.
        cut_short = _time_left(deadline) < _MIN_TIMEOUT
        if isinstance(error, requests.exceptions.ReadTimeout) or isinstance(cause, ReadTimeoutError):
            if cut_short:
                return f"no reply before {self._out_of_time()}", True
            return f"no reply within the {policy.read_timeout:g}s read timeout", True
        if isinstance(error, requests.exceptions.SSLError):
            return f"TLS error: {_one_line(self._tokens.redact(str(cause or error)), 300)}", False
        if isinstance(cause, NewConnectionError):
            detail = _one_line(str(cause).rpartition(": ")[2], 200)
            return f"could not connect ({detail}; retries exhausted)", False
        if isinstance(cause, ConnectTimeoutError) or isinstance(error, requests.exceptions.ConnectTimeout):
            if cut_short:
                return f"could not connect before {self._out_of_time()}", False
            return f"could not connect within the {policy.connect_timeout:g}s connect timeout", False
        if isinstance(cause, ProtocolError) or isinstance(error, requests.exceptions.ChunkedEncodingError):
            return "the connection broke before the reply was complete", True
        return f"{type(error).__name__}: {_one_line(self._tokens.redact(str(error)), 300)}", True

    def _error_fields(self, response: requests.Response) -> tuple[str | None, str | None]:
        payload = _json_body(response)
        if isinstance(payload, dict):
            error_code = payload.get("error_code")
            message = payload.get("message")
            return (
                str(error_code) if error_code else None,
                _one_line(self._tokens.redact(str(message))) if message else None,
            )
        text = _one_line(self._tokens.redact(response.text or ""), 200)
        return None, text or None

    def _failure(self, operation: str, response: requests.Response) -> TokenApiError:
        error_code, message = self._error_fields(response)
        text = f"Databricks {operation} on {self._host} failed: HTTP {response.status_code}"
        if error_code:
            text += f" {error_code}"
        if message:
            text += f": {message}"
        attempts = _attempts(response)
        if attempts > 1:
            text += f" (gave up after {attempts} attempts)"
        if response.status_code in (401, 403):
            text += (
                " — check that the service principal is a user of the workspace, or set "
                "workspace_resource_id so that a Contributor on the workspace is admitted "
                "with its management token"
            )
        return TokenApiError(text, status=response.status_code, error_code=error_code)

    def _list(self, deadline: float) -> tuple[list[TokenInfo], requests.Response]:
        response = self._send("GET", LIST_PATH, "token/list", deadline=deadline)
        if not response.ok:
            raise self._failure("token/list", response) from None
        payload = _json_body(response)
        raw_infos = payload.get("token_infos", []) if isinstance(payload, dict) else None
        if not isinstance(raw_infos, list):
            raise TokenApiError(f"Databricks token/list on {self._host} answered a body without token_infos")
        infos = []
        for raw in raw_infos:
            try:
                infos.append(TokenInfo.from_api(raw))
            except ValueError:
                continue  # one odd entry must not hide the others
        return infos, response

    def _revoke_after_failed_create(self, token_id: str, comment: str, deadline: float) -> str:
        try:
            self._delete(token_id, deadline)
        except PatError as error:
            return (
                f"the new token {token_id} (comment {comment!r}) could NOT be revoked ({error}); "
                "revoke it by hand in the workspace's token list"
            )
        return f"the new token {token_id} has been revoked"

    def _revoke_unclaimed(self, comment: str, sent_at: float, deadline: float) -> str:
        """After an ambiguous create: find the token that call minted (by comment and server-side creation
        time, measured against the list reply's Date header) and revoke it; say what happened."""
        try:
            infos, response = self._list(deadline)
            server_now = parsedate_to_datetime(response.headers["Date"])
        except (PatError, KeyError, TypeError, ValueError) as error:
            return (
                f"a token with comment {comment!r} may have been created and could not be looked up "
                f"({error}); revoke it in the workspace's token list if it is there"
            )
        elapsed = timedelta(seconds=time.monotonic() - sent_at)
        earliest = server_now - elapsed - _CREATION_SLACK
        candidates = [info for info in infos if info.comment == comment and info.creation_time >= earliest]
        if not candidates:
            return (
                f"no token with comment {comment!r} was created by this call, so there is nothing to revoke"
            )
        if len(candidates) > 1:
            return (
                f"{len(candidates)} tokens with comment {comment!r} were created meanwhile, so none was "
                "revoked automatically; revoke the one this call created in the workspace's token list"
            )
        return self._revoke_after_failed_create(candidates[0].token_id, comment, deadline)
