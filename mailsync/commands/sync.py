"""`mailsync sync --once`, `mailsync run` and `mailsync status`.

``sync --once`` runs one pass over the enabled mailboxes now (ignoring any
backoff: a person asked for it), with a progress bar per mailbox; ``run``
starts the daemon; ``status`` shows each mailbox's state from the store.
SIGTERM/Ctrl-C during ``sync --once`` lets the page in hand commit first.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from crm_store.database import session_scope
from crm_store.models import Mailbox, MeetingCopy, MessageCopy
from mailsync.commands.cluster import cluster_summary, format_age, run_cluster_node
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.store_checks import require_current_schema
from mailsync.daemon import SyncDaemon
from mailsync.engine import PageProgress
from mailsync.mailboxes import register_mailboxes
from mailsync.outcome import OutcomeKind, SyncOutcome
from mailsync.retro_linking import maintenance_for
from mailsync.runtime import registry_for, sync_engine_for

EXIT_SYNC_FAILED = 3
"""At least one mailbox did not finish its pass (throttled, failed, auth_failed)."""


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _prepare(app: AppContext) -> None:
    require_current_schema(app)
    with session_scope(app.session_factory(), write=True) as session:
        register_mailboxes(session, app.settings.mailboxes)


def sync_once(app: AppContext, only: str | None, console: Console) -> dict[str, SyncOutcome]:
    """One pass over the enabled mailboxes (or just ``only``); returns each outcome."""
    _prepare(app)
    sessions = app.session_factory()
    registry = registry_for(app.settings)
    engine = sync_engine_for(app.settings, sessions)
    daemon = SyncDaemon(
        sessions,
        engine,
        registry.provider_for,
        interval_seconds=app.settings.sync.interval_seconds,
        jitter_seconds=app.settings.sync.jitter_seconds,
    )
    mailboxes = daemon.enabled_mailboxes()
    if only is not None:
        mailboxes = [m for m in mailboxes if m[1] == only.strip().lower()]
        if not mailboxes:
            raise click.UsageError(f"{only} is not an enabled mailbox in the configuration")
    outcomes: dict[str, SyncOutcome] = {}
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=None),
        TextColumn("{task.fields[items]} items, {task.fields[pages]} pages {task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
    )
    with stop_on_signals(daemon.stop_event), progress:
        for mailbox_id, address, provider_name in mailboxes:
            task = progress.add_task(address, total=None, items=0, pages=0, state="")

            def advance(page: PageProgress, task_id: TaskID = task) -> None:
                progress.advance(task_id)
                current = progress.tasks[task_id].fields
                progress.update(
                    task_id,
                    items=current["items"] + page.items,
                    pages=current["pages"] + 1,
                    state=page.folder,
                )

            provider = registry.provider_for(provider_name, address)
            outcome = engine.sync_mailbox(
                mailbox_id, provider, stop=daemon.stop_event, on_page=advance
            )
            outcomes[address] = outcome
            progress.update(task, total=1, completed=1, state=_describe(outcome))
            if outcome.kind is OutcomeKind.STOPPED:
                break
    return outcomes


def _describe(outcome: SyncOutcome) -> str:
    if outcome.kind is OutcomeKind.OK:
        return "ok"
    return f"{outcome.kind.value}: {outcome.reason[:80]}"


@click.command("sync")
@click.option("--once", is_flag=True, required=True, help="One pass over the mailboxes, then exit.")
@click.option("--mailbox", "only", default=None, metavar="ADDR", help="Sync only this mailbox.")
@pass_app
def sync_command(app: AppContext, once: bool, only: str | None) -> None:
    """Sync every enabled mailbox once (use `mailsync run` for the daemon)."""
    console = Console(stderr=True)
    outcomes = sync_once(app, only, console)
    bad = {a: o for a, o in outcomes.items() if o.kind is not OutcomeKind.OK}
    for address, outcome in bad.items():
        click.echo(f"{address}: {_describe(outcome)}", err=True)
    if bad:
        raise SystemExit(EXIT_SYNC_FAILED)


def _now() -> datetime:
    return datetime.now(UTC)


@click.command("run")
@pass_app
def run_command(app: AppContext) -> None:
    """Run the sync daemon until SIGTERM or Ctrl-C (the page in hand commits first).

    In cluster mode this node only queues syncs; `mailsync worker` runs them.
    """
    if app.settings.daemon.mode == "cluster":
        run_cluster_node(app)
        return
    _prepare(app)
    sessions = app.session_factory()
    daemon = SyncDaemon(
        sessions,
        sync_engine_for(app.settings, sessions),
        registry_for(app.settings).provider_for,
        interval_seconds=app.settings.sync.interval_seconds,
        jitter_seconds=app.settings.sync.jitter_seconds,
        maintenance=maintenance_for(app.settings, sessions),
    )
    click.echo(f"mailsync daemon: {len(daemon.enabled_mailboxes())} mailboxes; Ctrl-C to stop")
    web = None
    if app.settings.web.enabled:
        from web.server import BackgroundWeb  # only when served here: ~0.7 s of imports

        web = BackgroundWeb(app.settings, sessions)
        web.start()
        settings = app.settings.web
        click.echo(f"web service on {settings.host}:{settings.port} ({settings.public_base_url})")
    try:
        daemon.run_forever()
    finally:
        if web is not None:
            web.stop()


@click.command("status")
@pass_app
def status_command(app: AppContext) -> None:
    """Each mailbox: state, last sync, stored items, last error."""
    require_current_schema(app)
    table = Table("mailbox", "state", "last sync", "age", "items", "next try", "last error")
    now = datetime.now(UTC)
    with app.session_factory()() as session:
        counts: dict[int, int] = {}
        for copy in (MessageCopy, MeetingCopy):
            for mailbox_id, count in session.execute(
                select(copy.mailbox_id, func.count())
                .where(copy.removed.is_(False))
                .group_by(copy.mailbox_id)
            ):
                counts[mailbox_id] = counts.get(mailbox_id, 0) + int(count)
        for mailbox in session.scalars(select(Mailbox).order_by(Mailbox.address)):
            state = mailbox.sync_status if mailbox.enabled else "disabled"
            table.add_row(
                mailbox.address,
                state,
                mailbox.last_sync_at.strftime("%Y-%m-%d %H:%M:%S")
                if mailbox.last_sync_at
                else "never",
                format_age(now, mailbox.last_sync_at),
                str(counts.get(mailbox.id, 0)),
                mailbox.next_sync_at.strftime("%Y-%m-%d %H:%M:%S") if mailbox.next_sync_at else "",
                (mailbox.last_error or "")[:120],
            )
        summary = cluster_summary(session, app.settings, now)
    console = Console()
    console.print(table)
    for line in summary:
        console.print(line)
