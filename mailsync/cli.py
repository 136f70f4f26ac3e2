"""The `mailsync` command: a thin assembly of the command groups in mailsync.commands.

To add a command group, define it in its own module (taking ``AppContext``
through ``mailsync.commands.context.pass_app`` for settings and the store)
and register it in ``COMMANDS`` below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from addin_manifest.cli import addin
from mailsync.commands.cluster import worker_command
from mailsync.commands.context import AppContext
from mailsync.commands.db import db_group
from mailsync.commands.demo import demo_command
from mailsync.commands.errors import EXIT_CONFIG
from mailsync.commands.export import export_group
from mailsync.commands.import_ import import_group
from mailsync.commands.ingest import ingest_command
from mailsync.commands.init import init_command
from mailsync.commands.report import report_group
from mailsync.commands.rules import rules_group
from mailsync.commands.sync import run_command, status_command, sync_command
from mailsync.config import ConfigError
from mailsync.sandbox.cli import sandbox_group
from web.cli import serve_command, users_group


class MailsyncGroup(click.Group):
    """Prints configuration errors as the message they are, exit code 2, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"mailsync: {exc}", err=True)
            ctx.exit(EXIT_CONFIG)
        finally:
            if isinstance(ctx.obj, AppContext):
                ctx.obj.close()


@click.group(cls=MailsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file (TOML). Default: $MAILSYNC_CONFIG, else ./mailsync.toml, else "
    "built-in defaults (store ./mailsync.db).",
)
@click.version_option(package_name="mailsync")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """mailsync: Outlook / Exchange email and meetings into the CRM store."""
    ctx.obj = AppContext(config_path)


COMMANDS: list[click.Command] = [
    init_command,
    db_group,
    import_group,
    export_group,
    sandbox_group,
    sync_command,
    run_command,
    worker_command,
    status_command,
    demo_command,
    report_group,
    rules_group,
    ingest_command,
    serve_command,
    users_group,
]

for command in COMMANDS:
    main.add_command(command)
main.add_command(addin)
