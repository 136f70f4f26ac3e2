"""`mailsync ingest PATH… --mailbox ADDR`: exported mail and calendars through the sync path.

Files (.eml, .mbox, .ics) become the same items a driver delivers and go
through the same link step and the same ``apply_page`` as a sync, a page of
items per transaction, so exclusions, links, suggestions and bodies-only-
for-tracked-items hold exactly as for synced mail. Ingesting the same files
again changes nothing (ids come from Message-ID / UID and every write is an
upsert); the same message in two files is one item. A file that cannot be
read is reported with its name and reason and the others are still stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
from sqlalchemy import select

from crm_store.database import session_scope
from crm_store.items import CorrespondenceItem
from crm_store.models import Mailbox
from crm_store.sync_writes import apply_page
from crm_store.upsert import chunks
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.errors import EXIT_BAD_INPUT
from mailsync.commands.store_checks import require_current_schema
from mailsync.ingest import FileError, ingest_paths
from mailsync.providers.base import BodyFetch, ChangePage
from mailsync.runtime import sync_engine_for

ITEMS_PER_PAGE = 200


class FileSource:
    """The provider side of ingestion: files carry their bodies, and have no copy in
    Outlook to put a category on, so there is nothing to fetch and nothing to write back."""

    name = "files"

    def folders(self) -> list[str]:
        return []

    def changes(self, folder: str, cursor: str | None) -> Iterator[ChangePage]:
        return iter(())

    def fetch_bodies(self, folder: str, item_ids: list[str]) -> BodyFetch:
        return BodyFetch()

    def set_category(self, item_id: str, categories: tuple[str, ...]) -> None:
        return None


def _mailbox_id(app: AppContext, address: str) -> int:
    """The mailbox's row; an address the store does not know gets one, not synced
    (``enabled`` false) since it holds imported mail only."""
    with session_scope(app.session_factory(), write=True) as session:
        found = session.scalar(select(Mailbox.id).where(Mailbox.address == address))
        if found is not None:
            return int(found)
        mailbox = Mailbox(address=address, enabled=False)
        session.add(mailbox)
        session.flush()
        return int(mailbox.id)


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--mailbox", "address", required=True, help="Whose mail the files are.")
@pass_app
def ingest_command(app: AppContext, paths: tuple[Path, ...], address: str) -> None:
    """Store the messages and meetings of .eml, .mbox and .ics files, linked by the rules."""
    address = address.strip().lower()
    if "@" not in address:
        raise click.BadParameter(f"{address!r} is not an email address", param_hint="--mailbox")
    require_current_schema(app)
    by_folder: dict[str, dict[tuple[str, str], CorrespondenceItem]] = {}
    errors: list[FileError] = []
    for outcome in ingest_paths(paths):
        if isinstance(outcome, FileError):
            errors.append(outcome)
            click.echo(f"mailsync: {outcome}", err=True)
            continue
        item = outcome.item
        # The same message in two files (or twice in an mbox) is one item; the last wins.
        by_folder.setdefault(item.folder, {})[(item.kind.value, item.provider_item_id)] = item
    mailbox_id = _mailbox_id(app, address)
    sessions = app.session_factory()
    engine = sync_engine_for(app.settings, sessions)
    source = FileSource()
    with sessions() as session:
        linker = engine.linker(session)
    stored = linked = excluded = 0
    for folder, items in by_folder.items():
        for chunk in chunks(list(items.values()), ITEMS_PER_PAGE):
            page = ChangePage(folder=folder, upserts=list(chunk))
            write = engine.prepare_page(page, address, source, linker)
            with session_scope(sessions, write=True) as session:
                apply_page(session, mailbox_id, write)
            stored += len(write.messages) + len(write.meetings)
            linked += len(write.tracked_keys)
            excluded += sum(write.exclusions.values())
    click.echo(
        f"{stored} item(s) stored for {address} ({linked} linked), {excluded} excluded, "
        f"{len(errors)} unreadable"
    )
    if errors:
        raise click.exceptions.Exit(EXIT_BAD_INPUT)
