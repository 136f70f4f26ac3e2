"""Turn a Graph HTTP failure into the one typed error the engine handles.

Kept apart from the transport so the mapping table is a pure function that
tests can read line by line against the Graph documentation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from mailsync.providers.base import (
    CursorExpired,
    PermanentFailure,
    ProviderError,
    TemporaryFailure,
    Throttled,
)

DEFAULT_RETRY_AFTER_SECONDS = 10.0
MAX_RETRY_AFTER_SECONDS = 3600.0

# Codes Graph uses (with 400 or 410) when a delta token can no longer be used.
RESYNC_CODES = frozenset(
    {"syncstatenotfound", "resyncrequired", "syncstateinvalid", "invaliddeltatoken"}
)


def error_code(response: httpx.Response) -> str:
    """The ``error.code`` of a Graph error body, or '' when there is none."""
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code", ""))
    return ""


def error_message(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:300]
    return ""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: Graph sends (possibly fractional) seconds; RFC 9110 allows a date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def error_for_response(response: httpx.Response, folder: str) -> ProviderError:
    """The typed error for a non-2xx response (401 is the transport's, see there)."""
    status = response.status_code
    code = error_code(response)
    detail = f"HTTP {status} {code} {error_message(response)}".strip()
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    if status == 429 or (status == 503 and retry_after is not None):
        return Throttled(
            retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS, detail
        )
    if status == 410 or code.lower() in RESYNC_CODES:
        return CursorExpired(folder, detail)
    if status >= 500:
        return TemporaryFailure(detail)
    return PermanentFailure(detail, status=status)
