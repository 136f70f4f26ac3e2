"""Graph change-notification subscriptions: create (POST) and renew (PATCH).

Each mailbox gets one subscription per resource kind: ``users/{id}/messages``
(every mail folder) and ``users/{id}/events`` (the calendar), both with
changeType ``created,updated,deleted``. A notification only says "this
mailbox changed"; the sync that follows reads the actual changes through
delta, so notifications never carry data we store, and a mail and a meeting
change lead to the same de-duplicated sync of the mailbox.

Facts from Microsoft's documentation this module relies on
(microsoft-graph-docs-contrib: concepts/change-notifications-lifecycle-events.md,
concepts/change-notifications-overview.md, api-reference subscription):

- Graph validates ``notificationUrl`` *and* ``lifecycleNotificationUrl``
  synchronously while creating the subscription (web answers both
  handshakes), and echoes ``clientState`` (at most 128 characters) in every
  change and lifecycle notification.
- ``lifecycleNotificationUrl`` can only be set when a subscription is
  created, never added by PATCH; it may equal ``notificationUrl``.
  ``subscriptionRemoved`` and ``missed`` are sent for Outlook message, event
  and contact subscriptions; ``reauthorizationRequired`` for every resource.
- Renewing (PATCH ``expirationDateTime``) also reauthorizes the subscription;
  ``POST /subscriptions/{id}/reauthorize`` reauthorizes without extending it.
  A subscription Graph no longer knows answers 404: create a new one.
- Graph may grant a shorter expiry than asked; the response's
  ``expirationDateTime`` is what we schedule the renewal from. The longest
  lifetime for Outlook resources is 10,080 minutes (under 7 days) as
  ``[push]`` configures it; older revisions of the docs' lifetime table say
  4,230 minutes, so keep ``subscription_minutes`` at or under that when a
  tenant refuses longer ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from mailsync.providers.base import PermanentFailure, TemporaryFailure
from mailsync.providers.graph.transport import GraphTransport

CHANGE_TYPES = "created,updated,deleted"

RESOURCE_KINDS = ("messages", "events")
"""What each mailbox is subscribed to; a change in either queues a sync of the mailbox."""


def mailbox_resource(address: str, kind: str = "messages") -> str:
    if kind not in RESOURCE_KINDS:
        raise ValueError(f"unknown subscription resource kind {kind!r}")
    return f"users/{quote(address, safe='@')}/{kind}"


class SubscriptionGone(PermanentFailure):
    """Graph answered 404 for the subscription: it expired or was removed; create a new one."""


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    resource: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Renewal:
    expires_at: datetime
    has_lifecycle_url: bool
    """False for a subscription made before we asked for lifecycle notifications."""


class GraphSubscriptions:
    """Subscription calls for one mailbox, through that mailbox's transport (and budget)."""

    def __init__(self, transport: GraphTransport) -> None:
        self._transport = transport

    def create(
        self,
        address: str,
        kind: str,
        *,
        notification_url: str,
        lifecycle_url: str,
        client_state: str,
        expires_at: datetime,
    ) -> Subscription:
        resource = mailbox_resource(address, kind)
        body = {
            "changeType": CHANGE_TYPES,
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": lifecycle_url,
            "resource": resource,
            "expirationDateTime": _graph_time(expires_at),
            "clientState": client_state,
            "latestSupportedTlsVersion": "v1_2",
        }
        created = self._transport.post_json(
            f"{self._transport.graph_url}/subscriptions", body, folder="", kind="subscription"
        )
        return Subscription(
            subscription_id=_text(created, "id"),
            resource=resource,
            expires_at=_parse_time(_text(created, "expirationDateTime")),
        )

    def renew(self, subscription_id: str, expires_at: datetime) -> Renewal:
        """The new expiry Graph granted (it may shorten what was asked); also reauthorizes.

        Raises ``SubscriptionGone`` when Graph no longer has the subscription.
        """
        try:
            renewed = self._transport.patch_json(
                f"{self._transport.graph_url}/subscriptions/{quote(subscription_id, safe='')}",
                {"expirationDateTime": _graph_time(expires_at)},
                folder="",
                kind="subscription",
            )
        except PermanentFailure as exc:
            if exc.status == 404:
                raise SubscriptionGone(str(exc), status=404) from exc
            raise
        return Renewal(
            expires_at=_parse_time(_text(renewed, "expirationDateTime")),
            has_lifecycle_url=bool(renewed.get("lifecycleNotificationUrl")),
        )

    def delete(self, subscription_id: str) -> None:
        """Stop a subscription (404 counts as done: Graph has already dropped it)."""
        try:
            self._transport.delete(
                f"{self._transport.graph_url}/subscriptions/{quote(subscription_id, safe='')}",
                folder="",
                kind="subscription",
            )
        except PermanentFailure as exc:
            if exc.status != 404:
                raise


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _text(body: dict[str, object], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise TemporaryFailure(f"subscription response has no {key!r}")
    return value


def _parse_time(value: str) -> datetime:
    """Graph's 7 fractional digits (fromisoformat takes 6); a time without a zone is UTC."""
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TemporaryFailure(f"subscription expiry {value!r} is not a date") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
