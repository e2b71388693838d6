"""Read, start and stop one Data Factory trigger through azure-mgmt-datafactory, inside one time budget.

No Pulumi here: the trigger providers (dynamic_providers.adf_trigger) drive it, and tests run it against the
loopback ARM fake with the real azure-identity and azure-mgmt-datafactory clients.

ADF refuses to update a started trigger (`TriggerEnabledCannotUpdate`) or to delete one, and ARM templates
cannot start one: start and stop are separate long-running operations (`triggers.begin_start`/`begin_stop`).
Both are idempotent — starting a started trigger does nothing — so they are safe to retry.

What the SDK cannot do, and this module adds: one deadline per operation (`ArmPolicy.time_budget`) over every
HTTP call the operation makes, Entra ID's and the long-running operation's polls included. Its transport cuts
each attempt's connect and read timeouts to the time left, refuses to send once it has passed, and never
sleeps past it (azure-core's retries honour Retry-After, and its poller waits as long as a server asks). So a
stalled or throttling ARM fails the operation within the budget. Errors name the trigger, the factory and
what to do; their text never holds a secret (the credential's secrets are scrubbed, causes are not chained).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from clients.datafactory import arm_endpoint_for, datafactory_client
from clients.deadline import Deadline, OutOfTime
from clients.identity import CredentialError, deployer_credential
from clients.redaction import one_line, redact
from clients.transport import DeadlineTransport, RetryAfterPolicy

STARTED, STOPPED = "Started", "Stopped"
DESIRED_STATES = (STARTED, STOPPED)
# The role the deploying identity needs, and the actions it must allow, for a 403 to say what to grant.
NEEDED_ROLE = "Data Factory Contributor"
NEEDED_ACTIONS = {
    "read": "Microsoft.DataFactory/factories/triggers/read",
    "start": "Microsoft.DataFactory/factories/triggers/start/action",
    "stop": "Microsoft.DataFactory/factories/triggers/stop/action",
}


@dataclass(frozen=True)
class ArmPolicy:
    """Timeouts, retries and the time budget of one operation; the defaults are for production."""

    connect_timeout: float = 10.0
    """Seconds to establish a connection (less when the operation has less time left)."""
    read_timeout: float = 30.0
    """Seconds to wait for an answer once a request is sent (likewise)."""
    max_retries: int = 4
    """Retries after the first attempt (azure-core's policy: 408, 429, 5xx, connection errors)."""
    backoff_factor: float = 0.8
    """azure-core's exponential backoff factor between attempts without Retry-After."""
    backoff_max: float = 20.0
    """Longest pause between attempts without Retry-After."""
    retry_after_cap: float = 30.0
    """Longest Retry-After honoured (or polling pause ARM asks for), so a throttled call never stalls long."""
    poll_interval: float = 5.0
    """Seconds between polls of a start or stop, unless ARM's Retry-After asks for another pause."""
    time_budget: float = 300.0
    """Seconds one operation (read, stop, or bring to a state) may take, all its HTTP calls and polls
    together: starting an event trigger subscribes it to Event Grid, which can take a minute or two."""


@dataclass(frozen=True)
class TriggerRef:
    """Where a trigger lives."""

    subscription_id: str
    resource_group: str
    factory_name: str
    trigger_name: str

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.DataFactory/factories/{self.factory_name}/triggers/{self.trigger_name}"
        )

    def __str__(self) -> str:
        return (
            f"Data Factory trigger {self.trigger_name!r} of factory {self.factory_name!r} "
            f"(resource group {self.resource_group!r})"
        )


class TriggerError(Exception):
    """A trigger operation failed; the text names the trigger and what to do, and never holds a secret."""


class IdempotentPostRetryPolicy(RetryAfterPolicy):
    """azure-core's retry policy (reading Retry-After safely), retrying POST like GET: this client's only POSTs
    are trigger start and stop, which ADF treats as idempotent, so a 502 or a read timeout on them is worth
    another try."""

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)
        settings["methods"] = frozenset(settings["methods"]) | {"POST"}
        return settings


