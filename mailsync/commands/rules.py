"""`mailsync rules check|explain|dry-run|purge`: the rules from the command line.

``check`` and ``explain`` never open the store for writing; ``dry-run`` reads
stored history inside a transaction it rolls back, so it cannot write even by
accident. ``purge`` is the window purge the daemon also runs on a timer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import click
from sqlalchemy.orm import Session

from crm_store.database import session_scope
from crm_store.history import BATCH, HistoryItem, stored_history
from crm_store.item_owners import mailboxes_holding
from crm_store.items import ItemKind
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.errors import EXIT_BAD_INPUT
from mailsync.commands.store_checks import require_current_schema
from mailsync.ingest import FileError, explain_paths
from mailsync.retro_linking import purge_expired, whole_crm
from mailsync.rules_context import StoreThreadLookup
from mailsync.runtime import internal_parties
from rules import (
    RulesEngine,
    RuleSet,
    RulesFileError,
    StoredItem,
    check_rules_file,
    dry_run,
    load_rules,
)

SPAN = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_span(value: str) -> timedelta:
    """``30d``, ``12h``, ``2w``; anything else is a usage error naming the forms allowed."""
    found = SPAN.match(value)
    if found is None:
        raise click.BadParameter(f"{value!r}: give a number and a unit, e.g. 30d, 12h or 2w")
    return int(found.group(1)) * UNITS[found.group(2)]


def _engine(app: AppContext, session: Session, ruleset: RuleSet) -> RulesEngine:
    """The rules over the whole CRM and the stored threads, as the daemon runs them."""
    internal = internal_parties(app.settings, app.session_factory())
    index = whole_crm(internal.domains)(session, (), ())
    settings = app.settings.rules.engine_settings()
    return RulesEngine(index, settings, ruleset, StoreThreadLookup(session))


@click.group("rules")
def rules_group() -> None:
    """Check, explain and try out the linking rules."""


@rules_group.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def check_command(file: Path) -> None:
    """Validate a rules file: every error names the rule, the key and what is allowed."""
    errors = check_rules_file(file)
    for error in errors:
        click.echo(f"{file}: {error}", err=True)
    if errors:
        raise click.exceptions.Exit(EXIT_BAD_INPUT)
    click.echo(f"{file}: rules are valid")


@rules_group.command("explain")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--mailbox", default=None, help="Whose mail it is (for direction and inference).")
@pass_app
def explain_command(app: AppContext, files: tuple[Path, ...], mailbox: str | None) -> None:
    """For each message of FILE.eml (.mbox, .ics): every rule, whether it fired, and why.

    Nothing is written.
    """
    require_current_schema(app)
    failed = False
    with app.session_factory()() as session:
        engine = _engine(app, session, app.settings.rules.custom_rules())
        for outcome in explain_paths(files, engine, mailbox):
            if isinstance(outcome, FileError):
                click.echo(f"mailsync: {outcome}", err=True)
                failed = True
                continue
            click.echo(f"{outcome.source}: {outcome.subject}")
            for line in outcome.explanation.lines():
                click.echo(f"  {line}")
        session.rollback()
    if failed:
        raise click.exceptions.Exit(EXIT_BAD_INPUT)


@rules_group.command("dry-run")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Rules file to try instead of the configured custom rules.",
)
@click.option("--since", default="30d", show_default=True, help="How far back: 30d, 12h, 2w.")
@click.option("--sample", default=20, show_default=True, help="Changes shown as examples.")
@pass_app
def dry_run_command(app: AppContext, rules_file: Path | None, since: str, sample: int) -> None:
    """What a rule set would link, unlink and ignore over stored history; writes nothing."""
    span = parse_span(since)
    if rules_file is not None:
        try:
            ruleset = load_rules(rules_file)
        except RulesFileError as exc:
            for error in exc.errors:
                click.echo(f"{rules_file}: {error}", err=True)
            raise click.exceptions.Exit(EXIT_BAD_INPUT) from None
    else:
        ruleset = app.settings.rules.custom_rules()
    require_current_schema(app)
    with app.session_factory()() as session:
        engine = _engine(app, session, ruleset)
        stored = _with_every_mailbox(session, stored_history(session, datetime.now(UTC) - span))
        report = dry_run(engine, stored, sample_size=sample)
        session.rollback()
    click.echo(
        f"{report.items} stored item(s) since {since}: would link {report.would_link}, "
        f"unlink {report.would_unlink}, ignore {report.would_ignore}; "
        f"{report.unchanged} unchanged"
    )
    _counts("new links by origin", report.by_origin.items())
    _counts("ignored by", report.ignored_by.items())
    for change in report.sample:
        click.echo(f"  {change.verdict:6} {change.subject[:60]!r}: {change.detail}")


def _with_every_mailbox(session: Session, history: Iterable[HistoryItem]) -> Iterator[StoredItem]:
    """Stored items with every mailbox holding them, read a batch at a time."""
    items = iter(history)
    while batch := list(islice(items, BATCH)):
        owners = {
            kind: mailboxes_holding(
                session, kind, [h.item_id for h in batch if h.item_kind is kind]
            )
            for kind in (ItemKind.MESSAGE, ItemKind.MEETING)
        }
        for h in batch:
            yield StoredItem(
                h.item,
                h.item_key,
                h.mailbox,
                h.links,
                h.suppressed,
                owners[h.item_kind].get(h.item_id, ()),
            )


def _counts(title: str, pairs: Iterable[tuple[str, int]]) -> None:
    listed = sorted(pairs)
    if listed:
        click.echo(f"{title}: " + ", ".join(f"{name} {count}" for name, count in listed))


@rules_group.command("purge")
@pass_app
def purge_command(app: AppContext) -> None:
    """Delete unmatched items past [rules] retro_window_days (the daemon does this too)."""
    require_current_schema(app)
    settings = app.settings.rules.engine_settings()
    with session_scope(app.session_factory(), write=True) as session:
        counts = purge_expired(session, settings, datetime.now(UTC))
    click.echo(
        f"purged {counts.messages} message(s) and {counts.meetings} meeting(s) older than "
        f"{settings.retro_window_days} days that matched nothing"
    )
