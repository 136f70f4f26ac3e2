"""`mailsync worker`, and what `mailsync run` does in cluster mode (a ticker node)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import click
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import session_scope
from crm_store.push_coverage import Gap, KindGap, MailboxCoverage
from mailsync.cluster.figures import PushFigures, freshness, push_figures, queue_figures
from mailsync.cluster.queue import client_app
from mailsync.cluster.ticker import ClusterTicker, covered_poll_seconds
from mailsync.cluster.worker import run_worker
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.store_checks import require_current_schema
from mailsync.config import Settings
from mailsync.mailboxes import register_mailboxes
from mailsync.retro_linking import maintenance_for

REGISTRATION_LOCK = 0x6D61_696C_7379_6E63  # "mailsync": the advisory lock of mailbox registration


def _require_cluster(app: AppContext, command: str) -> None:
    if app.settings.daemon.mode != "cluster":
        raise click.UsageError(
            f'`mailsync {command}` runs cluster mode; set [daemon] mode = "cluster" '
            "(with a PostgreSQL [store] url) in the configuration"
        )


def format_age(now: datetime, moment: datetime | None) -> str:
    """How long ago, compactly: 42s, 7m, 3h, 2d (or "never")."""
    if moment is None:
        return "never"
    seconds = max((now - moment).total_seconds(), 0.0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def cluster_summary(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Freshness across mailboxes, push coverage (push on), and the job queue's figures."""
    mailboxes = freshness(session, now)
    ages = [m.age_seconds for m in mailboxes if m.age_seconds is not None]
    lines = [
        f"freshness: {len(mailboxes)} enabled mailboxes, oldest good sync "
        f"{max(ages, default=0.0):.0f}s ago, {len(mailboxes) - len(ages)} never synced"
    ]
    push = push_figures(session, settings.push.enabled, now)
    if push is not None:
        lines.extend(push_summary(push, settings, now))
    queue = queue_figures(session, settings.daemon.stalled_worker_seconds)
    if queue is not None:
        lines.append(
            f"queue: {queue.waiting} waiting, {queue.scheduled} scheduled later, "
            f"{queue.running} running, {queue.failed} failed; {queue.workers} live workers"
        )
    return lines


UNCOVERED_SHOWN = 20
"""Uncovered mailboxes listed by name; a fleet-wide outage is summed up, not listed."""


def push_summary(push: PushFigures, settings: Settings, now: datetime) -> list[str]:
    """How many mailboxes push covers, and each uncovered one with why."""
    uncovered = push.uncovered
    lines = [
        f"push: {len(push.covered)} of {len(push.mailboxes)} enabled mailboxes covered "
        f"(polled every {covered_poll_seconds(settings)}s as a safety net)"
    ]
    if not uncovered:
        return lines
    reasons = ", ".join(
        f"{count} {reason.value.replace('_', ' ')}"
        for reason, count in push.uncovered_by_reason().items()
        if count
    )
    lines.append(
        f"push: {len(uncovered)} not covered ({reasons}), "
        f"polled every {settings.sync.interval_seconds}s:"
    )
    lines.extend(f"  {_coverage_line(m, now)}" for m in uncovered[:UNCOVERED_SHOWN])
    if len(uncovered) > UNCOVERED_SHOWN:
        lines.append(
            f"  … and {len(uncovered) - UNCOVERED_SHOWN} more (mailsync_mailbox_push_covered)"
        )
    return lines


def _coverage_line(mailbox: MailboxCoverage, now: datetime) -> str:
    if all(g.gap is Gap.NOT_GRAPH for g in mailbox.gaps):
        return f"{mailbox.address}: not a Graph mailbox (no push for EWS)"
    return f"{mailbox.address}: " + "; ".join(_gap_text(g, now) for g in mailbox.gaps)


def _gap_text(gap: KindGap, now: datetime) -> str:
    kind = gap.resource_kind
    if gap.gap is Gap.FAILING and gap.retry_at is not None:
        when = gap.retry_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        due = f"in {format_age(gap.retry_at, now)}" if gap.retry_at > now else "overdue"
        plural = "s" if gap.failures != 1 else ""
        return f"{kind} failing ({gap.failures} failure{plural}), next try {when} ({due})"
    if gap.gap is Gap.EXPIRED and gap.since is not None:
        return f"{kind} expired {format_age(now, gap.since)} ago"
    return f"{kind} {gap.gap.value.replace('_', ' ')}"


def register_node_mailboxes(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Every node registers the configured mailboxes as it starts, one node at a time.

    Nodes started together would each insert the same new rows, and all but one
    would fail on the unique address; under the lock the later ones find the rows.
    """
    with session_scope(sessions, write=True) as session:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRATION_LOCK})
        register_mailboxes(session, settings.mailboxes)


def run_cluster_node(app: AppContext) -> None:
    """A ticker (and the web service, when enabled) until SIGTERM or Ctrl-C."""
    from web.server import BackgroundWeb  # web is optional for a worker-only machine

    require_current_schema(app)
    sessions = app.session_factory()
    register_node_mailboxes(sessions, app.settings)
    queue = client_app(app.settings.database_url)
    ticker = ClusterTicker(
        app.settings, sessions, queue, maintenance=maintenance_for(app.settings, sessions)
    )
    settings = app.settings
    every = f"every {settings.sync.interval_seconds}s per mailbox"
    if settings.push.enabled:
        every += f", every {covered_poll_seconds(settings)}s for those push covers"
    click.echo(
        f"mailsync cluster node: queuing syncs {every} "
        f"(tick {settings.daemon.tick_seconds:g}s); run `mailsync worker` to sync"
    )
    web = BackgroundWeb(settings, sessions) if settings.web.enabled else None
    try:
        if web is not None:
            web.start()
            click.echo(f"web service on {settings.web.host}:{settings.web.port}")
        ticker.run_forever()
    finally:
        if web is not None:
            web.stop()
        queue.close()


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help="Mailboxes synced at once by this process (default: [daemon] worker_concurrency).",
)
@click.option("--name", default=None, help="Worker name shown in logs.")
@pass_app
def worker_command(app: AppContext, concurrency: int | None, name: str | None) -> None:
    """Run queued syncs (cluster mode) until SIGTERM or Ctrl-C; running syncs finish first."""
    _require_cluster(app, "worker")
    require_current_schema(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Graph request otherwise
    run_worker(app.settings, concurrency=concurrency, name=name)
