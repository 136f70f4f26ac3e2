"""Failures a command reports as one line and an exit code, never as a traceback."""

from __future__ import annotations

import click

EXIT_BAD_INPUT = 1
"""The command ran but its input was rejected (bad CSV rows)."""

EXIT_CONFIG = 2
"""Configuration or environment prevents the command from running at all."""


class StoreNotReady(click.ClickException):
    """The database is unreachable or not at the schema this code needs."""

    exit_code = EXIT_CONFIG

    def format_message(self) -> str:
        return self.message
