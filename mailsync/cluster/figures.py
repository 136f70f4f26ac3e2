"""Queue depth, running and failed jobs, and each mailbox's freshness, from the store.

One module computes the figures so ``mailsync status`` and ``/metrics`` can
never disagree. Queue figures exist only where procrastinate's tables do
(cluster mode on PostgreSQL); elsewhere they are None and only freshness shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crm_store.models import Mailbox


@dataclass(frozen=True, slots=True)
class QueueFigures:
    waiting: int  # due now, not yet picked up: the queue depth
    scheduled: int  # waiting for a later time (Retry-After, backoff)
    running: int
    failed: int  # ended failed (retries used up, or a bug): someone should look
    workers: int  # registered workers with a recent heartbeat


@dataclass(frozen=True, slots=True)
class Freshness:
    address: str
    status: str
    last_sync_at: datetime | None
    age_seconds: float | None  # None: never synced


QUEUE_FIGURES = text(
    """
    SELECT
      count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())),
      count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()),
      count(*) FILTER (WHERE status = 'doing'),
      count(*) FILTER (WHERE status = 'failed'),
      (SELECT count(*) FROM procrastinate_workers
        WHERE last_heartbeat > now() - make_interval(secs => :stalled))
    FROM procrastinate_jobs
    """
)


def queue_figures(session: Session, stalled_seconds: float) -> QueueFigures | None:
    if session.get_bind().dialect.name != "postgresql":
        return None
    if session.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is None:
        return None
    waiting, scheduled, running, failed, workers = session.execute(
        QUEUE_FIGURES, {"stalled": stalled_seconds}
    ).one()
    return QueueFigures(int(waiting), int(scheduled), int(running), int(failed), int(workers))


def freshness(session: Session, now: datetime) -> list[Freshness]:
    rows = session.execute(
        select(Mailbox.address, Mailbox.sync_status, Mailbox.last_sync_at)
        .where(Mailbox.enabled.is_(True))
        .order_by(Mailbox.address)
    )
    return [
        Freshness(
            str(address),
            str(status),
            last,
            (now - last).total_seconds() if last is not None else None,
        )
        for address, status, last in rows
    ]


def _escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(queue: QueueFigures | None, mailboxes: list[Freshness]) -> str:
    """The Prometheus text exposition format (version 0.0.4) of the same figures."""
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    if queue is not None:
        gauge(
            "mailsync_queue_waiting_jobs",
            "Sync jobs due and not yet running.",
            [("", queue.waiting)],
        )
        gauge(
            "mailsync_queue_scheduled_jobs",
            "Sync jobs waiting for a later time (Retry-After, backoff).",
            [("", queue.scheduled)],
        )
        gauge("mailsync_queue_running_jobs", "Jobs running now.", [("", queue.running)])
        gauge("mailsync_queue_failed_jobs", "Jobs that ended failed.", [("", queue.failed)])
        gauge("mailsync_workers", "Workers with a recent heartbeat.", [("", queue.workers)])
    synced = [m for m in mailboxes if m.age_seconds is not None]
    gauge("mailsync_mailboxes", "Enabled mailboxes.", [("", len(mailboxes))])
    gauge(
        "mailsync_mailboxes_never_synced",
        "Enabled mailboxes without a good sync yet.",
        [("", len(mailboxes) - len(synced))],
    )
    gauge(
        "mailsync_max_staleness_seconds",
        "Age of the oldest last good sync among enabled mailboxes.",
        [("", max((m.age_seconds or 0.0 for m in synced), default=0.0))],
    )
    gauge(
        "mailsync_mailbox_staleness_seconds",
        "Seconds since each mailbox's last good sync.",
        [(f'{{mailbox="{_escape(m.address)}"}}', m.age_seconds or 0.0) for m in synced],
    )
    return "\n".join(lines) + "\n"
