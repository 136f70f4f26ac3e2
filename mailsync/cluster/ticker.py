"""What every ``mailsync run`` node does in cluster mode: queue syncs, never run them.

Each node runs the same APScheduler ticker; they need no coordination because
the queue de-duplicates: a mailbox with a sync waiting or running is skipped
by the query, and two nodes queuing the same mailbox in the same instant get
one job and one ``AlreadyEnqueued``. Its duties, each on its own interval:

- **tick**: queue a sync for every enabled mailbox whose last good sync is
  older than its poll interval and that is not backing off. With push on, a
  mailbox push covers (every resource kind subscribed, none expired) is polled
  only at the long safety interval; any other one, whose changes nobody
  announces, at the normal ``[sync] interval_seconds``;
- **recover**: requeue jobs left ``doing`` by a worker whose heartbeat
  stopped (procrastinate records heartbeats but leaves recovery to us), and
  drop that worker's row;
- **subscriptions** (push on): queue the subscription check;
- **maintenance** (when given): retroactive linking from the CRM change log
  and the retro window's purge, as the single-process daemon does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from procrastinate import sql
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from crm_store.push_coverage import COVERED_SQL
from mailsync.cluster.queue import (
    QUEUE,
    DeferResult,
    MailsyncApp,
    request_subscription_check,
    request_sync,
    retry_stalled_job,
)
from mailsync.config import Settings
from mailsync.providers.graph.subscriptions import RESOURCE_KINDS
from mailsync.until_signal import run_until_signalled

log = logging.getLogger(__name__)

MAINTENANCE_SECONDS = 3600
"""As the single-process daemon: links from CRM changes within the hour, the purge hourly."""

DUE_MAILBOXES = text(
    f"""
    SELECT m.id FROM mailboxes AS m
     WHERE m.enabled
       AND (m.next_sync_at IS NULL OR m.next_sync_at <= :now)
       AND (m.last_sync_at IS NULL
            OR m.last_sync_at <= :stale_before AND NOT {COVERED_SQL}
            OR m.last_sync_at <= :covered_stale_before)
       AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs AS j
                        WHERE j.queueing_lock = 'mailbox:' || m.id AND j.status = 'todo')
       AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs AS j
                        WHERE j.lock = 'mailbox:' || m.id AND j.status = 'doing')
     ORDER BY m.last_sync_at NULLS FIRST, m.id
    """
)
"""One statement for the whole fleet: push coverage is decided inside it, per mailbox."""


@dataclass(frozen=True, slots=True)
class TickReport:
    queued: int
    already_waiting: int


def covered_poll_seconds(settings: Settings) -> int:
    """A mailbox push covers is polled only as the safety net for lost notifications."""
    if settings.push.enabled:
        return settings.push.safety_poll_seconds
    return settings.sync.interval_seconds


class ClusterTicker:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        app: MailsyncApp,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        maintenance: Callable[[], None] | None = None,
    ) -> None:
        """``maintenance`` (retroactive linking from the change log, the window purge)
        runs on every node; its watermark row lets one node at a time link."""
        self._settings = settings
        self._sessions = sessions
        self._app = app
        self._clock = clock
        self._maintenance = maintenance
        self.stop_event = threading.Event()
        self._scheduler = BackgroundScheduler(timezone=UTC)

    # ------------------------------------------------------------------ duties

    def tick(self) -> TickReport:
        now = self._clock()
        bounds = {
            "now": now,
            "stale_before": now - timedelta(seconds=self._settings.sync.interval_seconds),
            "covered_stale_before": now - timedelta(seconds=covered_poll_seconds(self._settings)),
            "push_kinds": list(RESOURCE_KINDS),
        }
        with self._sessions() as session:
            due = [int(i) for i in session.scalars(DUE_MAILBOXES, bounds)]
        queued = waiting = 0
        for mailbox_id in due:
            if request_sync(self._app, mailbox_id, reason="due") is DeferResult.QUEUED:
                queued += 1
            else:
                waiting += 1
        if queued:
            log.info("queued %d syncs (%d were already waiting)", queued, waiting)
        return TickReport(queued, waiting)

    def recover_stalled(self) -> int:
        """Requeue the running jobs of workers whose heartbeat stopped; returns how many."""
        seconds = self._settings.daemon.stalled_worker_seconds
        connector = self._app.connector.get_sync_connector()
        stalled = connector.execute_query_all(
            query=sql.queries["select_stalled_jobs_by_heartbeat"],
            queue=QUEUE,
            task_name=None,
            seconds_since_heartbeat=seconds,
        )
        recovered = 0
        for row in stalled:
            worker = None if row["worker_id"] is None else int(row["worker_id"])
            if not retry_stalled_job(self._app, int(row["id"]), worker, self._clock()):
                # no longer running on that worker: another node's ticker recovered it
                log.debug("stalled job %s already recovered elsewhere", row["id"])
                continue
            recovered += 1
            log.warning("job %s of a silent worker queued again", row["id"])
        connector.execute_query_all(
            query=sql.queries["prune_stalled_workers"], seconds_since_heartbeat=seconds
        )
        return recovered

    def check_subscriptions(self) -> DeferResult:
        return request_subscription_check(self._app)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        now = self._clock()
        daemon = self._settings.daemon
        duties: list[tuple[str, Callable[[], object], float]] = [
            ("tick", self.tick, daemon.tick_seconds),
            ("recover", self.recover_stalled, max(daemon.heartbeat_seconds, 1.0)),
        ]
        if self._maintenance is not None:
            duties.append(("maintenance", self._maintenance, MAINTENANCE_SECONDS))
        if self._settings.push.enabled:
            duties.append(
                ("subscriptions", self.check_subscriptions, self._settings.push.check_seconds)
            )
        for name, duty, seconds in duties:
            self._scheduler.add_job(
                duty,
                IntervalTrigger(seconds=seconds),
                id=name,
                max_instances=1,
                coalesce=True,
                next_run_time=now,
                misfire_grace_time=None,
            )
        self._scheduler.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def run_forever(self) -> None:
        run_until_signalled(
            self.start,
            self.stop,
            self.stop_event,
            stopping="the ticker stops (queued jobs stay queued)",
        )
