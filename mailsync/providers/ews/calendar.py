"""The calendar folder: masters from SyncFolderItems, occurrences resolved through them.

A calendar folder in EWS holds single items and recurring masters; each
occurrence and exception is its own meeting for us (as Graph's calendarView
returns them), reached with GetItem on ``OccurrenceItemId(master, n)``.
Only instances inside the window (the Graph driver's: days back/ahead of
today) are kept.

When a master is deleted, EWS names only the master, so the cursor also
remembers which occurrence ids each master produced (committed with the page
like the sync state): a deleted master removes exactly those, and an updated
master removes the instances it no longer has.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchangelib.recurrence import NumberedPattern

from crm_store.items import CorrespondenceItem, ItemKind, MeetingItem, Removal
from mailsync.providers.base import ChangePage, ItemFailure, PermanentFailure
from mailsync.providers.ews.fetch import CALENDAR_PATHS, ItemVersions, get_items
from mailsync.providers.ews.mail import DELETE, ITEM_GONE, convert, failure, sync_call
from mailsync.providers.ews.normalise import meeting_from_ews

OCCURRENCE_BATCH = 50
MAX_OCCURRENCES = 2000  # a guard for endless series that started long ago
CURSOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def holds(self, item: MeetingItem) -> bool:
        return item.end > self.start and item.start < self.end


@dataclass(slots=True)
class CalendarCursor:
    """The sync state plus, per master (or single item), the ids it produced."""

    state: str | None
    produced: dict[str, list[str]]

    @classmethod
    def parse(cls, cursor: str | None) -> CalendarCursor:
        if not cursor:
            return cls(None, {})
        try:
            data = json.loads(cursor)
            if data.get("v") != CURSOR_VERSION:
                raise ValueError(f"cursor version {data.get('v')!r}")
            produced = {str(k): [str(i) for i in v] for k, v in data["produced"].items()}
            return cls(str(data["state"]), produced)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PermanentFailure(f"stored calendar cursor is unreadable: {exc}") from exc

    def dump(self) -> str:
        return json.dumps(
            {"v": CURSOR_VERSION, "state": self.state, "produced": self.produced},
            separators=(",", ":"),
            sort_keys=True,
        )


def calendar_pages(
    account: Any,
    folder_obj: Any,
    folder: str,
    cursor: str | None,
    page_size: int,
    window: Window,
    versions: ItemVersions | None = None,
) -> Iterator[ChangePage]:
    current = CalendarCursor.parse(cursor)
    while True:
        if versions is not None:
            versions.clear()  # only the page being processed can be written back
        changes, new_state, done = sync_call(account, folder_obj, folder, current.state, page_size)
        upserts: list[CorrespondenceItem] = []
        removals: list[Removal] = []
        failures: list[ItemFailure] = []
        changed: dict[str, Any] = {}
        for change, item in changes:
            if change == DELETE:
                changed.pop(item.id, None)
                for gone in current.produced.pop(item.id, [item.id]):
                    removals.append(Removal(gone, folder, ItemKind.MEETING))
            else:
                changed[item.id] = item
        if changed:
            refs = list(changed.values())
            for ref, item in zip(
                refs, get_items(account, refs, CALENDAR_PATHS, folder, versions), strict=True
            ):
                if isinstance(item, Exception):
                    if type(item).__name__ != ITEM_GONE:
                        failures.append(failure(ref.id, folder, f"{type(item).__name__}: {item}"))
                    continue
                found = resolve(account, item, folder, window, failures, versions)
                ids = [m.provider_item_id for m in found]
                for gone in set(current.produced.get(ref.id, [])) - set(ids):
                    removals.append(Removal(gone, folder, ItemKind.MEETING))
                current.produced[ref.id] = ids
                upserts.extend(found)
        current.state = new_state
        yield ChangePage(
            folder, upserts, removals, failures, next_cursor=current.dump(), is_last=done
        )
        if done:
            return


def resolve(
    account: Any,
    item: Any,
    folder: str,
    window: Window,
    failures: list[ItemFailure],
    versions: ItemVersions | None = None,
) -> list[MeetingItem]:
    """The meetings one calendar item stands for: itself, or a master's instances."""
    found: list[CorrespondenceItem] = []
    if item.type != "RecurringMaster":
        convert(item, folder, found, failures, meeting_from_ews)
        return [m for m in found if isinstance(m, MeetingItem) and window.holds(m)]
    limit = MAX_OCCURRENCES
    recurrence = item.recurrence
    boundary = getattr(recurrence, "boundary", None)
    if isinstance(boundary, NumberedPattern):
        limit = min(limit, int(boundary.number))
    index = 1
    while index <= limit:
        wanted = [
            item.occurrence(i) for i in range(index, min(index + OCCURRENCE_BATCH, limit + 1))
        ]
        got = get_items(account, wanted, CALENDAR_PATHS, folder, versions)
        past_end = False
        for instance in got:
            name = type(instance).__name__
            if name == "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange":
                past_end = True
            elif name == "ErrorCalendarOccurrenceIsDeletedFromRecurrence":
                continue
            elif isinstance(instance, Exception):
                failures.append(failure(item.id, folder, f"{name}: {instance}"))
            else:
                convert(instance, folder, found, failures, meeting_from_ews)
        meetings = [m for m in found if isinstance(m, MeetingItem)]
        if past_end or (meetings and meetings[-1].start >= window.end):
            break
        index += OCCURRENCE_BATCH
    return [m for m in found if isinstance(m, MeetingItem) and window.holds(m)]
