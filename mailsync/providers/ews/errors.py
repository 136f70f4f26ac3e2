"""Turn what exchangelib raises into the one typed error the engine handles.

The retry policy is always ``FailFast``, so exchangelib never sleeps and
re-raises every server complaint at once. A pure function maps each to our
errors, line by line against the EWS reference:

- ErrorServerBusy from the server carries BackOffMilliseconds → ``Throttled``.
  exchangelib also *re-raises* transient faults as ErrorServerBusy ("Reraised
  from ErrorInternalServerTransientError" for a 503, from ErrorTimeoutExpired
  for a dropped connection, "Caused by closed connection"): those are outages,
  not throttling, and become ``TemporaryFailure``.
- ErrorInvalidSyncStateData (and a sync folder that vanished) → ``CursorExpired``.
- A refused login → ``AuthFailed``; refused access, an unknown mailbox or
  impersonation denied → ``PermanentFailure``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests
from exchangelib import errors as ews_errors

from mailsync.providers.base import (
    AuthFailed,
    CursorExpired,
    PermanentFailure,
    ProviderError,
    TemporaryFailure,
    Throttled,
)

DEFAULT_BACK_OFF_SECONDS = 30.0
MAX_BACK_OFF_SECONDS = 3600.0

# Server answers that mean "not now" (every EWS response code is a TransportError
# subclass in exchangelib, so the transient ones are named one by one).
TRANSIENT_CODES = (
    ews_errors.ErrorInternalServerTransientError,
    ews_errors.ErrorTimeoutExpired,
    ews_errors.ErrorTooManyObjectsOpened,
    ews_errors.ErrorExceededConnectionCount,
    ews_errors.ErrorMailboxStoreUnavailable,
    ews_errors.ErrorMailboxMoveInProgress,
    ews_errors.ErrorConnectionFailed,
)
# Failures of the exchange itself: no usable answer arrived.
TRANSIENT = (
    *TRANSIENT_CODES,
    ews_errors.MalformedResponseError,
    ews_errors.SOAPError,
    ews_errors.TransportError,
    ews_errors.CASError,
    requests.exceptions.RequestException,
)
RESYNC = (
    ews_errors.ErrorInvalidSyncStateData,
    ews_errors.ErrorSyncFolderNotFound,
)
REFUSED = (
    ews_errors.ErrorAccessDenied,
    ews_errors.ErrorImpersonateUserDenied,
    ews_errors.ErrorImpersonationDenied,
    ews_errors.ErrorNonExistentMailbox,
    ews_errors.ErrorFolderNotFound,
    ews_errors.ErrorMailboxConfiguration,
)


def _is_reraised(exc: ews_errors.ErrorServerBusy) -> bool:
    """True when exchangelib made this ErrorServerBusy out of an outage."""
    text = str(exc)
    return (
        isinstance(exc.__context__, (*TRANSIENT_CODES, requests.exceptions.RequestException))
        or text.startswith("Reraised from")
        or text.startswith("Caused by")
    )


def error_for(exc: BaseException, folder: str) -> ProviderError:
    """The typed error for an exception raised inside exchangelib."""
    detail = f"{type(exc).__name__}: {exc}"[:400]
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, ews_errors.ErrorServerBusy):
        if _is_reraised(exc):
            return TemporaryFailure(detail)
        back_off = exc.back_off if exc.back_off else DEFAULT_BACK_OFF_SECONDS
        return Throttled(min(max(float(back_off), 0.0), MAX_BACK_OFF_SECONDS), detail)
    if isinstance(exc, RESYNC):
        return CursorExpired(folder, detail)
    if isinstance(exc, ews_errors.UnauthorizedError):
        return AuthFailed(f"Exchange refused the credentials: {detail}")
    if isinstance(exc, REFUSED):
        return PermanentFailure(detail)
    if isinstance(exc, TRANSIENT_CODES):
        return TemporaryFailure(detail)
    if isinstance(exc, ews_errors.ResponseMessageError):
        return PermanentFailure(detail)
    if isinstance(exc, TRANSIENT):
        return TemporaryFailure(detail)
    if isinstance(exc, ews_errors.EWSError):
        return PermanentFailure(detail)
    raise TypeError(f"not an exchangelib error: {detail}")


@contextmanager
def translated(folder: str) -> Iterator[None]:
    """Run exchangelib calls; whatever they raise leaves as our typed error."""
    try:
        yield
    except (ews_errors.EWSError, requests.exceptions.RequestException) as exc:
        raise error_for(exc, folder) from exc
