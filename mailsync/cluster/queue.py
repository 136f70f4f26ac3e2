"""The job queue of cluster mode: procrastinate on the store's PostgreSQL.

Every sync job of a mailbox carries the same ``queueing_lock`` and ``lock``
(``mailbox:<id>``): procrastinate then keeps at most one job per mailbox
waiting (a second defer raises ``AlreadyEnqueued``) and runs at most one at a
time (a waiting job is not fetched while another with its lock is running),
whichever node deferred it.

One gap in that pair is closed here. While a job runs, its queueing lock is
free, so a notification can queue the next sync of the mailbox; if the
running job then fails and procrastinate tries to put it back to ``todo``,
the unique index on the queueing lock refuses the update and the job would
stay ``doing`` for ever, holding the mailbox's lock (procrastinate issues
#1446 and #1543). ``MailboxJobManager`` retries normally and, in exactly that
case, ends the failing job as ``failed`` instead: the job already waiting will
do the same sync.
"""

from __future__ import annotations

import datetime
import logging
from enum import StrEnum
from typing import Any

from procrastinate import App, BaseConnector, PsycopgConnector, SyncPsycopgConnector, exceptions
from procrastinate import jobs as procrastinate_jobs
from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT, JobManager
from sqlalchemy.engine import make_url

QUEUE = "mailsync"
SYNC_TASK = "mailsync:sync_mailbox"
SUBSCRIPTIONS_TASK = "mailsync:maintain_subscriptions"
SUBSCRIPTIONS_LOCK = "graph-subscriptions"
"""The lock of every job that creates, renews or replaces subscriptions: one at a time,
cluster-wide, so two jobs never both create the same (mailbox, resource) subscription."""
REAUTHORIZE_TASK = "mailsync:reauthorize_subscription"
RECREATE_TASK = "mailsync:recreate_subscription"

log = logging.getLogger(__name__)


def mailbox_lock(mailbox_id: int) -> str:
    """The queueing lock and the lock of every sync job of one mailbox."""
    return f"mailbox:{mailbox_id}"


