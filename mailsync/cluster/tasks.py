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

Jobs get their ``WorkerRuntime`` from the worker's ``additional_context`` so
the module holds no process-wide state.
"""

from __future__ import annotations

import logging
import secrets
import threading
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
    forget_subscription,
    mailboxes_without_subscription,
    record_renewal,
    save_subscription,
    subscriptions_expiring,
)
from mailsync.budget import SyncSlots
from mailsync.cluster.queue import QUEUE, request_sync
from mailsync.config import Settings
from mailsync.engine import SyncEngine
from mailsync.outcome import OutcomeKind
from mailsync.providers.base import PermanentFailure, ProviderError
from mailsync.providers.graph.subscriptions import GraphSubscriptions
from mailsync.runtime import GraphFactory, ProviderRegistry

log = logging.getLogger(__name__)

RUNTIME_KEY = "mailsync_runtime"

blueprint = Blueprint()


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

    def maintain_subscriptions(self) -> str:
        """Create missing subscriptions and renew those expiring soon; one mailbox at a time."""
        push = self.settings.push
        if not push.enabled or push.notification_url is None:
            return "push is off"
        factory = self.registry.factories.get("graph")
        if not isinstance(factory, GraphFactory):
            return "no graph provider"
        now = self.clock()
        expires = now + timedelta(minutes=push.subscription_minutes)
        with self.sessions() as session:
            missing = mailboxes_without_subscription(session)
            due = subscriptions_expiring(
                session, now + timedelta(minutes=push.renew_before_minutes)
            )
        created = renewed = failed = 0
        for mailbox_id, address in missing:
            client = GraphSubscriptions(factory.transport_for(address))
            secret = secrets.token_urlsafe(32)
            try:
                made = client.create(address, push.notification_url, secret, expires)
            except ProviderError as exc:
                failed += 1
                log.warning("mailbox %s: cannot subscribe to changes: %s", address, exc)
                continue
            with session_scope(self.sessions, write=True) as session:
                save_subscription(
                    session,
                    mailbox_id=mailbox_id,
                    subscription_id=made.subscription_id,
                    resource=made.resource,
                    client_state=secret,
                    expires_at=made.expires_at,
                )
            created += 1
        for row in due:
            client = GraphSubscriptions(factory.transport_for(row.address))
            try:
                granted = client.renew(row.subscription_id, expires)
            except PermanentFailure as exc:
                log.info("mailbox %s: subscription gone (%s); a new one follows", row.address, exc)
                with session_scope(self.sessions, write=True) as session:
                    forget_subscription(session, row.subscription_id)
                failed += 1
                continue
            except ProviderError as exc:
                failed += 1
                log.warning("mailbox %s: cannot renew subscription: %s", row.address, exc)
                continue
            with session_scope(self.sessions, write=True) as session:
                record_renewal(session, row.subscription_id, granted, now)
            renewed += 1
        return f"created {created}, renewed {renewed}, failed {failed}"


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
