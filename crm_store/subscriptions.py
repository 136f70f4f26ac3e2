"""Graph change-notification subscriptions: what is stored, and checking a notification.

One row per (mailbox, resource kind). The ``clientState`` secret is stored
only as its SHA-256: it is a long random string, so an unsalted hash
suffices, and the database never holds what would let someone forge a
notification. The check compares digests in constant time.

Failed creations are kept apart (``GraphSubscriptionAttempt``) with the time
of the next try, so the subscription job backs off per (mailbox, kind). The
jobs that write here run one at a time cluster-wide (one queue lock), which
is why a read-then-write suffices for the attempt rows.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from crm_store.models import GraphSubscription, GraphSubscriptionAttempt, Mailbox


def client_state_digest(client_state: str) -> str:
    return hashlib.sha256(client_state.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    subscription_id: str
    mailbox_id: int
    address: str
    resource_kind: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MissingSubscription:
    mailbox_id: int
    address: str
    resource_kind: str


@dataclass(frozen=True, slots=True)
class NotificationTarget:
    """What a genuine notification is about."""

    subscription_id: str
    mailbox_id: int
    resource_kind: str


def subscriptions_to_create(
    session: Session, kinds: Sequence[str], now: datetime
) -> list[MissingSubscription]:
    """(mailbox, kind) pairs of enabled Graph mailboxes with no subscription and not backing off."""
    mailboxes = session.execute(
        select(Mailbox.id, Mailbox.address)
        .where(Mailbox.enabled.is_(True), Mailbox.provider == "graph")
        .order_by(Mailbox.id)
    ).all()
    have = {
        (int(m), str(k))
        for m, k in session.execute(
            select(GraphSubscription.mailbox_id, GraphSubscription.resource_kind)
        )
    }
    attempt = GraphSubscriptionAttempt
    waiting = {
        (int(m), str(k))
        for m, k in session.execute(
            select(attempt.mailbox_id, attempt.resource_kind).where(attempt.retry_at > now)
        )
    }
    return [
        MissingSubscription(int(mailbox_id), str(address), kind)
        for mailbox_id, address in mailboxes
        for kind in kinds
        if (mailbox_id, kind) not in have and (mailbox_id, kind) not in waiting
    ]


def _rows(session: Session, *conditions: ColumnElement[bool]) -> list[SubscriptionRow]:
    rows = session.execute(
        select(
            GraphSubscription.subscription_id,
            GraphSubscription.mailbox_id,
            Mailbox.address,
            GraphSubscription.resource_kind,
            GraphSubscription.expires_at,
        )
        .join(Mailbox, Mailbox.id == GraphSubscription.mailbox_id)
        .where(*conditions)
        .order_by(GraphSubscription.expires_at)
    )
    return [SubscriptionRow(str(s), int(m), str(a), str(k), e) for s, m, a, k, e in rows]


def subscriptions_expiring(session: Session, before: datetime) -> list[SubscriptionRow]:
    return _rows(session, GraphSubscription.expires_at <= before, Mailbox.enabled.is_(True))


def subscription_by_id(session: Session, subscription_id: str) -> SubscriptionRow | None:
    """The subscription of an enabled mailbox (a disabled one's are left to lapse)."""
    found = _rows(
        session, GraphSubscription.subscription_id == subscription_id, Mailbox.enabled.is_(True)
    )
    return found[0] if found else None


def save_subscription(
    session: Session,
    *,
    mailbox_id: int,
    resource_kind: str,
    subscription_id: str,
    resource: str,
    client_state: str,
    expires_at: datetime,
) -> None:
    """The new subscription; any failed attempts of the same (mailbox, kind) are forgotten."""
    session.add(
        GraphSubscription(
            mailbox_id=mailbox_id,
            resource_kind=resource_kind,
            subscription_id=subscription_id,
            resource=resource,
            client_state_sha256=client_state_digest(client_state),
            expires_at=expires_at,
        )
    )
    session.execute(
        delete(GraphSubscriptionAttempt).where(
            GraphSubscriptionAttempt.mailbox_id == mailbox_id,
            GraphSubscriptionAttempt.resource_kind == resource_kind,
        )
    )
    session.flush()


def creation_failures(session: Session, mailbox_id: int, resource_kind: str) -> int:
    """How many creations of this (mailbox, kind) failed in a row so far."""
    found = session.get(GraphSubscriptionAttempt, (mailbox_id, resource_kind))
    return 0 if found is None else int(found.failures)


def record_failed_creation(
    session: Session,
    *,
    mailbox_id: int,
    resource_kind: str,
    failures: int,
    retry_at: datetime,
    error: str,
) -> None:
    found = session.get(GraphSubscriptionAttempt, (mailbox_id, resource_kind))
    if found is None:
        session.add(
            GraphSubscriptionAttempt(
                mailbox_id=mailbox_id,
                resource_kind=resource_kind,
                failures=failures,
                retry_at=retry_at,
                last_error=error,
            )
        )
    else:
        found.failures, found.retry_at, found.last_error = failures, retry_at, error
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
    """Graph no longer has it (404, subscriptionRemoved): a new one is created in its place."""
    session.execute(
        delete(GraphSubscription).where(GraphSubscription.subscription_id == subscription_id)
    )


def notification_target(
    session: Session, subscription_id: str, client_state: str | None
) -> NotificationTarget | None:
    """What a genuine notification is about; None when the id or the secret is wrong."""
    row = session.execute(
        select(
            GraphSubscription.mailbox_id,
            GraphSubscription.resource_kind,
            GraphSubscription.client_state_sha256,
        ).where(GraphSubscription.subscription_id == subscription_id)
    ).first()
    offered = client_state_digest(client_state or "")
    if row is None:
        # Same work as a hit, so timing does not tell which subscription ids exist.
        hmac.compare_digest(offered, offered)
        return None
    mailbox_id, kind, stored = row
    if not hmac.compare_digest(offered, str(stored)):
        return None
    return NotificationTarget(subscription_id, int(mailbox_id), str(kind))
