"""``mailsync worker``: run sync jobs from the queue, on any machine that reaches the store.

Sync jobs are ordinary blocking code (httpx, SQLAlchemy); procrastinate runs
synchronous tasks in threads, so ``concurrency`` is the number of mailboxes
this process syncs at once. Heartbeats let the tickers notice a worker that
died mid-job (``stalled_worker_seconds``) and queue its job again; a SIGTERM
lets running syncs finish first (procrastinate's graceful shutdown).
"""

from __future__ import annotations

import logging

from procrastinate import jobs as procrastinate_jobs

from crm_store.database import make_engine, make_session_factory
from mailsync.cluster.pg_budget import PostgresBudget
from mailsync.cluster.queue import QUEUE, worker_app
from mailsync.cluster.tasks import RUNTIME_KEY, WorkerRuntime
from mailsync.config import Settings
from mailsync.runtime import budget_limits, registry_for, sync_engine_for

log = logging.getLogger(__name__)


def run_worker(
    settings: Settings, *, concurrency: int | None = None, name: str | None = None
) -> None:
    """Run until SIGTERM/SIGINT; returns after running jobs have finished."""
    daemon = settings.daemon
    threads = concurrency or daemon.worker_concurrency
    # Each running sync holds up to three connections: its session, its tenant
    # slot and one request slot; the queue has a pool of its own.
    engine = make_engine(settings.database_url, pool_size=3 * threads + 2, max_overflow=threads)
    sessions = make_session_factory(engine)
    budget = PostgresBudget(engine, budget_limits(settings))
    app = worker_app(settings.database_url, pool_size=threads + 2)
    runtime = WorkerRuntime(
        settings=settings,
        sessions=sessions,
        engine=sync_engine_for(settings, sessions),
        registry=registry_for(settings, budget),
        slots=budget,
        app=app,
    )
    log.info("worker %s: %d concurrent syncs", name or "(unnamed)", threads)
    try:
        app.run_worker(
            queues=[QUEUE],
            name=name,
            concurrency=threads,
            additional_context={RUNTIME_KEY: runtime},
            update_heartbeat_interval=daemon.heartbeat_seconds,
            stalled_worker_timeout=daemon.stalled_worker_seconds,
            delete_jobs=procrastinate_jobs.DeleteJobCondition.SUCCESSFUL,
            fetch_job_polling_interval=min(daemon.tick_seconds, 5.0),
            listen_notify=True,
        )
    finally:
        engine.dispose()
