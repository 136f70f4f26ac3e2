"""Graph change-notification subscriptions: what is stored, and checking a notification.

The ``clientState`` secret is stored only as its SHA-256: it is a long random
string, so an unsalted hash suffices, and the database never holds what would
let someone forge a notification. The check compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crm_store.models import GraphSubscription, Mailbox


def client_state_digest(client_state: str) -> str:
    return hashlib.sha256(client_state.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    subscription_id: str
    mailbox_id: int
    address: str
    expires_at: datetime


def mailboxes_without_subscription(session: Session) -> list[tuple[int, str]]:
    """Enabled Graph mailboxes that have no subscription yet: (id, address)."""
    subscribed = select(GraphSubscription.mailbox_id)
    rows = session.execute(
        select(Mailbox.id, Mailbox.address)
        .where(
            Mailbox.enabled.is_(True),
            Mailbox.provider == "graph",
            Mailbox.id.not_in(subscribed),
        )
        .order_by(Mailbox.id)
    )
    return [(int(i), str(a)) for i, a in rows]


def subscriptions_expiring(session: Session, before: datetime) -> list[SubscriptionRow]:
    rows = session.execute(
        select(
            GraphSubscription.subscription_id,
            GraphSubscription.mailbox_id,
            Mailbox.address,
            GraphSubscription.expires_at,
        )
        .join(Mailbox, Mailbox.id == GraphSubscription.mailbox_id)
        .where(GraphSubscription.expires_at <= before, Mailbox.enabled.is_(True))
        .order_by(GraphSubscription.expires_at)
    )
    return [SubscriptionRow(str(s), int(m), str(a), e) for s, m, a, e in rows]


def save_subscription(
    session: Session,
    *,
    mailbox_id: int,
    subscription_id: str,
    resource: str,
    client_state: str,
    expires_at: datetime,
) -> None:
    session.add(
        GraphSubscription(
            mailbox_id=mailbox_id,
            subscription_id=subscription_id,
            resource=resource,
            client_state_sha256=client_state_digest(client_state),
            expires_at=expires_at,
        )
    )
    session.flush()


def record_renewal(
    session: Session, subscription_id: str, expires_at: datetime, now: datetime
) -> None:
    session.execute(
        update(GraphSubscription)
        .where(GraphSubscription.subscription_id == subscription_id)
        .values(expires_at=expires_at, renewed_at=now)
    )


def forget_subscription(session: Session, subscription_id: str) -> None:
    """Graph no longer knows it (404 on renewal): the next check creates a new one."""
    session.execute(
        delete(GraphSubscription).where(GraphSubscription.subscription_id == subscription_id)
    )


def mailbox_for_notification(
    session: Session, subscription_id: str, client_state: str | None
) -> int | None:
    """The mailbox a genuine notification is about; None when the id or the secret is wrong."""
    row = session.execute(
        select(GraphSubscription.mailbox_id, GraphSubscription.client_state_sha256).where(
            GraphSubscription.subscription_id == subscription_id
        )
    ).first()
    offered = client_state_digest(client_state or "")
    if row is None:
        # Same work as a hit, so timing does not tell which subscription ids exist.
        hmac.compare_digest(offered, offered)
        return None
    mailbox_id, stored = row
    if not hmac.compare_digest(offered, str(stored)):
        return None
    return int(mailbox_id)
