"""`mailsync export links`: every link with its reason, for audits and other tools."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click

from crm_store.database import session_scope
from crm_store.links import export_links
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.store_checks import require_current_schema

LINK_COLUMNS = (
    "item_kind",
    "item_key",
    "subject",
    "target_kind",
    "target_key",
    "origin",
    "actor",
    "reason",
    "created_at",
)


@click.group("export")
def export_group() -> None:
    """Export data from the store."""


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def _rows(source: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for row in source:
        yield {column: _cell(getattr(row, column)) for column in LINK_COLUMNS}


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=LINK_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def write_json(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """A JSON array written row by row, so a large export never sits in memory whole."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n  " if count else "\n  ")
        out.write(json.dumps({k: (None if v == "" else v) for k, v in row.items()}))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


@export_group.command("links")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    default=None,
    help="File to write (default: standard output).",
)
@pass_app
def export_links_command(app: AppContext, fmt: str, output: Path | None) -> None:
    """One row per link: item_kind, item_key, subject, target_kind, target_key,
    origin, actor, reason, created_at.

    item_key is the message's internetMessageId or the meeting's iCalendar UID;
    target_key is the account name, the contact's first email or the opportunity code.
    """
    require_current_schema(app)
    writer = write_json if fmt == "json" else write_csv
    with session_scope(app.session_factory()) as session:
        rows = _rows(export_links(session))
        if output is None:
            count = writer(rows, sys.stdout)
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                count = writer(rows, handle)
    if output is not None:
        click.echo(f"exported {count} links to {output}", err=True)
