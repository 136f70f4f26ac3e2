"""The [push] section's checks that keep subscriptions alive, and where lifecycle events go."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsync.config import ConfigError, load_settings
from mailsync.config.push import PushSettings


def _error(tmp_path: Path, push: str) -> str:
    path = tmp_path / "mailsync.toml"
    path.write_text(f"[push]\n{push}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={}, cwd=tmp_path)
    return str(caught.value)


def test_a_renewal_margin_shorter_than_two_checks_is_refused(tmp_path: Path) -> None:
    # GIVEN subscriptions renewed 5 minutes before expiry, but checked only every 10 minutes
    message = _error(tmp_path, "renew_before_minutes = 5\ncheck_seconds = 600")
    # THEN the margin is named with the check interval it must cover twice
    assert "push.renew_before_minutes" in message
    assert "two subscription checks" in message and "600" in message


def test_a_lifecycle_url_must_be_https_like_the_notification_url(tmp_path: Path) -> None:
    message = _error(tmp_path, 'lifecycle_url = "http://crm.example.com/api/v1/graph/lifecycle"')
    assert "push.lifecycle_url" in message and "https" in message


@pytest.mark.parametrize(
    ("push", "expected"),
    [
        # beside our own notification endpoint: web's lifecycle endpoint
        (
            {"notification_url": "https://crm.example.com/api/v1/graph/notifications"},
            "https://crm.example.com/api/v1/graph/lifecycle",
        ),
        # a proxy path we do not know: the notification URL itself (Graph allows it)
        (
            {"notification_url": "https://hooks.example.com/graph"},
            "https://hooks.example.com/graph",
        ),
        # said explicitly: as said
        (
            {
                "notification_url": "https://crm.example.com/api/v1/graph/notifications",
                "lifecycle_url": "https://life.example.com/x",
            },
            "https://life.example.com/x",
        ),
        ({}, None),
    ],
)
def test_where_lifecycle_notifications_go(push: dict[str, str], expected: str | None) -> None:
    assert PushSettings(**push).lifecycle_notification_url == expected
