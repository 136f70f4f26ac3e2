"""Queue depth, running and failed jobs, each mailbox's freshness and push coverage.

One module computes the figures so ``mailsync status`` and ``/metrics`` can
never disagree. Queue figures exist only where procrastinate's tables do
(cluster mode on PostgreSQL); elsewhere they are None and only freshness shows.
Push coverage shows only with push on: a mailbox it does not cover is polled
at the normal interval, and someone should find out why it is not covered.

Labels stay bounded: per mailbox only where the freshness gauge already
names the mailbox; otherwise a reason or a resource kind, each a short fixed set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crm_store.models import Mailbox
from crm_store.push_coverage import Gap, MailboxCoverage, push_coverage
from mailsync.providers.graph.subscriptions import RESOURCE_KINDS


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


@dataclass(frozen=True, slots=True)
class PushFigures:
    mailboxes: list[MailboxCoverage]  # every enabled mailbox, by address

    @property
    def covered(self) -> list[MailboxCoverage]:
        return [m for m in self.mailboxes if m.covered]

    @property
    def uncovered(self) -> list[MailboxCoverage]:
        return [m for m in self.mailboxes if not m.covered]

    def uncovered_by_reason(self) -> dict[Gap, int]:
        """Every reason (zero included), each mailbox counted once under its worst gap."""
        counts = dict.fromkeys(Gap, 0)
        for mailbox in self.uncovered:
            if mailbox.reason is not None:
                counts[mailbox.reason] += 1
        return counts


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


def push_figures(session: Session, push_enabled: bool, now: datetime) -> PushFigures | None:
    """None with push off: then every mailbox polls at the normal interval anyway."""
    if not push_enabled:
        return None
    return PushFigures(push_coverage(session, RESOURCE_KINDS, now))


def _escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    """Whole numbers plainly, others exactly: ``:g`` would round a Unix time to 1.76e+09."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def prometheus_text(
    queue: QueueFigures | None, mailboxes: list[Freshness], push: PushFigures | None = None
) -> str:
    """The Prometheus text exposition format (version 0.0.4) of the same figures."""
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

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
    if push is not None:
        _push_gauges(gauge, push)
    return "\n".join(lines) + "\n"


def _push_gauges(
    gauge: Callable[[str, str, list[tuple[str, float]]], None], push: PushFigures
) -> None:
    gauge(
        "mailsync_push_mailboxes_covered",
        "Enabled mailboxes with every Graph subscription live (polled at the safety interval).",
        [("", len(push.covered))],
    )
    gauge(
        "mailsync_push_mailboxes_uncovered",
        "Enabled mailboxes push does not cover (polled at the normal interval), "
        "by their worst gap.",
        [(f'{{reason="{reason.value}"}}', n) for reason, n in push.uncovered_by_reason().items()],
    )
    gauge(
        "mailsync_mailbox_push_covered",
        "1 when every Graph subscription of the mailbox is live, else 0.",
        [
            (f'{{mailbox="{_escape(m.address)}"}}', 1.0 if m.covered else 0.0)
            for m in push.mailboxes
        ],
    )
    gauge(
        "mailsync_push_subscription_next_retry_timestamp_seconds",
        "When a subscription Graph refused to create is tried again (Unix time).",
        [
            (
                f'{{mailbox="{_escape(m.address)}",kind="{g.resource_kind}"}}',
                g.retry_at.timestamp(),
            )
            for m in push.uncovered
            for g in m.gaps
            if g.gap is Gap.FAILING and g.retry_at is not None
        ],
    )
