"""The background sync daemon: one APScheduler job per enabled mailbox.

Jobs run at the configured interval with jitter, ``max_instances=1`` and
``coalesce=True``; a per-mailbox lock also covers the one-off retry job a
throttled run schedules, so a mailbox never syncs twice at once. Backoff lives
on the mailbox row (``next_sync_at``): a run that finds it in the future
returns at once, and a throttled mailbox gets a one-off job at its Retry-After
instead of a sleeping worker. On SIGTERM/Ctrl-C the stop event is set: the
engine commits the page in hand, then every job returns and the process exits.

Every mailbox polls at ``[sync] interval_seconds`` here: Graph push needs the
cluster's queue (``[push]`` is refused in embedded mode), so no mailbox is
ever covered by notifications and none may wait for the longer safety poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_store.models import Mailbox
from mailsync.engine import SyncEngine
from mailsync.outcome import OutcomeKind, SyncOutcome
from mailsync.providers.base import MailboxProvider
from mailsync.until_signal import run_until_signalled

log = logging.getLogger(__name__)


class SyncDaemon:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        engine: SyncEngine,
        provider_for: Callable[[str, str], MailboxProvider],
        *,
        interval_seconds: int,
        jitter_seconds: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        maintenance: Callable[[], None] | None = None,
        maintenance_seconds: int = 3600,
    ) -> None:
        """``maintenance`` (the retro window's purge) runs at start, then every
        ``maintenance_seconds``, beside the mailbox jobs and never twice at once."""
        self._maintenance = maintenance
        self._maintenance_seconds = maintenance_seconds
        self._sessions = sessions
        self._engine = engine
        self._provider_for = provider_for
        self._interval = interval_seconds
        self._jitter = jitter_seconds
        self._clock = clock
        self.stop_event = threading.Event()
        self._locks: dict[int, threading.Lock] = {}
        self._scheduler = BackgroundScheduler(timezone=UTC)

    # ------------------------------------------------------------------ jobs

    def enabled_mailboxes(self) -> list[tuple[int, str, str]]:
        with self._sessions() as session:
            rows = session.execute(
                select(Mailbox.id, Mailbox.address, Mailbox.provider)
                .where(Mailbox.enabled.is_(True))
                .order_by(Mailbox.id)
            )
            return [(int(i), str(a), str(p)) for i, a, p in rows]

    def run_mailbox(self, mailbox_id: int, *, respect_backoff: bool = True) -> SyncOutcome | None:
        """One run of one mailbox; None when skipped (busy, backing off, disabled, stopping)."""
        if self.stop_event.is_set():
            return None
        lock = self._locks.setdefault(mailbox_id, threading.Lock())
        if not lock.acquire(blocking=False):
            return None
        try:
            with self._sessions() as session:
                mailbox = session.get(Mailbox, mailbox_id)
                if mailbox is None or not mailbox.enabled:
                    return None
                address, provider_name = mailbox.address, mailbox.provider
                not_before = mailbox.next_sync_at
            if respect_backoff and not_before is not None and not_before > self._clock():
                log.debug("mailbox %s backs off until %s", address, not_before.isoformat())
                return None
            provider = self._provider_for(provider_name, address)
            outcome = self._engine.sync_mailbox(mailbox_id, provider, stop=self.stop_event)
        finally:
            lock.release()
        if outcome.kind is OutcomeKind.THROTTLED and outcome.retry_at is not None:
            self._schedule_retry(mailbox_id, outcome.retry_at)
        return outcome

    def _schedule_retry(self, mailbox_id: int, when: datetime) -> None:
        if not self._scheduler.running or self.stop_event.is_set():
            return
        self._scheduler.add_job(
            self.run_mailbox,
            DateTrigger(run_date=when),
            args=[mailbox_id],
            id=f"retry-{mailbox_id}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        now = self._clock()
        for mailbox_id, address, _ in self.enabled_mailboxes():
            self._scheduler.add_job(
                self.run_mailbox,
                IntervalTrigger(seconds=self._interval, jitter=self._jitter or None),
                args=[mailbox_id],
                id=f"mailbox-{mailbox_id}",
                name=f"sync {address}",
                max_instances=1,
                coalesce=True,
                next_run_time=now,
                misfire_grace_time=None,
            )
        if self._maintenance is not None:
            self._scheduler.add_job(
                self.run_maintenance,
                IntervalTrigger(seconds=self._maintenance_seconds),
                id="maintenance",
                name="maintenance",
                max_instances=1,
                coalesce=True,
                next_run_time=now,
                misfire_grace_time=None,
            )
        self._scheduler.start()

    def run_maintenance(self) -> None:
        """One maintenance pass; a failure is logged with its traceback and retried next time."""
        if self._maintenance is None or self.stop_event.is_set():
            return
        try:
            self._maintenance()
        except Exception:
            log.exception("maintenance failed; it runs again in %ss", self._maintenance_seconds)

    def stop(self) -> None:
        """Let running pages commit, then stop every job."""
        self.stop_event.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def run_forever(self) -> None:
        """Start, wait for SIGTERM/SIGINT in the main thread, then stop gracefully."""
        run_until_signalled(
            self.start,
            self.stop,
            self.stop_event,
            stopping="finishing the current pages, then exiting",
        )
