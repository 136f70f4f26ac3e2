"""`mailsync init`: a config file and a migrated store, created only when absent."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.db import upgrade_store
from mailsync.config import CONFIG_ENV, DEFAULT_CONFIG_NAME


def example_config_text() -> str:
    """The documented example (config.example.toml), shipped inside the package."""
    return files("mailsync.config").joinpath("example.toml").read_text(encoding="utf-8")


def config_target(app: AppContext) -> Path:
    """Where init writes: --config, else MAILSYNC_CONFIG, else ./mailsync.toml."""
    chosen = app.config_path or Path(os.environ.get(CONFIG_ENV, "").strip() or DEFAULT_CONFIG_NAME)
    return chosen.expanduser().absolute()


def write_config_if_absent(path: Path) -> bool:
    """True when the file was written; an existing file is never touched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(example_config_text())
    except FileExistsError:
        return False
    return True


@click.command("init")
@pass_app
def init_command(app: AppContext) -> None:
    """Create the config file (from the example) and the store, when they are absent.

    Safe to run again: an existing config file is left as it is, and the store
    is only upgraded to the newest schema.
    """
    path = config_target(app)
    if write_config_if_absent(path):
        click.echo(f"wrote {path} from the example; edit [tenant] and [[mailboxes]] next")
    else:
        click.echo(f"kept the existing {path}")
    app.config_path = path
    database = make_url(app.settings.database_url).database
    if app.settings.database_url.startswith("sqlite") and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    revision = upgrade_store(app)
    click.echo(f"store {app.database_label} is at revision {revision} (newest)")
