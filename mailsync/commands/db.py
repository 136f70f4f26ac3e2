"""`mailsync db …`: the store's schema, owned by Alembic migrations in crm_store."""

from __future__ import annotations

import click
from sqlalchemy.exc import OperationalError

from crm_store.migrate import current_revision, head_revision, upgrade
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.errors import StoreNotReady


@click.group("db")
def db_group() -> None:
    """Create or upgrade the store's schema, or show its revision."""


def upgrade_store(app: AppContext) -> str:
    """Bring the store to the newest schema; returns the revision it is at."""
    try:
        upgrade(app.engine)
        revision = current_revision(app.engine)
    except OperationalError as exc:
        raise StoreNotReady(f"cannot open the store at {app.database_label}: {exc.orig}") from None
    return revision or "(none)"


@db_group.command("upgrade")
@pass_app
def db_upgrade(app: AppContext) -> None:
    """Apply every migration the store has not had yet (safe to repeat)."""
    revision = upgrade_store(app)
    click.echo(f"store {app.database_label} is at revision {revision} (newest)")


@db_group.command("current")
@pass_app
def db_current(app: AppContext) -> None:
    """Show the store's schema revision and whether it is the newest."""
    try:
        revision = current_revision(app.engine)
    except OperationalError as exc:
        raise StoreNotReady(f"cannot open the store at {app.database_label}: {exc.orig}") from None
    head = head_revision()
    if revision is None:
        state = f"no schema yet; run `mailsync db upgrade` to create revision {head}"
    elif revision == head:
        state = "up to date"
    else:
        state = f"behind {head}; run `mailsync db upgrade`"
    click.echo(f"store {app.database_label}: revision {revision or '(none)'} ({state})")