def conninfo(database_url: str) -> str:
    """The libpq URI for the store's SQLAlchemy URL (keeping options such as search_path)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("cluster mode needs PostgreSQL; the store URL is not postgresql://")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class MailboxJobManager(JobManager):
    """procrastinate's JobManager, minus the stuck-``doing`` job of a refused retry."""

    async def retry_job_by_id_async(
        self,
        job_id: int,
        retry_at: datetime.datetime,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        try:
            await super().retry_job_by_id_async(job_id, retry_at, priority, queue, lock)
        except exceptions.UniqueViolation as exc:
            if exc.constraint_name != QUEUEING_LOCK_CONSTRAINT:
                raise
            log.info("job %s not retried: a newer sync of its mailbox is already waiting", job_id)
            await self.finish_job_by_id_async(
                job_id, procrastinate_jobs.Status.FAILED, delete_job=False
            )

    def retry_job_by_id(
        self,
        job_id: int,
        retry_at: datetime.datetime,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        try:
            super().retry_job_by_id(job_id, retry_at, priority, queue, lock)
        except exceptions.UniqueViolation as exc:
            if exc.constraint_name != QUEUEING_LOCK_CONSTRAINT:
                raise
            log.info("job %s not retried: a newer sync of its mailbox is already waiting", job_id)
            self.connector.get_sync_connector().execute_query(
                query="SELECT procrastinate_finish_job_v1(%(job_id)s, 'failed', false)",
                job_id=job_id,
            )


class MailsyncApp(App):
    """A procrastinate App whose job manager is ``MailboxJobManager``."""

    def __init__(self, *, connector: BaseConnector, **kwargs: Any) -> None:
        super().__init__(connector=connector, **kwargs)
        self.job_manager = MailboxJobManager(connector=self.connector)


def worker_app(database_url: str, *, pool_size: int) -> MailsyncApp:
    """For ``mailsync worker``: asynchronous (procrastinate's worker loop), tasks registered."""
    from mailsync.cluster.tasks import blueprint

    app = MailsyncApp(
        connector=PsycopgConnector(
            conninfo=conninfo(database_url), min_size=1, max_size=max(pool_size, 2)
        )
    )
    app.add_tasks_from(blueprint, namespace="mailsync")
    return app


def client_app(database_url: str) -> MailsyncApp:
    """For code that only defers and inspects jobs (tickers, web): synchronous, opened."""
    from mailsync.cluster.tasks import blueprint

    app = MailsyncApp(
        connector=SyncPsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=4)
    )
    app.add_tasks_from(blueprint, namespace="mailsync")
    app.open()
    return app


RETRY_STALLED = """
WITH still AS MATERIALIZED (
    SELECT id FROM procrastinate_jobs
     WHERE id = %(job_id)s AND status = 'doing'
       AND worker_id IS NOT DISTINCT FROM %(worker_id)s
       FOR UPDATE
)
SELECT procrastinate_retry_job_v2(id, %(retry_at)s, NULL, NULL, NULL) FROM still
"""


def retry_stalled_job(
    app: MailsyncApp, job_id: int, worker_id: int | None, retry_at: datetime.datetime
) -> bool:
    """Queue again a job found running on a silent worker, if it still is; False if not.

    Two tickers can find the same stalled job. procrastinate's retry accepts any
    job that is ``doing``, so the later ticker would otherwise "retry" the job
    while a live worker runs it again: back to ``todo`` under that worker, free
    to be fetched a second time (two syncs of one mailbox at once), and the
    live worker's finish then fails. Locking the row and checking that it still
    belongs to the silent worker makes the second recovery a no-op.
    """
    connector = app.connector.get_sync_connector()
    try:
        done = connector.execute_query_all(
            query=RETRY_STALLED, job_id=job_id, worker_id=worker_id, retry_at=retry_at
        )
    except exceptions.UniqueViolation as exc:
        if exc.constraint_name != QUEUEING_LOCK_CONSTRAINT:
            raise
        log.info("job %s not retried: a newer sync of its mailbox is already waiting", job_id)
        connector.execute_query(
            query="SELECT procrastinate_finish_job_v1(%(job_id)s, 'failed', false)",
            job_id=job_id,
        )
        return True
    return bool(done)


class DeferResult(StrEnum):
    QUEUED = "queued"
    ALREADY_WAITING = "already_waiting"


def request_sync(
    app: App, mailbox_id: int, *, at: datetime.datetime | None = None, reason: str = ""
) -> DeferResult:
    """Queue a sync of one mailbox, at ``at`` or now; at most one waits per mailbox.

    ``ALREADY_WAITING`` is the de-duplication working, not an error: the job
    that waits will see every change this request was about, because a sync
    reads the mailbox's changes since its stored cursor when it runs.
    """
    key = mailbox_lock(mailbox_id)
    deferrer = app.configure_task(
        SYNC_TASK, queue=QUEUE, lock=key, queueing_lock=key, schedule_at=at
    )
    try:
        deferrer.defer(mailbox_id=mailbox_id)
    except exceptions.AlreadyEnqueued:
        log.debug("mailbox %s: a sync is already waiting (%s)", mailbox_id, reason or "request")
        return DeferResult.ALREADY_WAITING
    return DeferResult.QUEUED


def request_subscription_check(app: App) -> DeferResult:
    """Queue one check of every mailbox's Graph subscription (one at a time, cluster-wide)."""
    deferrer = app.configure_task(
        SUBSCRIPTIONS_TASK, queue=QUEUE, lock=SUBSCRIPTIONS_LOCK, queueing_lock=SUBSCRIPTIONS_LOCK
    )
    try:
        deferrer.defer()
    except exceptions.AlreadyEnqueued:
        return DeferResult.ALREADY_WAITING
    return DeferResult.QUEUED


def request_reauthorization(app: App, subscription_id: str) -> DeferResult:
    """Queue the renewal (which reauthorizes) of a subscription Graph asked to reauthorize."""
    return _subscription_job(
        app, REAUTHORIZE_TASK, f"reauthorize:{subscription_id}", subscription_id
    )


def request_recreation(app: App, subscription_id: str) -> DeferResult:
    """Queue the replacement of a subscription Graph removed."""
    return _subscription_job(app, RECREATE_TASK, f"recreate:{subscription_id}", subscription_id)


def _subscription_job(app: App, task: str, key: str, subscription_id: str) -> DeferResult:
    deferrer = app.configure_task(task, queue=QUEUE, lock=SUBSCRIPTIONS_LOCK, queueing_lock=key)
    try:
        deferrer.defer(subscription_id=subscription_id)
    except exceptions.AlreadyEnqueued:
        return DeferResult.ALREADY_WAITING
    return DeferResult.QUEUED
