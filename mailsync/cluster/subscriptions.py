"""Keeping every mailbox's Graph subscriptions alive: the three subscription jobs.

- ``maintain`` (the periodic check) renews every subscription within
  ``renew_before_minutes`` of expiry (a 404 means Graph dropped it: create a
  new one and sync the mailbox, since notifications may have been lost) and
  creates the missing ones, a messages and an events subscription per
  mailbox. A creation Graph refuses is retried after a delay that doubles per
  failure (``creation_retry_delay``); it never holds up the other mailboxes
  or polling, which for a mailbox push does not cover is at the normal
  interval, not the safety one (``crm_store.push_coverage``);
- a subscription made before we asked for lifecycle notifications (its
  renewal shows no ``lifecycleNotificationUrl``, which Graph cannot add
  later) is replaced by a new one at its next renewal;
- ``reauthorize`` answers a ``reauthorizationRequired`` lifecycle
  notification by renewing, which reauthorizes and extends at once;
- ``recreate`` answers ``subscriptionRemoved``: a new subscription, then a
  sync for the changes made while there was none.

All three run under one queue lock (``SUBSCRIPTIONS_LOCK``), one at a time
cluster-wide, so two never create the same (mailbox, kind) subscription.
Each Graph call is its own step with its own short transaction: a slow or
failing mailbox costs only its own time.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from procrastinate import App
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import session_scope
from crm_store.subscriptions import (
    SubscriptionRow,
    creation_failures,
    forget_subscription,
    record_failed_creation,
    record_renewal,
    save_subscription,
    subscription_by_id,
    subscriptions_expiring,
    subscriptions_to_create,
)
from mailsync.cluster.queue import request_sync
from mailsync.config import Settings
from mailsync.providers.base import ProviderError
from mailsync.providers.graph.subscriptions import (
    RESOURCE_KINDS,
    GraphSubscriptions,
    Subscription,
    SubscriptionGone,
)
from mailsync.runtime import GraphFactory, ProviderRegistry

log = logging.getLogger(__name__)

CREATE_RETRY_FIRST_SECONDS = 60.0
CREATE_RETRY_MAX_SECONDS = 6 * 3600.0


def creation_retry_delay(failures: int) -> timedelta:
    """A minute after the first failed creation, doubling per failure, at most six hours.

    Refusals that outlast a few tries (a permission not granted, an endpoint
    Graph cannot reach) are for an administrator; meanwhile polling syncs.
    """
    doublings = min(max(failures - 1, 0), 20)
    return timedelta(
        seconds=min(CREATE_RETRY_FIRST_SECONDS * 2**doublings, CREATE_RETRY_MAX_SECONDS)
    )


class SubscriptionResult(StrEnum):
    RENEWED = "renewed"
    CREATED = "created"
    RECREATED = "recreated"
    UPGRADED = "given a lifecycle URL"
    FAILED = "failed"
    UNKNOWN = "unknown subscription (replaced already, or its mailbox disabled)"


@dataclass
class SubscriptionKeeper:
    settings: Settings
    sessions: sessionmaker[Session]
    registry: ProviderRegistry
    app: App
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def _subscriptions_client(self, address: str) -> GraphSubscriptions | None:
        factory = self.registry.factories.get("graph")
        if not isinstance(factory, GraphFactory):
            return None
        return GraphSubscriptions(factory.transport_for(address))

    def _push_off(self) -> str | None:
        """Why subscriptions are not kept here, or None when they are."""
        push = self.settings.push
        if not push.enabled or push.notification_url is None:
            return "push is off"
        if not isinstance(self.registry.factories.get("graph"), GraphFactory):
            return "no graph provider"
        return None

    def maintain(self) -> str:
        """Renew those expiring soon, then create the missing ones; one mailbox at a time."""
        off = self._push_off()
        if off is not None:
            return off
        now = self.clock()
        renew_before = now + timedelta(minutes=self.settings.push.renew_before_minutes)
        with self.sessions() as session:
            due = subscriptions_expiring(session, renew_before)
        tally = Counter(self._renew(row, now) for row in due)
        with self.sessions() as session:
            missing = subscriptions_to_create(session, RESOURCE_KINDS, now)
        for item in missing:
            made = self._create(item.mailbox_id, item.address, item.resource_kind, now)
            tally[SubscriptionResult.CREATED if made else SubscriptionResult.FAILED] += 1
        return (
            ", ".join(
                f"{result.value} {tally[result]}"
                for result in SubscriptionResult
                if result in tally
            )
            or "nothing to do"
        )

    def reauthorize(self, subscription_id: str) -> SubscriptionResult:
        row = self._kept(subscription_id)
        if row is None:
            return SubscriptionResult.UNKNOWN
        return self._renew(row, self.clock())

    def recreate(self, subscription_id: str) -> SubscriptionResult:
        row = self._kept(subscription_id)
        if row is None:
            return SubscriptionResult.UNKNOWN
        return self._replace(row, self.clock(), reason="removed by Graph")

    def _kept(self, subscription_id: str) -> SubscriptionRow | None:
        """The subscription a lifecycle job names, or None when it is not ours to act on.

        A job queued before push was turned off, or for a subscription already
        replaced (or whose mailbox was disabled), has nothing left to answer.
        """
        if self._push_off() is not None:
            return None
        with self.sessions() as session:
            return subscription_by_id(session, subscription_id)

    def _expiry(self, now: datetime) -> datetime:
        return now + timedelta(minutes=self.settings.push.subscription_minutes)

    def _renew(self, row: SubscriptionRow, now: datetime) -> SubscriptionResult:
        client = self._subscriptions_client(row.address)
        if client is None:
            return SubscriptionResult.FAILED
        try:
            renewal = client.renew(row.subscription_id, self._expiry(now))
        except SubscriptionGone as exc:
            log.info("mailbox %s: %s subscription gone (%s)", row.address, row.resource_kind, exc)
            return self._replace(row, now, reason="gone at renewal")
        except ProviderError as exc:
            # Still due: the next check (at least two before expiry) tries again.
            log.warning(
                "mailbox %s: cannot renew %s subscription: %s", row.address, row.resource_kind, exc
            )
            return SubscriptionResult.FAILED
        with session_scope(self.sessions, write=True) as session:
            record_renewal(session, row.subscription_id, renewal.expires_at, now)
        if not renewal.has_lifecycle_url:
            return self._add_lifecycle_url(client, row, now)
        return SubscriptionResult.RENEWED

    def _add_lifecycle_url(
        self, client: GraphSubscriptions, row: SubscriptionRow, now: datetime
    ) -> SubscriptionResult:
        """A subscription made before we asked for lifecycle notifications gets a successor.

        Graph cannot add ``lifecycleNotificationUrl`` to an existing
        subscription, so a new one replaces it; the old one notifies until the
        swap, so no change goes unnoticed and no extra sync is needed.
        """
        try:
            made, secret = self._subscribe(client, row.address, row.resource_kind, now)
        except ProviderError as exc:
            log.warning(
                "mailbox %s: %s subscription still without lifecycle notifications "
                "(next renewal tries again): %s",
                row.address,
                row.resource_kind,
                exc,
            )
            return SubscriptionResult.RENEWED
        with session_scope(self.sessions, write=True) as session:
            forget_subscription(session, row.subscription_id)
            _save_made(session, row.mailbox_id, row.resource_kind, made, secret)
        try:
            client.delete(row.subscription_id)
        except ProviderError as exc:
            log.warning(
                "mailbox %s: old %s subscription %s left to expire at Graph: %s",
                row.address,
                row.resource_kind,
                row.subscription_id,
                exc,
            )
        return SubscriptionResult.UPGRADED

    def _replace(self, row: SubscriptionRow, now: datetime, *, reason: str) -> SubscriptionResult:
        """A new subscription for the same (mailbox, kind), then a sync: notifications of
        changes made while there was no subscription were never sent."""
        with session_scope(self.sessions, write=True) as session:
            forget_subscription(session, row.subscription_id)
        made = self._create(row.mailbox_id, row.address, row.resource_kind, now)
        request_sync(self.app, row.mailbox_id, reason=f"{row.resource_kind} subscription {reason}")
        return SubscriptionResult.RECREATED if made else SubscriptionResult.FAILED

    def _subscribe(
        self, client: GraphSubscriptions, address: str, kind: str, now: datetime
    ) -> tuple[Subscription, str]:
        """A new subscription, and the clientState secret Graph will echo (we keep its hash)."""
        push = self.settings.push
        notification_url, lifecycle_url = push.notification_url, push.lifecycle_notification_url
        if notification_url is None or lifecycle_url is None:
            # [push] refuses enabled = true without notification_url at start.
            raise RuntimeError("push is on without a notification_url")
        secret = secrets.token_urlsafe(32)
        made = client.create(
            address,
            kind,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            client_state=secret,
            expires_at=self._expiry(now),
        )
        return made, secret

    def _create(self, mailbox_id: int, address: str, kind: str, now: datetime) -> bool:
        """Subscribe, or record the failure with the time of the next try."""
        client = self._subscriptions_client(address)
        if client is None:
            return False
        try:
            made, secret = self._subscribe(client, address, kind, now)
        except ProviderError as exc:
            with session_scope(self.sessions, write=True) as session:
                failures = creation_failures(session, mailbox_id, kind) + 1
                retry_at = now + creation_retry_delay(failures)
                record_failed_creation(
                    session,
                    mailbox_id=mailbox_id,
                    resource_kind=kind,
                    failures=failures,
                    retry_at=retry_at,
                    error=str(exc)[:2000],
                )
            log.warning(
                "mailbox %s: cannot subscribe to %s changes (failure %d, next try %s): %s",
                address,
                kind,
                failures,
                retry_at.isoformat(timespec="seconds"),
                exc,
            )
            return False
        with session_scope(self.sessions, write=True) as session:
            _save_made(session, mailbox_id, kind, made, secret)
        return True


def _save_made(
    session: Session, mailbox_id: int, kind: str, made: Subscription, secret: str
) -> None:
    """Keep the subscription Graph just made for (mailbox, kind), with the hash of its secret."""
    save_subscription(
        session,
        mailbox_id=mailbox_id,
        resource_kind=kind,
        subscription_id=made.subscription_id,
        resource=made.resource,
        client_state=secret,
        expires_at=made.expires_at,
    )
