"""The deploying identity's credential as `python -m ops smoke` hands it to its SDK clients.

The azure-identity credential (clients.identity) is wrapped so that the command can tell apart what the SDKs
do not: a call that may have reached the Jobs API or ARM, and one that never left because no access token
was issued (then no run can have started); and so that a token that cannot be had is one line naming the
credential kind and where it was asked for (the authority host, the managed identity endpoint, the Azure
CLI), instead of azure-identity's exception.

An authority that cannot be reached is retried by azure-identity itself (its transport: three more connection
attempts over about five seconds), then fails the command with exit 1: Entra ID does not stay unreachable for
seconds unless something is set up wrong (the authority host, a proxy, a firewall), and waiting out --timeout
would only hide that.
"""

from __future__ import annotations

from typing import Any

from clients.identity import PUBLIC_CLOUD_AUTHORITY, CredentialError, DeployerCredential
from ops.watch import one_line


class AuthenticationFailed(CredentialError):
    """No access token could be had; the text names the credential and where it asked, never a secret."""


def token_source(kind: str, description: str, authority_host: str | None) -> str:
    """Where a credential of ``kind`` gets its tokens, in words for messages."""
    if kind == "managed_identity":
        return f"the managed identity endpoint ({description})"
    if kind == "azure_cli":
        return f"the Azure CLI ({description}; its own cloud and login)"
    return f"Entra ID at {authority_host or PUBLIC_CLOUD_AUTHORITY} (credential {kind!r}, {description})"


class CountingCredential:
    """A TokenCredential (``get_token``) over the deploying identity's azure-identity credential that counts the
    tokens it was issued and fails with AuthenticationFailed."""

    def __init__(self, deployer: DeployerCredential, kind: str, authority_host: str | None):
        self._inner = deployer.credential
        self.source = token_source(kind, deployer.description, authority_host)
        """Where its tokens come from, for messages."""
        self.issued = 0
        """Tokens issued so far: while 0, no request of the command has been sent to a service."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        try:
            token = self._inner.get_token(*scopes, **kwargs)
        except Exception as error:  # noqa: BLE001 - azure-identity raises several types; all mean "no token"
            raise AuthenticationFailed(f"authentication failed: no access token from {self.source}: "
                                       f"{_reason(error)}") from None
        self.issued += 1
        return token

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def _reason(error: BaseException) -> str:
    """azure-identity's reason in one line, saying so when the token endpoint could not be reached at all."""
    from azure.core.exceptions import ServiceRequestError

    text = one_line(str(error), 600).removeprefix("Authentication failed: ")
    unreachable, seen = False, error
    for _depth in range(10):  # the exception chain: azure-identity wraps the transport's error
        unreachable = unreachable or isinstance(seen, ServiceRequestError)
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            break
    return f"could not reach it ({text})" if unreachable else text
