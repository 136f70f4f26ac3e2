"""The `mailsync` command loads a command's module only when that command runs.

Every worker and node of a fleet is a `mailsync` process; importing the web
service, the demo and the add-in tooling into each cost a second of CPU at
start-up for nothing.
"""

from __future__ import annotations

import subprocess
import sys

import click

from mailsync.cli import COMMANDS, main


def test_every_registered_command_loads_under_its_name() -> None:
    # GIVEN the registry of command names
    ctx = click.Context(main)
    # WHEN each is looked up THEN it is the command of that name, and help lists them all
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
    assert main.list_commands(ctx) == sorted(COMMANDS)


def test_a_worker_does_not_import_the_web_service_or_the_other_commands() -> None:
    # GIVEN a fresh interpreter WHEN it resolves `mailsync worker`
    probe = (
        "import sys, click\n"
        "from mailsync.cli import main\n"
        "main.get_command(click.Context(main), 'worker')\n"
        "print(' '.join(sorted(m for m in ('web.app', 'web.server', 'fastapi', "
        "'mailsync.commands.demo', 'mailsync.sandbox.cli', 'addin_manifest.cli') "
        "if m in sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    # THEN none of what a worker never uses was imported
    assert loaded == []
