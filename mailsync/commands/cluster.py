"""`mailsync worker`, and what `mailsync run` does in cluster mode (a ticker node)."""

from __future__ import annotations

import logging

import click

from crm_store.database import session_scope
from mailsync.cluster.queue import client_app
from mailsync.cluster.ticker import ClusterTicker, poll_interval_seconds
from mailsync.cluster.worker import run_worker
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.store_checks import require_current_schema
from mailsync.mailboxes import register_mailboxes


def _require_cluster(app: AppContext, command: str) -> None:
    if app.settings.daemon.mode != "cluster":
        raise click.UsageError(
            f'`mailsync {command}` runs cluster mode; set [daemon] mode = "cluster" '
            "(with a PostgreSQL [store] url) in the configuration"
        )


def run_cluster_node(app: AppContext) -> None:
    """A ticker (and the web service, when enabled) until SIGTERM or Ctrl-C."""
    from web.server import BackgroundWeb  # web is optional for a worker-only machine

    require_current_schema(app)
    sessions = app.session_factory()
    with session_scope(sessions, write=True) as session:
        register_mailboxes(session, app.settings.mailboxes)
    queue = client_app(app.settings.database_url)
    ticker = ClusterTicker(app.settings, sessions, queue)
    settings = app.settings
    click.echo(
        f"mailsync cluster node: queuing syncs every {poll_interval_seconds(settings)}s per "
        f"mailbox (tick {settings.daemon.tick_seconds:g}s); run `mailsync worker` to sync"
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
