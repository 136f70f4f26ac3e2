"""Mail folders: one SyncFolderItems call is one page, its SyncState the cursor.

exchangelib's ``folder.sync_items()`` sets the new state only once its
generator is exhausted, which would commit a whole folder at once; driving
the SyncFolderItems service directly gives the state of every call, so each
page commits with its own state (invariant 1) and a killed sync resumes from
the last committed call. Created/updated items are then read with GetItem;
meeting requests and cancellations are read as the meetings they are about.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exchangelib.items import ID_ONLY
from exchangelib.items.calendar_item import BaseMeetingItem

from crm_store.items import CorrespondenceItem, ItemKind, Removal
from mailsync.providers.base import ChangePage, ItemFailure
from mailsync.providers.ews.errors import translated
from mailsync.providers.ews.fetch import (
    MEETING_MESSAGE_PATHS,
    MESSAGE_PATHS,
    ItemVersions,
    get_items,
)
from mailsync.providers.ews.normalise import (
    MalformedItem,
    meeting_from_request,
    message_from_ews,
)
from mailsync.providers.ews.services import SyncFolderItemsService

CREATE, UPDATE, DELETE = "create", "update", "delete"
ITEM_GONE = "ErrorItemNotFound"


def sync_call(
    account: Any, folder_obj: Any, folder: str, state: str | None, page_size: int
) -> tuple[list[tuple[str, Any]], str, bool]:
    """One SyncFolderItems call: (changes, new state, includes last item in range)."""
    service = SyncFolderItemsService(account=account)
    with translated(folder):
        changes = list(
            service.call(
                folder=folder_obj,
                shape=ID_ONLY,
                additional_fields=None,
                sync_state=state,
                ignore=None,
                max_changes_returned=page_size,
                sync_scope=None,
            )
        )
    new_state = service.sync_state
    # Exchange may hand back the same state with IncludesLastItemInRange false
    # (exchangelib stops there too); treat it as the end of the round.
    done = bool(service.includes_last_item_in_range) or new_state == state
    return changes, new_state, done


def failure(item_id: str, folder: str, error: str, excerpt: str = "") -> ItemFailure:
    return ItemFailure(provider_item_id=item_id, folder=folder, error=error, raw_excerpt=excerpt)


def mail_pages(
    account: Any,
    folder_obj: Any,
    folder: str,
    cursor: str | None,
    page_size: int,
    versions: ItemVersions | None = None,
) -> Iterator[ChangePage]:
    """Pages of a mail folder; ``versions`` holds the change keys of the current page's items."""
    state = cursor
    while True:
        if versions is not None:
            versions.clear()  # only the page being processed can be written back
        changes, new_state, done = sync_call(account, folder_obj, folder, state, page_size)
        upsert_ids: dict[str, Any] = {}
        removals: list[Removal] = []
        for change, item in changes:
            if change == DELETE:
                upsert_ids.pop(item.id, None)
                removals.append(Removal(item.id, folder, ItemKind.MESSAGE))
            elif change in (CREATE, UPDATE):
                upsert_ids[item.id] = item
        upserts, failures = read_messages(account, list(upsert_ids.values()), folder, versions)
        yield ChangePage(folder, upserts, removals, failures, next_cursor=new_state, is_last=done)
        if done:
            return
        state = new_state


def read_messages(
    account: Any, refs: list[Any], folder: str, versions: ItemVersions | None = None
) -> tuple[list[CorrespondenceItem], list[ItemFailure]]:
    upserts: list[CorrespondenceItem] = []
    failures: list[ItemFailure] = []
    if not refs:
        return upserts, failures
    meeting_refs = []
    found = get_items(account, refs, MESSAGE_PATHS, folder, versions)
    for ref, item in zip(refs, found, strict=True):
        if isinstance(item, Exception):
            if type(item).__name__ != ITEM_GONE:  # gone since the sync call: next round says so
                failures.append(failure(ref.id, folder, f"{type(item).__name__}: {item}"))
        elif isinstance(item, BaseMeetingItem):
            meeting_refs.append(ref)
        else:
            convert(item, folder, upserts, failures, message_from_ews)
    if meeting_refs:
        got = get_items(account, meeting_refs, MEETING_MESSAGE_PATHS, folder, versions)
        for ref, item in zip(meeting_refs, got, strict=True):
            if isinstance(item, Exception):
                if type(item).__name__ != ITEM_GONE:
                    failures.append(failure(ref.id, folder, f"{type(item).__name__}: {item}"))
            else:
                convert(item, folder, upserts, failures, meeting_from_request)
    return upserts, failures


def convert(
    item: Any,
    folder: str,
    upserts: list[CorrespondenceItem],
    failures: list[ItemFailure],
    how: Any,
) -> None:
    try:
        upserts.append(how(item, folder))
    except (MalformedItem, AttributeError, TypeError, ValueError) as exc:
        failures.append(
            failure(
                str(getattr(item, "id", "") or "unidentified"),
                folder,
                f"{type(exc).__name__}: {exc}",
                repr(item)[:500],
            )
        )
