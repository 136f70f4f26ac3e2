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

The subscription jobs (``maintain_subscriptions``, ``reauthorize_subscription``,
``recreate_subscription``) are ``SubscriptionKeeper``'s (mailsync/cluster/subscriptions.py).

Jobs get their ``WorkerRuntime`` from the worker's ``additional_context`` so
the module holds no process-wide state.
"""

from __future__ import annotations

import logging
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

from crm_store.models import Mailbox
from mailsync.budget import SyncSlots
from mailsync.cluster.queue import QUEUE, request_sync
from mailsync.cluster.subscriptions import SubscriptionKeeper
from mailsync.config import Settings
from mailsync.engine import SyncEngine
from mailsync.outcome import OutcomeKind
from mailsync.runtime import ProviderRegistry

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

    @property
    def subscriptions(self) -> SubscriptionKeeper:
        return SubscriptionKeeper(
            settings=self.settings,
            sessions=self.sessions,
            registry=self.registry,
            app=self.app,
            clock=self.clock,
        )


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
    return runtime_of(context).subscriptions.maintain()


@blueprint.task(name="reauthorize_subscription", pass_context=True, queue=QUEUE)
def reauthorize_subscription(context: JobContext, subscription_id: str) -> str:
    return runtime_of(context).subscriptions.reauthorize(subscription_id).value


@blueprint.task(name="recreate_subscription", pass_context=True, queue=QUEUE)
def recreate_subscription(context: JobContext, subscription_id: str) -> str:
    return runtime_of(context).subscriptions.recreate(subscription_id).value
