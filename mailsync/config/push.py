"""The ``[push]`` section: Graph change notifications instead of polling (cluster mode).

Graph POSTs to ``notification_url`` when a subscribed folder changes; the web
service checks the notification and queues a sync of that mailbox at once.
Subscriptions expire (at most 10,080 minutes for Outlook resources), so a job
renews them ``renew_before_minutes`` ahead. Notifications can be lost, so
polling carries on as a safety net at ``safety_poll_seconds``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from mailsync.config.errors import KeyedValueError
from mailsync.config.sections import Section
from mailsync.config.web import _is_loopback

NOTIFICATION_PATH = "/api/v1/graph/notifications"
"""Where web answers Graph's notifications (web/api/notifications.py)."""

MAX_SUBSCRIPTION_MINUTES = 10_080
"""Graph's longest subscription on Outlook messages and events (7 days)."""


class PushSettings(Section):
    enabled: bool = False
    notification_url: str | None = None
    subscription_minutes: int = Field(default=4_320, ge=45, le=MAX_SUBSCRIPTION_MINUTES)
    renew_before_minutes: int = Field(default=720, ge=5)
    check_seconds: float = Field(default=300.0, gt=0, le=86_400)
    safety_poll_seconds: int = Field(default=3_600, ge=60, le=86_400)

    @field_validator("notification_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not a URL; use https://crm.example.com{NOTIFICATION_PATH}"
            )
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError(
                f"{value!r}: Graph delivers notifications only to https URLs "
                "(plain http is accepted for 127.0.0.1/localhost, i.e. the sandbox)"
            )
        return text

    @model_validator(mode="after")
    def _complete(self) -> PushSettings:
        if self.enabled and self.notification_url is None:
            raise KeyedValueError(
                "notification_url",
                "enabled = true needs notification_url: the public https URL of "
                f"the web service's {NOTIFICATION_PATH}",
            )
        if self.renew_before_minutes >= self.subscription_minutes:
            raise KeyedValueError(
                "renew_before_minutes",
                f"renew_before_minutes ({self.renew_before_minutes}) must be smaller than "
                f"subscription_minutes ({self.subscription_minutes})",
            )
        return self
