"""The `mailsync` command: a thin assembly of the command groups in mailsync.commands.

To add a command group, define it in its own module (taking ``AppContext``
through ``mailsync.commands.context.pass_app`` for settings and the store)
and register its name and ``module:attribute`` in ``COMMANDS`` below.

A command's module is imported only when that command runs (or ``--help``
lists them): a ``mailsync worker`` has no use for the web service, the demo
or the add-in tooling, and importing them all cost each process about a
second of CPU at start-up — paid by every worker and node of a fleet.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from mailsync.commands.context import AppContext
from mailsync.commands.errors import EXIT_CONFIG
from mailsync.config import ConfigError

COMMANDS: dict[str, str] = {
    "init": "mailsync.commands.init:init_command",
    "auth": "mailsync.commands.auth:auth_group",
    "db": "mailsync.commands.db:db_group",
    "import": "mailsync.commands.import_:import_group",
    "export": "mailsync.commands.export:export_group",
    "sandbox": "mailsync.sandbox.cli:sandbox_group",
    "sync": "mailsync.commands.sync:sync_command",
    "run": "mailsync.commands.sync:run_command",
    "worker": "mailsync.commands.cluster:worker_command",
    "status": "mailsync.commands.sync:status_command",
    "demo": "mailsync.commands.demo:demo_command",
    "report": "mailsync.commands.report:report_group",
    "rules": "mailsync.commands.rules:rules_group",
    "ingest": "mailsync.commands.ingest:ingest_command",
    "serve": "web.cli:serve_command",
    "users": "web.cli:users_group",
    "addin": "addin_manifest.cli:addin",
}
"""Command name → where it is defined (``module:attribute``), imported on first use."""


class MailsyncGroup(click.Group):
    """Loads commands on demand; prints configuration errors as the message they are (exit 2)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, _, attribute = COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise RuntimeError(f"{COMMANDS[cmd_name]} is not the {cmd_name!r} command")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)

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
