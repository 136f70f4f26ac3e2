"""`mailsync import KIND FILE.csv`: CRM records from a spreadsheet export, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.orm import Session

from crm_store.crm_changes import changes_after, last_change_id
from crm_store.database import session_scope
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.errors import EXIT_BAD_INPUT
from mailsync.commands.store_checks import require_current_schema
from mailsync.crm_import import KINDS, CsvFileError, ImportReport, import_file
from mailsync.crm_import.importer import Progress as ProgressCallback
from mailsync.retro_linking import RetroReport, change_of, relink_after_change, whole_crm
from mailsync.runtime import internal_parties

PROGRESS_BAR_MIN_ROWS = 3_000
"""Files smaller than this import in about a second; a bar would only flicker."""

_COLUMN_HELP = {
    "users": "email,display_name,role,team,manager_email (role: salesperson|manager|admin; "
    "first_name,last_name may stand in for display_name)",
    "accounts": "name,domains,owner_email (domains separated by ';')",
    "contacts": "first_name,last_name,email,account,title,phone (several emails separated "
    "by ';'; account is the account's name)",
    "opportunities": "code,name,account,stage,status,amount,currency,close_date,owner_email "
    "(status: open|won|lost; close_date: YYYY-MM-DD; currency: ISO code)",
}


@click.group("import")
def import_group() -> None:
    """Import CRM records from CSV (users, accounts, contacts, opportunities, in that order).

    Every row is checked first. By default one bad row stops the import and
    nothing is written; the report lists every bad row with its line number.
    Importing the same file again changes nothing.
    """


def _count_data_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


@contextmanager
def _progress_for(path: Path, kind: str, console: Console) -> Iterator[ProgressCallback | None]:
    if _count_data_lines(path) < PROGRESS_BAR_MIN_ROWS:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{phase} {kind}", total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


def _print_report(report: ImportReport, path: Path) -> None:
    for bad in report.bad_rows:
        click.echo(f"{path}: {bad}", err=True)
    click.echo(report.summary(), err=not report.ok)


def _relink_what_changed(app: AppContext, session: Session, before: int) -> RetroReport | None:
    """Retroactive linking for whatever the import changed (read back from the change log),
    in the import's transaction: the records and the links they make commit together."""
    changed = changes_after(session, before)
    if changed.empty:
        return None
    rules = app.settings.rules
    internal = internal_parties(app.settings, app.session_factory())
    return relink_after_change(
        session,
        change_of(session, changed),
        settings=rules.engine_settings(),
        ruleset=rules.custom_rules(),
        index_for=whole_crm(internal.domains),
        now=datetime.now(UTC),
    )


def _make_command(kind_name: str) -> click.Command:
    @click.command(
        kind_name,
        help=f"Import {kind_name} from FILE (CSV with a header line).\n\n"
        f"Columns: {_COLUMN_HELP[kind_name]}.",
    )
    @click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
    @click.option(
        "--skip-bad-rows",
        is_flag=True,
        help="Import the good rows and report the bad ones (exit code 0) instead of "
        "importing nothing (exit code 1).",
    )
    @pass_app
    def command(app: AppContext, file: Path, skip_bad_rows: bool) -> None:
        require_current_schema(app)
        console = Console(stderr=True)
        try:
            with (
                _progress_for(file, kind_name, console) as progress,
                session_scope(app.session_factory(), write=True) as session,
            ):
                before = last_change_id(session)
                report = import_file(
                    KINDS[kind_name],
                    file,
                    session,
                    skip_bad_rows=skip_bad_rows,
                    **({"progress": progress} if progress else {}),
                )
                retro = _relink_what_changed(app, session, before)
        except CsvFileError as exc:
            click.echo(f"mailsync: {exc}", err=True)
            raise click.exceptions.Exit(EXIT_BAD_INPUT) from None
        _print_report(report, file)
        if retro is not None and retro.items_linked:
            click.echo(
                f"linked {retro.items_linked} earlier item(s) the new records now match "
                f"({retro.links_written} links; bodies come with the next sync)"
            )
        if not report.ok and not skip_bad_rows:
            raise click.exceptions.Exit(EXIT_BAD_INPUT)

    return command


for _name in KINDS:
    import_group.add_command(_make_command(_name))
