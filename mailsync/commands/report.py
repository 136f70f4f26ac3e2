"""`mailsync report stale`: open deals nobody has emailed or met for N days.

The same query and the same ``[reports] stale_after_days`` as the team
dashboard, seen as the operator (every deal), or narrowed to one owner.
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime

import click
from sqlalchemy import func, select

from crm_store.activity import stale_opportunities
from crm_store.database import session_scope
from crm_store.models import User
from crm_store.visibility import Viewer
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.store_checks import require_current_schema

COLUMNS = ("code", "name", "account", "owner", "stage", "last_contact", "days_since_contact")


@click.group("report")
def report_group() -> None:
    """Reports on the linked correspondence."""


@report_group.command("stale")
@click.option(
    "--days",
    type=click.IntRange(1, 365),
    default=None,
    help="Quiet for at least this many days (default: [reports] stale_after_days).",
)
@click.option("--owner", "owner_email", default=None, help="Only deals owned by this user.")
@click.option(
    "--format", "output", type=click.Choice(["table", "csv"]), default="table", show_default=True
)
@pass_app
def stale_command(app: AppContext, days: int | None, owner_email: str | None, output: str) -> None:
    """List open opportunities with no linked email or meeting for N days (or never)."""
    require_current_schema(app)
    after_days = days or app.settings.reports.stale_after_days
    now = datetime.now(UTC)
    with session_scope(app.session_factory()) as session:
        owner_id = None
        if owner_email is not None:
            owner_id = session.execute(
                select(User.id).where(func.lower(User.email) == owner_email.strip().lower())
            ).scalar_one_or_none()
            if owner_id is None:
                raise click.BadParameter(f"no user {owner_email.strip()}", param_hint="--owner")
        stale = stale_opportunities(
            session, Viewer.everyone(), after_days=after_days, now=now, owner_id=owner_id
        )
    rows = [
        (
            o.code,
            o.name,
            o.account_name,
            o.owner_name or "",
            o.stage,
            o.last_contact_at.date().isoformat() if o.last_contact_at else "never",
            "" if o.last_contact_at is None else str(o.days_since_contact(now)),
        )
        for o in stale
    ]
    if output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        return
    if not rows:
        click.echo(f"No open opportunity has been quiet for {after_days} days.")
        return
    widths = [max(len(str(r[i])) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    for row in [COLUMNS, *rows]:
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        )
    click.echo(
        f"{len(rows)} open opportunit{'y' if len(rows) == 1 else 'ies'} quiet for "
        f"{after_days}+ days.",
        err=True,
    )
