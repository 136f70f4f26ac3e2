"""Graph HTTP failures map onto exactly one typed error each (the engine handles each once)."""

from __future__ import annotations

import httpx
import pytest

from mailsync.providers.base import (
    CursorExpired,
    PermanentFailure,
    TemporaryFailure,
    Throttled,
)
from mailsync.providers.graph.errors import error_for_response, retry_after_seconds


def _response(status: int, body: object | None = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_429_with_fractional_retry_after_is_throttled_for_that_long() -> None:
    # GIVEN Graph's throttling answer with a fractional Retry-After
    # WHEN it is mapped
    error = error_for_response(
        _response(429, {"error": {"code": "TooManyRequests"}}, **{"Retry-After": "2.128"}), "inbox"
    )
    # THEN it is Throttled with the exact delay
    assert isinstance(error, Throttled)
    assert error.retry_after == pytest.approx(2.128)


def test_503_with_retry_after_is_throttled_and_without_is_temporary() -> None:
    assert isinstance(
        error_for_response(_response(503, **{"Retry-After": "7"}), "inbox"), Throttled
    )
    assert isinstance(error_for_response(_response(503), "inbox"), TemporaryFailure)
    assert isinstance(error_for_response(_response(502), "inbox"), TemporaryFailure)


@pytest.mark.parametrize(
    ("status", "code"),
    [(410, ""), (400, "syncStateNotFound"), (400, "resyncRequired"), (410, "SyncStateInvalid")],
)
def test_expired_delta_token_is_cursor_expired_for_the_folder(status: int, code: str) -> None:
    error = error_for_response(_response(status, {"error": {"code": code}}), "sentitems")
    assert isinstance(error, CursorExpired)
    assert error.folder == "sentitems"


def test_other_client_errors_are_permanent_and_keep_the_reason() -> None:
    error = error_for_response(
        _response(403, {"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}}),
        "inbox",
    )
    assert isinstance(error, PermanentFailure)
    assert "ErrorAccessDenied" in str(error) and "Access is denied" in str(error)


def test_retry_after_accepts_http_dates_and_ignores_garbage() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("999999") == 3600.0
