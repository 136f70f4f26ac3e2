"""The jobs cluster workers run: sync one mailbox, keep Graph subscriptions alive.

A job turns each ``SyncOutcome`` into what the queue should do next:

- ok, failed, auth_failed: done (the outcome and any backoff are on the
  mailbox row; tickers queue the next sync when it is due);
- throttled: a new job is queued for the time the server asked for
  (``schedule_at``); the worker does not wait and the job is not retried in a
  loop;
- temporary (5xx, dropped connection, store unreachable): the job fails with
  ``RetryableSync`` and procrastinate retries it with exponential backoff
  (``RetryStrategy``) up to the configured attempts;
- tenant at its cap of concurrent syncs: queued again a few seconds later.

Subscription jobs (all under one queue lock, so one runs at a time):

- ``maintain_subscriptions`` renews every subscription within
  ``renew_before_minutes`` of expiry (a 404 means Graph dropped it: create a
  new one and sync the mailbox, since notifications may have been lost) and
  creates the missing ones, a messages and an events subscription per
  mailbox. A creation Graph refuses is retried after a delay that doubles per
  failure (``creation_retry_delay``); it never holds up the other mailboxes
  or polling, which carries on at the safety interval;
- ``reauthorize_subscription`` answers a ``reauthorizationRequired``
  lifecycle notification by renewing, which reauthorizes and extends at once;
- ``recreate_subscription`` answers ``subscriptionRemoved``: a new
  subscription, then a sync for the changes made while there was none.

Jobs get their ``WorkerRuntime`` from the worker's ``additional_context`` so
the module holds no process-wide state.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from procrastinate import App, BaseRetryStrategy, Blueprint, JobContext, RetryDecision
from procrastinate.jobs import Job
from procrastinate.retry import RetryStrategy
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import session_scope
from crm_store.models import Mailbox
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
from mailsync.budget import SyncSlots
from mailsync.cluster.queue import QUEUE, request_sync
from mailsync.config import Settings
from mailsync.engine import SyncEngine
from mailsync.outcome import OutcomeKind
from mailsync.providers.base import ProviderError
from mailsync.providers.graph.subscriptions import (
    RESOURCE_KINDS,
    GraphSubscriptions,
    SubscriptionGone,
)
from mailsync.runtime import GraphFactory, ProviderRegistry

log = logging.getLogger(__name__)

RUNTIME_KEY = "mailsync_runtime"

blueprint = Blueprint()

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
    FAILED = "failed"
    UNKNOWN = "unknown subscription (replaced already, or its mailbox disabled)"


class RetryableSync(Exception):
    """A temporary failure; carries the retry strategy the worker was configured with."""

    def __init__(self, reason: str, strategy: RetryStrategy) -> None:
        super().__init__(reason)
        self.strategy = strategy


class SyncRetry(BaseRetryStrategy):
    """Retries only ``RetryableSync``, with the strategy that exception carries.

    Any other exception is a bug or a refusal that a retry would not cure: the
    job ends ``failed`` and shows up in ``mailsync status``.
    """

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, RetryableSync):
            return exception.strategy.get_retry_decision(exception=exception, job=job)
        return None


class JobResult(StrEnum):
    SYNCED = "synced"
    RECORDED = "recorded"  # failed or auth_failed: on the mailbox row, with its backoff
    THROTTLED = "throttled, queued for Retry-After"
    BACKING_OFF = "backing off, queued for next_sync_at"
    TENANT_FULL = "tenant at its sync cap, queued again"
    SKIPPED = "skipped (unknown or disabled mailbox)"


@dataclass
class WorkerRuntime:
    """Everything a job needs, built once per worker process."""

    settings: Settings
    sessions: sessionmaker[Session]
    engine: SyncEngine
    registry: ProviderRegistry
    slots: SyncSlots
    app: App
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def retry(self) -> RetryStrategy:
        daemon = self.settings.daemon
        return RetryStrategy(
            max_attempts=daemon.retry_max_attempts,
            exponential_wait=daemon.retry_exponential_seconds,
        )

    def tenant_of(self, provider: str) -> str:
        tenant = self.settings.tenant
        return tenant.tenant_id if provider == "graph" and tenant is not None else provider

    # ------------------------------------------------------------------ sync

    def sync_job(self, mailbox_id: int) -> JobResult:
        try:
            return self._sync(mailbox_id)
        except DBAPIError as exc:
            raise RetryableSync(f"store unreachable: {exc.orig!r}", self.retry) from exc

    def _sync(self, mailbox_id: int) -> JobResult:
        with self.sessions() as session:
            mailbox = session.get(Mailbox, mailbox_id)
            if mailbox is None or not mailbox.enabled:
                return JobResult.SKIPPED
            address, provider_name = mailbox.address, mailbox.provider
            status, not_before = mailbox.sync_status, mailbox.next_sync_at
        now = self.clock()
        if status in ("throttled", "auth_failed") and not_before is not None and not_before > now:
            # A notification queued this sync while the server wants us to wait.
            request_sync(self.app, mailbox_id, at=not_before, reason="backing off")
            return JobResult.BACKING_OFF
        with self.slots.sync_slot(self.tenant_of(provider_name)) as granted:
            if not granted:
                busy = timedelta(seconds=self.settings.daemon.tenant_busy_retry_seconds)
                request_sync(self.app, mailbox_id, at=now + busy, reason="tenant full")
                return JobResult.TENANT_FULL
            provider = self.registry.provider_for(provider_name, address)
            outcome = self.engine.sync_mailbox(mailbox_id, provider, stop=self.stop)
        if outcome.kind is OutcomeKind.THROTTLED:
            request_sync(self.app, mailbox_id, at=outcome.retry_at, reason="throttled")
            return JobResult.THROTTLED
        if outcome.kind in (OutcomeKind.TEMPORARY, OutcomeKind.STOPPED):
            raise RetryableSync(outcome.reason, self.retry)
        return JobResult.SYNCED if outcome.ok else JobResult.RECORDED

    # ------------------------------------------------------------------ subscriptions

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

    def maintain_subscriptions(self) -> str:
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

    def reauthorize_subscription(self, subscription_id: str) -> SubscriptionResult:
        off = self._push_off()
        if off is not None:
            return SubscriptionResult.UNKNOWN
        with self.sessions() as session:
            row = subscription_by_id(session, subscription_id)
        if row is None:
            return SubscriptionResult.UNKNOWN
        return self._renew(row, self.clock())

    def recreate_subscription(self, subscription_id: str) -> SubscriptionResult:
        off = self._push_off()
        if off is not None:
            return SubscriptionResult.UNKNOWN
        with self.sessions() as session:
            row = subscription_by_id(session, subscription_id)
        if row is None:
            return SubscriptionResult.UNKNOWN
        return self._replace(row, self.clock(), reason="removed by Graph")

    def _expiry(self, now: datetime) -> datetime:
        return now + timedelta(minutes=self.settings.push.subscription_minutes)

    def _renew(self, row: SubscriptionRow, now: datetime) -> SubscriptionResult:
        client = self._subscriptions_client(row.address)
        if client is None:
            return SubscriptionResult.FAILED
        try:
            granted = client.renew(row.subscription_id, self._expiry(now))
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
            record_renewal(session, row.subscription_id, granted, now)
        return SubscriptionResult.RENEWED

    def _replace(self, row: SubscriptionRow, now: datetime, *, reason: str) -> SubscriptionResult:
        """A new subscription for the same (mailbox, kind), then a sync: notifications of
        changes made while there was no subscription were never sent."""
        with session_scope(self.sessions, write=True) as session:
            forget_subscription(session, row.subscription_id)
        made = self._create(row.mailbox_id, row.address, row.resource_kind, now)
        request_sync(self.app, row.mailbox_id, reason=f"{row.resource_kind} subscription {reason}")
        return SubscriptionResult.RECREATED if made else SubscriptionResult.FAILED

    def _create(self, mailbox_id: int, address: str, kind: str, now: datetime) -> bool:
        push = self.settings.push
        client = self._subscriptions_client(address)
        lifecycle_url = push.lifecycle_notification_url
        if client is None or push.notification_url is None or lifecycle_url is None:
            return False
        secret = secrets.token_urlsafe(32)
        try:
            made = client.create(
                address,
                kind,
                notification_url=push.notification_url,
                lifecycle_url=lifecycle_url,
                client_state=secret,
                expires_at=self._expiry(now),
            )
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
            save_subscription(
                session,
                mailbox_id=mailbox_id,
                resource_kind=kind,
                subscription_id=made.subscription_id,
                resource=made.resource,
                client_state=secret,
                expires_at=made.expires_at,
            )
        return True


def runtime_of(context: JobContext) -> WorkerRuntime:
    runtime = context.additional_context.get(RUNTIME_KEY)
    if not isinstance(runtime, WorkerRuntime):
        raise RuntimeError("this worker was started without a mailsync runtime")
    return runtime


@blueprint.task(name="sync_mailbox", pass_context=True, queue=QUEUE, retry=SyncRetry())
def sync_mailbox(context: JobContext, mailbox_id: int) -> str:
    return runtime_of(context).sync_job(mailbox_id).value


@blueprint.task(name="maintain_subscriptions", pass_context=True, queue=QUEUE)
def maintain_subscriptions(context: JobContext) -> str:
    return runtime_of(context).maintain_subscriptions()


@blueprint.task(name="reauthorize_subscription", pass_context=True, queue=QUEUE)
def reauthorize_subscription(context: JobContext, subscription_id: str) -> str:
    return runtime_of(context).reauthorize_subscription(subscription_id).value


@blueprint.task(name="recreate_subscription", pass_context=True, queue=QUEUE)
def recreate_subscription(context: JobContext, subscription_id: str) -> str:
    return runtime_of(context).recreate_subscription(subscription_id).value
