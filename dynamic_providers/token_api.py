"""Databricks personal access tokens through databricks-sdk, as the deploying identity. No Pulumi here.

The `DatabricksPat` provider runs one `token_session` per operation (create, read or revoke); tests run it
against loopback fakes with the real databricks-sdk and azure-identity.

- **Create** mints with the caller's Token API under a comment unique to that create (the resource's
  comment and a nonce). databricks-sdk retries a 429 or 503 itself, and a token/create that failed may
  still have minted, so when more than one attempt went out, or the create failed, the caller's tokens
  with that comment are swept: all revoked but the one returned (all of them on failure). If the sweep
  cannot finish, the error says a token may still exist and names the comment to look for. Nothing
  depends on the server's clock or its Date header.
- **Read and revoke** use the workspace admin's token management API, so they work whoever runs
  `pulumi up`: the deploying principal is a workspace admin (admitted as one through the management-token
  headers). A caller refused token management may still read or revoke its own token (Token API); anyone
  else's is refused with a message naming the owner. A live token is never reported gone.
- **One deadline** (clients.deadline) covers the whole operation: every Entra ID and Databricks call,
  every retry and every pause, the create's sweep included (the create itself gets the budget minus
  ``cleanup_reserve``).
- **No secret in any text**: every message goes through clients.redaction, and errors leave without a
  chained cause (third-party exception text is not ours to vouch for).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from clients.databricks import DeadlineClock, workspace_client
from clients.deadline import Deadline, OutOfTime, current_deadline
from clients.identity import DATABRICKS_SCOPE, EntraTokens, identities_at_hand, management_scope_for
from clients.identity import CredentialError as IdentityError
from clients.redaction import REDACTOR, install_log_redaction
from dynamic_providers import token_replies as replies
from dynamic_providers.token_failures import explain
from dynamic_providers.token_model import (
    CreatedToken,
    CredentialError,
    HttpPolicy,
    NotAllowed,
    Owner,
    PatError,
    TokenApiError,
    TokenInfo,
    Workspace,
    comment_problem,
)

_T = TypeVar("_T")
GONE = "RESOURCE_DOES_NOT_EXIST"
_ADMISSION_ADVICE = (
    " — check that the service principal is a user of the workspace, or set workspace_resource_id so that a "
    "Contributor on the workspace is admitted with its management token"
)


@dataclass(frozen=True)
class _Sweep:
    complete: bool
    """Every token with the comment is known to be revoked (but the one kept)."""
    outcome: str


class TokenSession:
    """One operation's databricks-sdk client, as the deploying identity, inside the operation's deadline."""

    def __init__(self, workspace: Workspace, policy: HttpPolicy, deadline: Deadline, tokens: EntraTokens):
        self._workspace = workspace
        self._policy = policy
        self._deadline = deadline
        self._tokens = tokens
        self._clock = DeadlineClock(max_pause=policy.retry_after_cap)
        self._attempts_sent = 0
        """Databricks requests that went out (one authentication header built per request)."""

        def counting_token(scope: str) -> str:
            token = tokens(scope)
            if scope == DATABRICKS_SCOPE:
                self._attempts_sent += 1
            return token

        def build() -> Any:
            return workspace_client(
                workspace.url,
                None,
                workspace_resource_id=workspace.resource_id,
                authority_host=workspace.authority_host,
                token=counting_token,
                clock=self._clock,
                http_timeout_seconds=min(policy.request_timeout, policy.time_budget),
                # The SDK's own retry limit stays behind the deadline, which DeadlineClock enforces.
                retry_timeout_seconds=math.ceil(policy.time_budget) + 1,
            )

        # Entra ID first: a credential that cannot get its tokens fails before anything reaches the workspace.
        scopes = [DATABRICKS_SCOPE]
        if workspace.resource_id:
            scopes.append(management_scope_for(workspace.authority_host))
        for scope in scopes:
            self._call("Entra ID", lambda scope=scope: tokens(scope))
        # Building the client probes the workspace's discovery endpoint, retrying on its own clock.
        self._client = self._call("client set-up", lambda: deadline.run(build, "the Databricks client set-up"))

    def __repr__(self) -> str:
        return f"TokenSession({self._workspace.host})"

    # -- create -----------------------------------------------------------------------------------
    def create(self, *, lifetime_seconds: int, comment: str) -> CreatedToken:
        """Mint a PAT; after it exactly one token with its comment is live, or the error says otherwise."""
        if isinstance(lifetime_seconds, bool) or not isinstance(lifetime_seconds, int) or lifetime_seconds <= 0:
            # Databricks reads a missing or non-positive lifetime as "never expires".
            raise ValueError(f"lifetime_seconds must be a positive integer, got {lifetime_seconds!r}")
        problem = comment_problem(comment)
        if problem is not None:
            raise ValueError(problem)  # the comment is echoed in every sweep message: it must stay readable
        nonce = secrets.token_hex(8)
        token_comment = f"{comment} [{nonce}]"
        sent_before = self._attempts_sent
        created: CreatedToken | None = None
        failure: PatError | None = None
        reserve = min(self._policy.cleanup_reserve, self._deadline.budget / 2)
        with self._deadline.sooner(reserve):
            try:
                reply = self._json(
                    "token/create", "POST", "/api/2.0/token/create",
                    {"lifetime_seconds": lifetime_seconds, "comment": token_comment},
                )
                created = self._created(reply, token_comment)
            except PatError as error:
                failure = error
        attempts = self._attempts_sent - sent_before
        if created is not None and attempts == 1:
            # One request, one token: nothing else can carry this create's comment.
            return CreatedToken(created.info, token_comment, self._owner(), created.token_value)
        if attempts == 0:
            assert failure is not None
            raise failure  # nothing reached Databricks, so nothing was minted
        sweep = self._sweep(nonce, token_comment, keep=created.info.token_id if created else None)
        if created is not None and sweep.complete:
            return CreatedToken(created.info, token_comment, self._owner(), created.token_value)
        if created is not None:
            # The token in hand cannot be vouched for as the only one: give it up rather than keep a twin.
            try:
                self._revoke_own(created.info.token_id)
                fate = "which has been revoked"
            except PatError as error:
                fate = f"which could not be revoked either ({error})"
            raise TokenApiError(
                f"Databricks token/create on {self._workspace.host} was sent {attempts} times and minted a "
                f"token, {fate}, but {sweep.outcome}"
            )
        assert failure is not None
        status = failure.status if isinstance(failure, TokenApiError) else None
        error_code = failure.error_code if isinstance(failure, TokenApiError) else None
        raise TokenApiError(f"{failure}; {sweep.outcome}", status=status, error_code=error_code)

    def _created(self, reply: Any, token_comment: str) -> CreatedToken:
        if isinstance(reply, dict):
            REDACTOR.add(reply.get("token_value"))  # before anything could print it
        try:
            token_value, info = replies.created(reply)
        except replies.ReplyProblem as problem:
            raise TokenApiError(
                f"Databricks token/create on {self._workspace.host} answered with an unusable reply ({problem})"
            ) from None
        return CreatedToken(info, token_comment, Owner(), token_value)

    def _listed(self) -> list[Any]:
        """The caller's own tokens (Token API), each entry as Databricks wrote it."""
        reply = self._json("token/list", "GET", "/api/2.0/token/list")
        try:
            return replies.listed(reply)
        except replies.ReplyProblem as problem:
            reason = f"answered with an unusable reply ({problem})"
            raise TokenApiError(
                f"Databricks token/list on {self._workspace.host} {reason}", reason=reason
            ) from None

    def _sweep(self, nonce: str, token_comment: str, *, keep: str | None) -> _Sweep:
        """Revoke the caller's tokens carrying this create's nonce, but ``keep``."""
        where = (
            "look for that comment in the workspace's token list (User Settings > Developer > Access tokens, "
            "or an admin's token management) and revoke the token"
        )
        try:
            listed = self._listed()
        except PatError as error:
            return _Sweep(False, f"a token with comment {token_comment!r} may still exist ({error}); {where}")
        found, unreadable, uncommented = [], 0, []
        for entry in listed:
            # An entry that cannot be read may be this create's token: it is never skipped, only reported.
            names = replies.comment_names(entry, nonce) if isinstance(entry, dict) else None
            if names is False:
                continue
            token_id = replies.token_id_of(entry)
            if token_id is None:
                unreadable += 1
            elif names or token_id == keep:  # the token in hand is this create's, whatever its comment reads
                found.append(token_id)
            else:
                uncommented.append(token_id)
        problems = [f"{unreadable} listed without a usable token_id"] if unreadable else []
        if uncommented:
            shown = ", ".join(uncommented[:5]) + (f" and {len(uncommented) - 5} more" if len(uncommented) > 5 else "")
            problems.append(
                f"{len(uncommented)} listed without a readable comment, which may be this create's: token id(s) "
                f"{shown}"
            )
        revoked = 0
        for token_id in found:
            if token_id == keep:
                continue
            try:
                revoked += self._revoke_own(token_id)
            except PatError as error:
                problems.append(str(error))
        if problems:
            outcome = f"a token with comment {token_comment!r} may still exist ({'; '.join(problems)}); {where}"
            return _Sweep(False, outcome)
        if revoked:
            return _Sweep(True, f"the {revoked} token(s) it minted with comment {token_comment!r} were revoked")
        return _Sweep(True, f"no token with comment {token_comment!r} exists, so none was left behind")

    def _revoke_own(self, token_id: str) -> bool:
        """Revoke one of the caller's own tokens (Token API); False if it was already gone."""
        try:
            self._call("token/delete", lambda: self._client.tokens.delete(token_id))
        except TokenApiError as error:
            # The Token API answers an unknown or revoked token with either of these; any other refusal
            # leaves the token live as far as anyone can tell.
            if error.error_code == GONE or (
                error.error_code == "INVALID_PARAMETER_VALUE" and "does not exist" in error.reason
            ):
                return False
            raise
        return True

    def _owner(self) -> Owner:
        """The caller's Databricks identity, which owns what it just created (unknown if SCIM says nothing)."""
        me = self._me()
        return Owner(
            username=me[0] if me else None, user_id=me[1] if me else None, client_id=self._workspace.client_id
        )

    def _me(self) -> tuple[str, str | None] | None:
        try:
            user = self._call("SCIM Me", lambda: self._client.current_user.me())
        except PatError:
            return None
        user_name, user_id = getattr(user, "user_name", None), getattr(user, "id", None)
        if not isinstance(user_name, str) or not user_name:
            return None
        return user_name, str(user_id) if isinstance(user_id, str | int) and not isinstance(user_id, bool) else None

    # -- read and revoke -------------------------------------------------------------------------
    def read(self, token_id: str, owner: Owner) -> TokenInfo | None:
        """The token if it is live, None if it is gone (revoked, deleted or expired)."""
        try:
            reply = self._json("token management get", "GET", f"/api/2.0/token-management/tokens/{_path(token_id)}")
        except TokenApiError as error:
            if error.error_code == GONE:
                return None
            if error.status == 403:
                entry = self._own_token(token_id, owner, error, "read")
                return None if entry is None else self._live(token_id, entry)
            raise
        try:
            info = replies.token_info_of(reply)
        except replies.ReplyProblem as problem:
            raise TokenApiError(
                f"Databricks token management on {self._workspace.host} answered with an unusable reply for token "
                f"{token_id} ({problem}); nothing was changed"
            ) from None
        listed_id = info.get("token_id")
        if isinstance(listed_id, str) and listed_id != token_id:
            raise TokenApiError(
                f"Databricks token management on {self._workspace.host} answered for token {listed_id} when "
                f"asked for {token_id}; nothing was changed"
            )
        return self._live(token_id, info)

    def revoke(self, token_id: str, owner: Owner) -> bool:
        """Revoke the token; False if it was already gone (which is not an error)."""
        try:
            self._call("token management delete", lambda: self._client.token_management.delete(_path(token_id)))
        except TokenApiError as error:
            if error.error_code == GONE:
                return False
            if error.status != 403:
                raise
            if self._own_token(token_id, owner, error, "revoke") is None:
                return False
            return self._revoke_own(token_id)
        return True

    def _live(self, token_id: str, info: dict[str, Any]) -> TokenInfo | None:
        # An expiry that cannot be read keeps the token (and state's times): never "gone" on a guess.
        times = replies.times_of(token_id, info)
        if times.expiry_time is not None and times.expiry_time <= datetime.now(UTC):
            return None
        return times

    def _own_token(self, token_id: str, owner: Owner, refusal: TokenApiError, action: str) -> Any | None:
        """After token management refused: the caller's own token as its Token API lists it, None if the caller
        is its owner and it is gone; NotAllowed naming the owner when it is not the caller's."""
        try:
            listed = self._listed()
        except PatError as error:
            raise self._not_allowed(token_id, owner, refusal, action, None, str(error)) from None
        unreadable = 0
        for entry in listed:
            listed_id = replies.token_id_of(entry)
            if listed_id == token_id:
                return entry
            unreadable += listed_id is None
        if unreadable:
            # One of those may be this token: it cannot be called gone.
            raise TokenApiError(
                f"DatabricksPat cannot {action} token {token_id} on {self._workspace.host}: token management "
                f"refused ({refusal.reason}) and {unreadable} of the caller's own tokens are listed without a usable "
                "token_id, so whether this token is among them is unknown; nothing was changed"
            )
        me = self._me()
        if me is not None and owner.username is not None and me[0] == owner.username:
            return None  # the caller's own token, and not among its live ones
        raise self._not_allowed(token_id, owner, refusal, action, me[0] if me else None, None)

    def _not_allowed(
        self, token_id: str, owner: Owner, refusal: TokenApiError, action: str, caller: str | None, also: str | None
    ) -> NotAllowed:
        who = f"the identity running this ({self._tokens.description}"
        who += f", Databricks user {caller})" if caller else ")"
        text = (
            f"DatabricksPat cannot {action} token {token_id} on {self._workspace.host}: {who} may not use the "
            f"workspace's token management ({refusal.reason}), and the token is not one of its own. It belongs "
            f"to {owner.describe()}."
        )
        if also:
            text += f" Its own token list could not be read either ({also})."
        text += (
            " Nothing was changed. Run this as that identity, or as a workspace admin: with workspace_resource_id "
            "set, a principal that is Contributor on the workspace is admitted as an admin."
        )
        return NotAllowed(text, status=refusal.status, error_code=refusal.error_code)

    # -- calls and their errors -------------------------------------------------------------------
    def _json(self, operation: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A workspace call through databricks-sdk (its auth, retries and errors), its reply the raw JSON: the
        SDK's typed replies convert fields before they can be checked (token_replies)."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self._call(operation, lambda: self._client.api_client.do(method, path, body=body, headers=headers))

    def _call(self, operation: str, call: Callable[[], _T]) -> _T:
        """``call()``, its failure turned into a PatError that says what failed where and why."""
        self._clock.pauses = 0
        try:
            return call()
        except PatError:
            raise
        except IdentityError as error:
            raise CredentialError(str(error)) from None
        except Exception as error:  # noqa: BLE001 - every failure becomes a message; none is chained
            deadline = current_deadline() or self._deadline
            reason, status, error_code = explain(
                error, deadline=deadline, policy=self._policy, attempts=self._clock.pauses + 1
            )
            if operation == "client set-up" and isinstance(error, OutOfTime):
                # The SDK's discovery probe retries on its own until the deadline; its failures stay inside it.
                reason = (
                    "the workspace did not answer databricks-sdk's discovery probe (/.well-known/databricks-config) "
                    f"before {self._deadline.out_of_time()}; is workspace_url right and reachable from here?"
                )
            text = f"Databricks {operation} on {self._workspace.host} failed: {reason}"
            if status in (401, 403) and operation in ("token/create", "token/list", "client set-up"):
                text += _ADMISSION_ADVICE
            raise TokenApiError(text, status=status, error_code=error_code, reason=reason) from None


def _path(token_id: str) -> str:
    """A token id as one URL path segment: an id from state or an import never reaches another endpoint."""
    return quote(token_id, safe="")


@contextmanager
def token_session(
    workspace: Workspace, policy: HttpPolicy | None = None, *, as_whoever_runs: bool = False
) -> Iterator[TokenSession]:
    """A `TokenSession` for one operation; the operation's deadline starts now and ends when it returns.

    With ``as_whoever_runs`` (read, revoke), an identity of this process (clients.identity.identities_at_hand)
    stands in when the workspace's own cannot authenticate here: state written by another identity, or with
    another credential kind, must not stop the identity running Pulumi now. A create always runs as the
    workspace's identity: the token it mints is that identity's.
    """
    policy = policy or HttpPolicy()
    install_log_redaction()
    with Deadline(policy.time_budget) as deadline:
        try:
            tokens = EntraTokens(
                workspace.credential,
                tenant_id=workspace.tenant_id,
                client_id=workspace.client_id,
                authority_host=workspace.authority_host,
                request_timeout=min(policy.request_timeout, policy.time_budget),
                max_pause=policy.retry_after_cap,
                fallbacks=identities_at_hand(workspace.tenant_id) if as_whoever_runs else (),
            )
        except IdentityError as error:
            raise CredentialError(str(error)) from None
        try:
            yield TokenSession(workspace, policy, deadline, tokens)
        finally:
            tokens.close()
