"""The [push] section's checks that keep subscriptions alive, and where lifecycle events go."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsync.config import ConfigError, Settings, load_settings
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


PUSH_ON = (
    '[store]\nurl = "postgresql+psycopg://mailsync@db.example/crm"\n'
    '[daemon]\nmode = "cluster"\n'
    '[push]\nenabled = true\nnotification_url = "https://crm.example.com/api/v1/graph/notifications"\n'
)


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "mailsync.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={}, cwd=tmp_path)


def test_a_safety_poll_more_often_than_the_normal_poll_is_refused(tmp_path: Path) -> None:
    # GIVEN push on, with covered mailboxes' safety poll every 10 minutes but the
    # normal poll (uncovered mailboxes) every 15
    text = PUSH_ON.replace("[push]\n", "[push]\nsafety_poll_seconds = 600\n")
    text += "[sync]\ninterval_seconds = 900\n"
    # WHEN the configuration is loaded
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    # THEN it is refused at start, naming both keys, their values and the fix
    message = str(caught.value)
    assert "push.safety_poll_seconds" in message and "600" in message
    assert "sync.interval_seconds" in message and "900" in message
    assert "set push.safety_poll_seconds to at least sync.interval_seconds" in message


def test_the_safety_poll_may_equal_the_normal_poll_and_is_unchecked_with_push_off(
    tmp_path: Path,
) -> None:
    # GIVEN push on with the shipped defaults (config.example.toml's values)
    assert _load(tmp_path, PUSH_ON).push.safety_poll_seconds == 3_600
    # AND a safety poll exactly as often as the normal poll
    same = PUSH_ON.replace("[push]\n", "[push]\nsafety_poll_seconds = 900\n")
    assert _load(tmp_path, same + "[sync]\ninterval_seconds = 900\n").sync.interval_seconds == 900
    # AND push off, where the safety poll is never used
    off = "[push]\nsafety_poll_seconds = 600\n[sync]\ninterval_seconds = 900\n"
    assert not _load(tmp_path, off).push.enabled