class TriggerApi:
    """One trigger, as the deploying identity; one instance per provider operation (one deadline)."""

    def __init__(
        self,
        ref: TriggerRef,
        *,
        credential_kind: str,
        tenant_id: str,
        client_id: str | None,
        authority_host: str | None = None,
        arm_endpoint: str | None = None,
        policy: ArmPolicy | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        self.ref = ref
        self.policy = policy or ArmPolicy()
        self.deadline = Deadline(self.policy.time_budget)
        self._client_id = client_id
        self._endpoint = arm_endpoint_for(authority_host, arm_endpoint)
        # The deadline is given explicitly: the SDK polls a long-running start or stop on a thread of its own.
        transport_options = {"connection_timeout": self.policy.connect_timeout,
                             "read_timeout": self.policy.read_timeout,
                             "max_pause": self.policy.retry_after_cap, "deadline": self.deadline}
        retries = {"retry_total": self.policy.max_retries, "retry_backoff_factor": self.policy.backoff_factor,
                   "retry_backoff_max": self.policy.backoff_max, "timeout": self.policy.time_budget}
        try:
            self._credential = deployer_credential(
                credential_kind,
                tenant_id=tenant_id,
                client_id=client_id,
                authority_host=authority_host,
                environ=environ,
                process_timeout=int(min(self.policy.read_timeout, self.policy.time_budget)),
                transport=DeadlineTransport(**transport_options),
                **retries,
            )
        except CredentialError as error:
            raise TriggerError(f"{ref}: {error}") from None
        try:
            self._client = datafactory_client(
                self._credential,
                ref.subscription_id,
                authority_host=authority_host,
                arm_endpoint=arm_endpoint,
                transport=DeadlineTransport(**transport_options),
                retry_policy=IdempotentPostRetryPolicy(**retries),
                polling_interval=self.policy.poll_interval,
            )
        except Exception:
            self._credential.close()
            raise

    def __enter__(self) -> TriggerApi:
        # Everything this thread sends (Entra ID, ARM) is cut off at the deadline, a trickling reply too.
        self.deadline.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deadline.__exit__(*exc)
        self.close()

    def close(self) -> None:
        self._client.close()
        self._credential.close()

    @property
    def _where(self) -> tuple[str, str, str]:
        return self.ref.resource_group, self.ref.factory_name, self.ref.trigger_name

    # -- operations -------------------------------------------------------------------------------
    def runtime_state(self) -> str | None:
        """Started, Stopped (or Disabled) as ADF reports it; None when the trigger (or factory) does not exist."""
        try:
            resource = self._client.triggers.get(*self._where)
        except ResourceNotFoundError:
            return None
        except Exception as error:  # noqa: BLE001 - every failure becomes one safe TriggerError
            raise self._failure("read its runtime state", "read", error) from None
        state = getattr(getattr(resource, "properties", None), "runtime_state", None)
        # The SDK's enum (TriggerRuntimeState.STARTED) for known values, a plain string for new ones.
        return str(getattr(state, "value", state)) if state else STOPPED

    def stop(self) -> str | None:
        """Stop the trigger unless it is stopped already; the runtime state it was found in (None: absent)."""
        found = self.runtime_state()
        if found is None or found == STOPPED:
            return found
        try:
            self._wait(self._client.triggers.begin_stop, "stop it")
        except TriggerGone:
            return None
        return found

    def bring_to(self, desired: str) -> str:
        """Start or stop the trigger so that its runtime state is ``desired``; the state ADF then reports."""
        verb = "start" if desired == STARTED else "stop"
        found = self.runtime_state()
        if found is None:
            raise TriggerError(
                f"{self.ref}: cannot {verb} it: it does not exist. It is created by the azure-native Trigger "
                "resource, which its TriggerRuntimeState must depend on (trigger_gate wires this)."
            )
        if found == desired:
            return found
        begin = self._client.triggers.begin_start if desired == STARTED else self._client.triggers.begin_stop
        try:
            self._wait(begin, f"{verb} it")
        except TriggerGone:
            raise TriggerError(f"{self.ref}: it was deleted while this deployment tried to {verb} it") from None
        after = self.runtime_state()
        if after != desired:
            raise TriggerError(
                f"{self.ref}: ADF reports it {after or 'gone'} after the {verb} operation completed; "
                "something else changed it at the same time. Run `pulumi up` again."
            )
        return after

    def _wait(self, begin: Callable[..., Any], what: str) -> None:
        action = "start" if what.startswith("start") else "stop"
        try:
            poller = begin(*self._where)
            # The poller's thread stops by the deadline on its own (the transport refuses to go past it).
            poller.result(timeout=max(self.deadline.left(), 0.0) + 1.0)
            if not poller.done():
                raise OutOfTime(f"{self.deadline.out_of_time()} while the operation was still running")
        except ResourceNotFoundError:
            raise TriggerGone from None
        except Exception as error:  # noqa: BLE001 - every failure becomes one safe TriggerError
            raise self._failure(what, action, error) from None

    # -- errors -----------------------------------------------------------------------------------
    def _failure(self, what: str, action: str, error: BaseException) -> TriggerError:
        reason = self._explain(action, error)
        if self.deadline.expired and not isinstance(error, OutOfTime):
            # E.g. a read cut short by the deadline: the budget, not the timeout, is what ran out.
            reason = f"{self.deadline.out_of_time()}: {reason}"
        return TriggerError(redact(f"{self.ref}: could not {what}: {reason}"))

    def _explain(self, action: str, error: BaseException) -> str:
        if isinstance(error, OutOfTime):
            budget = "" if "time_budget" in str(error) else f" (time_budget {self.deadline.budget:g}s)"
            return (f"{error}{budget}. ARM at {self._endpoint} is slow or throttling; the trigger may still be "
                    "changing. Run `pulumi up` again, or look at the trigger in ADF Studio.")
        if isinstance(error, ClientAuthenticationError) and error.status_code is None:
            return f"no Entra ID token for ARM: {one_line(str(error))}"
        if isinstance(error, HttpResponseError):
            status, code, message = error.status_code, *_arm_error(error)
            text = f"HTTP {status} {code}: {message}" if code else f"HTTP {status}: {message}"
            if status == 401:
                return f"{text}. ARM did not accept the deploying identity's token; check its tenant and cloud."
            if status == 403:
                who = f"The deploying identity (client id {self._client_id})" if self._client_id else (
                    "The deploying identity")
                actions = sorted({NEEDED_ACTIONS["read"], NEEDED_ACTIONS[action]})
                return (
                    f"{text}. {who} needs {NEEDED_ROLE} (or Contributor) on factory {self.ref.factory_name!r} or "
                    f"its resource group, or a role allowing {' and '.join(actions)}."
                )
            if status in (408, 429) or (status or 0) >= 500:
                return f"{text} (still failing after {self.policy.max_retries} retries). Run `pulumi up` again later."
            return f"{text}. ARM refused the call."
        if isinstance(error, ServiceRequestError | ServiceResponseError):
            return f"ARM at {self._endpoint} did not answer ({type(error).__name__}: {one_line(str(error))})"
        return f"{type(error).__name__}: {one_line(str(error))}"

class TriggerGone(Exception):
    """A start or stop answered 404: the trigger was deleted meanwhile."""


def _arm_error(error: HttpResponseError) -> tuple[str, str]:
    odata = getattr(error, "error", None)
    code, message = getattr(odata, "code", None), getattr(odata, "message", None)
    if not message:
        message = (getattr(error, "message", None) or str(error)).split("\n")[0]
    return code or "", one_line(message)
