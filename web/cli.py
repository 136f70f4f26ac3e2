"""`mailsync serve` and `mailsync users token create`: the web service's commands."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import click
from sqlalchemy import func, select

from crm_store.database import session_scope
from crm_store.models import User
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.store_checks import require_current_schema
from web.auth.api_tokens import issue_token
from web.server import serve


@click.command("serve")
@click.option("--host", default=None, help="Listen address (default: [web] host).")
@click.option("--port", type=click.IntRange(1, 65_535), default=None, help="Default: [web] port.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Server processes (default: the number of CPUs; one process uses one core).",
)
@pass_app
def serve_command(app: AppContext, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the add-in API and files until Ctrl-C (no sync; `mailsync run` does both)."""
    require_current_schema(app)
    web = app.settings.web
    serve(
        app.settings,
        app.session_factory(),
        host or web.host,
        port or web.port,
        workers=workers or os.cpu_count() or 1,
        config_path=app.config_path,
    )


@click.group("users")
def users_group() -> None:
    """Users of the web service and their personal API tokens."""


@users_group.group("token")
def token_group() -> None:
    """Personal API tokens for scripts (stored hashed; shown once)."""


@token_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the token is for (shown in listings).")
@click.option(
    "--expires-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="Days until the token stops working (default: never).",
)
@pass_app
def token_create(app: AppContext, email: str, name: str, expires_days: int | None) -> None:
    """Create an API token for the user EMAIL and print it (the only time it is shown)."""
    require_current_schema(app)
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    with session_scope(app.session_factory(), write=True) as session:
        user = session.execute(
            select(User).where(func.lower(User.email) == email.strip().lower())
        ).scalar_one_or_none()
        if user is None:
            raise click.ClickException(
                f"no user {email.strip()}; import it first (`mailsync import users FILE`)"
            )
        issued = issue_token(session, user, name=name, expires_at=expires)
    click.echo(issued.token)
    click.echo(
        f"token {issued.prefix}… for {user.email} created"
        + (f", expires {expires:%Y-%m-%d}" if expires else "")
        + "; store it now, it cannot be shown again",
        err=True,
    )
