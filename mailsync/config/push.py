"""The ``[push]`` section: Graph change notifications instead of polling (cluster mode).

Graph POSTs to ``notification_url`` when a subscribed mailbox's mail or
calendar changes; the web service checks the notification and queues a sync
of that mailbox at once. Lifecycle notifications (subscription removed,
notifications missed, reauthorization required) go to ``lifecycle_url``,
which defaults to the web service's lifecycle endpoint next to
``notification_url``. Subscriptions expire (at most 10,080 minutes for
Outlook resources), so a job renews them ``renew_before_minutes`` ahead; that
margin must leave at least two subscription checks before expiry, or one
failed renewal would let a subscription lapse. Notifications can be lost, so
polling carries on as a safety net at ``safety_poll_seconds``; only for a
mailbox push covers, though (both subscriptions live): one whose subscription
is missing, refused or expired is polled at ``[sync] interval_seconds``
(``crm_store.push_coverage``). Embedded mode has no queue for notifications
to land on, so push is refused there and it always polls at the normal interval.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from mailsync.config.errors import KeyedValueError
from mailsync.config.sections import Section
from mailsync.config.web import _is_loopback

NOTIFICATION_PATH = "/api/v1/graph/notifications"
"""Where web answers Graph's notifications (web/api/notifications.py)."""

LIFECYCLE_PATH = "/api/v1/graph/lifecycle"
"""Where web answers Graph's lifecycle notifications (the same module)."""

MAX_SUBSCRIPTION_MINUTES = 10_080
"""Graph's longest subscription on Outlook messages and events (7 days)."""


class PushSettings(Section):
    enabled: bool = False
    notification_url: str | None = None
    lifecycle_url: str | None = None
    subscription_minutes: int = Field(default=4_320, ge=45, le=MAX_SUBSCRIPTION_MINUTES)
    renew_before_minutes: int = Field(default=720, ge=5)
    check_seconds: float = Field(default=300.0, gt=0, le=86_400)
    safety_poll_seconds: int = Field(default=3_600, ge=60, le=86_400)

    @field_validator("notification_url", "lifecycle_url")
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
        if self.renew_before_minutes * 60 < 2 * self.check_seconds:
            raise KeyedValueError(
                "renew_before_minutes",
                f"renew_before_minutes ({self.renew_before_minutes}) must leave at least two "
                f"subscription checks (check_seconds = {self.check_seconds:g}) before expiry",
            )
        return self

    @property
    def lifecycle_notification_url(self) -> str | None:
        """``lifecycle_url``, else the lifecycle endpoint beside ``notification_url``.

        Graph accepts the same URL for both; web's notification endpoint
        handles lifecycle notifications too, so any other URL falls back to it.
        """
        if self.lifecycle_url is not None or self.notification_url is None:
            return self.lifecycle_url
        if self.notification_url.endswith(NOTIFICATION_PATH):
            return self.notification_url[: -len(NOTIFICATION_PATH)] + LIFECYCLE_PATH
        return self.notification_url
