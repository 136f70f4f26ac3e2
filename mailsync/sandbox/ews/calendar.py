"""The world's calendar as EWS shows it: one item per series, occurrences inside.

The Graph sandbox keeps one copy per occurrence (what ``calendarView/delta``
returns). A calendar folder in EWS holds single items and recurring masters;
occurrences and exceptions are reached through the master (OccurrenceItemId)
and listed in its ModifiedOccurrences / DeletedOccurrences. This module maps
between the two without copying state: a series is present in a mailbox while
any of its occurrences is, and it changed in a round when any occurrence did.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailsync.sandbox.calendarplan import (
    CALENDAR,
    MeetingSeries,
    event_ref,
    is_event_ref,
    split_event_ref,
)
from mailsync.sandbox.world import World

MASTER_INDEX = 0xFFF  # the occurrence slot the Graph sandbox uses for series-master ids

SeriesKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SeriesChange:
    key: SeriesKey
    deleted: bool


class CalendarView:
    def __init__(self, world: World) -> None:
        self.world = world

    def series(self, key: SeriesKey) -> MeetingSeries:
        return self.world.meetings.series[key[0]][key[1]]

    def item_id(self, mailbox: int, key: SeriesKey) -> str:
        """A single meeting is its one occurrence; a recurring one is its master."""
        index = 0 if self.series(key).occurrences == 1 else MASTER_INDEX
        return self.world.ids.encode(mailbox, event_ref(key[0], key[1], index))

    def occurrence_id(self, mailbox: int, key: SeriesKey, index: int) -> str:
        return self.world.ids.encode(mailbox, event_ref(key[0], key[1], index))

    def key_of_id(self, mailbox: int, item_id: str) -> tuple[SeriesKey, int | None] | None:
        """(series, occurrence index or None for a master) of an id, if it is ours."""
        decoded = self.world.ids.decode(item_id)
        if decoded is None or decoded[0] != mailbox or not is_event_ref(decoded[1]):
            return None
        origin, number, index = split_event_ref(decoded[1])
        try:
            series = self.world.meetings.series[origin][number]
        except IndexError:
            return None
        if index == MASTER_INDEX:
            return ((origin, number), None) if series.occurrences > 1 else None
        if index >= series.occurrences:
            return None
        return (origin, number), index

    def present(self, mailbox: int, key: SeriesKey) -> list[int]:
        """Occurrence indexes the mailbox's calendar holds now."""
        series = self.series(key)
        found = []
        for i in range(series.occurrences):
            folder, _ = self.world.current_folder(mailbox, event_ref(key[0], key[1], i))
            if folder == CALENDAR:
                found.append(i)
        return found

    def ever_held(self, mailbox: int, key: SeriesKey) -> bool:
        series = self.series(key)
        box = self.world.mailboxes[mailbox]
        for i in range(series.occurrences):
            ref = event_ref(key[0], key[1], i)
            state = box.overlay.get(ref)
            if self.world.baseline_folder(mailbox, ref) == CALENDAR:
                return True
            if state is not None and CALENDAR in state.seen:
                return True
        return False

    def baseline(self, mailbox: int) -> list[SeriesKey]:
        keys: dict[SeriesKey, None] = {}
        for ref in self.world.mailboxes[mailbox].baseline[CALENDAR]:
            origin, number, _ = split_event_ref(ref)
            keys[(origin, number)] = None
        return list(keys)

    def changed(self, mailbox: int, since: int, high: int) -> list[SeriesKey]:
        """Series with an occurrence changed in ``changelog[since:high]``, first change first."""
        keys: dict[SeriesKey, None] = {}
        with self.world.lock:
            log = self.world.mailboxes[mailbox].changelog
            for offset in range(since, min(high, len(log))):
                ref = log[offset]
                if is_event_ref(ref):
                    origin, number, _ = split_event_ref(ref)
                    keys[(origin, number)] = None
        return list(keys)
