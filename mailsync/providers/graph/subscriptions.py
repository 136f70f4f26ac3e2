"""Graph change-notification subscriptions: create (POST) and renew (PATCH).

One subscription per mailbox on ``users/{address}/messages`` (every mail
folder): a notification only says "this mailbox changed", and the sync that
follows reads the actual changes through delta, so notifications never carry
data we store. Graph validates ``notificationUrl`` synchronously while
creating the subscription (web answers the handshake), and echoes
``clientState`` in every notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from mailsync.providers.base import TemporaryFailure
from mailsync.providers.graph.transport import GraphTransport

CHANGE_TYPES = "created,updated,deleted"


def mailbox_resource(address: str) -> str:
    return f"users/{quote(address, safe='@')}/messages"


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    resource: str
    expires_at: datetime


class GraphSubscriptions:
    """Subscription calls for one mailbox, through that mailbox's transport (and budget)."""

    def __init__(self, transport: GraphTransport) -> None:
        self._transport = transport

    def create(
        self, address: str, notification_url: str, client_state: str, expires_at: datetime
    ) -> Subscription:
        resource = mailbox_resource(address)
        body = {
            "changeType": CHANGE_TYPES,
            "notificationUrl": notification_url,
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

    def renew(self, subscription_id: str, expires_at: datetime) -> datetime:
        """The new expiry Graph granted (it may shorten what was asked)."""
        renewed = self._transport.patch_json(
            f"{self._transport.graph_url}/subscriptions/{quote(subscription_id, safe='')}",
            {"expirationDateTime": _graph_time(expires_at)},
            folder="",
            kind="subscription",
        )
        return _parse_time(_text(renewed, "expirationDateTime"))


def _graph_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


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
