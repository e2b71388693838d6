"""What the PAT client (token_api) and the provider (databricks_pat) exchange: errors, time limits, the
workspace and identity, tokens. No network and no SDK here, so the provider imports it for free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from urllib.parse import urlsplit

from clients.redaction import redact


class PatError(Exception):
    """A failure of the PAT provider; its text is redacted, so it is safe to show."""

    def __init__(self, message: str):
        super().__init__(redact(message))


class CredentialError(PatError):
    """No Entra ID token: the credential is not configured, Entra ID refused it, or time ran out."""


class TokenApiError(PatError):
    """Databricks refused or failed a call, or did not answer in time."""

    def __init__(
        self, message: str, *, status: int | None = None, error_code: str | None = None, reason: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.reason = redact(reason or message)
        """Why the call failed, without the "what and where" (for messages that quote it)."""


class NotAllowed(TokenApiError):
    """The identity running the operation may not read or revoke the token (it is another identity's)."""


@dataclass(frozen=True)
class HttpPolicy:
    """Time limits of every operation; the defaults are production's."""

    time_budget: float = 110.0
    """Seconds one operation (create, read or revoke) may take, all its calls, retries and pauses together,
    Entra ID's included: a failure surfaces in about two minutes."""
    request_timeout: float = 30.0
    """Seconds to connect, and to wait for each read, of one HTTP request (both SDKs' own timeout)."""
    retry_after_cap: float = 30.0
    """Longest pause between attempts, however long a Retry-After asks for."""
    cleanup_reserve: float = 20.0
    """Seconds at the end of a create's budget kept for sweeping tokens it may have minted (at most half)."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, float]) -> HttpPolicy:
        # Only known keys: a provider pickled into state by an older version may carry ones since dropped.
        known = {f.name for f in fields(cls)}
        return cls(**{key: float(value) for key, value in values.items() if key in known})


@dataclass(frozen=True)
class Workspace:
    """Where the token lives and as whom the provider calls."""

    url: str
    tenant_id: str
    client_id: str
    credential: str = "environment"
    resource_id: str | None = None
    authority_host: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


@dataclass(frozen=True)
class Owner:
    """Who created a token, as recorded when it was created (None: not recorded)."""

    username: str | None = None
    """Databricks user name (a service principal's is its application id)."""
    user_id: str | None = None
    """Databricks user id."""
    client_id: str | None = None
    """The client id the token was created with."""

    def describe(self) -> str:
        if self.username:
            text = f"Databricks user {self.username}"
            if self.user_id:
                text += f" (id {self.user_id})"
        else:
            text = "an identity whose Databricks user this state does not record"
        return f"{text}, created with client id {self.client_id}" if self.client_id else text


@dataclass(frozen=True)
class TokenInfo:
    """A token as Databricks shows it (never its value); None where Databricks said nothing usable."""

    token_id: str
    creation_time: datetime | None
    expiry_time: datetime | None


@dataclass(frozen=True)
class CreatedToken:
    """A freshly minted PAT; `token_value` is left out of the repr."""

    info: TokenInfo
    comment: str
    """The token's comment in the workspace: the resource's comment and this create's nonce."""
    owner: Owner
    token_value: str = field(repr=False)


MAX_COMMENT_LENGTH = 500
"""Longest token comment taken: it is shown in the workspace's token list and echoed whole in every message
that says which token to look for (the create adds 19 characters of its own)."""


def comment_problem(comment: object) -> str | None:
    """Why ``comment`` cannot be a token comment (not a string, too long, a control character), or None."""
    if not isinstance(comment, str):
        return f"comment must be a string, got {type(comment).__name__}"
    if len(comment) > MAX_COMMENT_LENGTH:
        return f"comment must be at most {MAX_COMMENT_LENGTH} characters, got {len(comment)}"
    bad = next((char for char in comment if not char.isprintable()), None)
    if bad is not None:
        return (
            f"comment must be printable text on one line; it holds {bad!a} at position {comment.index(bad)} "
            "(a line break, tab, NUL or other control character)"
        )
    return None


def iso8601(moment: datetime) -> str:
    """`2027-02-19T05:00:00Z`: UTC, second precision, the form outputs use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso8601(text: str) -> datetime:
    """Inverse of `iso8601` (any ISO 8601 with an offset is accepted); raises ValueError."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment.astimezone(UTC)
