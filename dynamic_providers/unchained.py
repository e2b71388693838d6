"""The one way an error leaves a dynamic provider: as the provider's own error, with no chained cause.

The engine prints the whole traceback it gets, chain included, and third-party exception text is not ours to
vouch for (it may carry a token). Each provider says how any exception becomes its own error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

_Method = TypeVar("_Method", bound=Callable[..., Any])


def unchained(as_own_error: Callable[[Exception], Exception]) -> Callable[[_Method], _Method]:
    """Decorate a provider method so that whatever it raises leaves as ``as_own_error(error)``, unchained."""

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - every failure, re-raised as the provider's own
                raise as_own_error(error) from None

        return wrapper  # type: ignore[return-value]

    return decorate
