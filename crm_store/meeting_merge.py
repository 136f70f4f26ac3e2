"""One meeting, one row, whoever stores it first: the add-in's meeting merges into the daemon's.

The daemon keys a meeting by its iCalendar UID (``MeetingItem.meeting_key``).
The Outlook add-in cannot: Office.js gives a meeting's Exchange item id, not
its UID, and that id is neither the Graph immutable id the daemon sees nor
the same in two mailboxes. So the add-in stores a meeting it cannot name by
UID under ``exchange-item:<item id>`` (a *pane row*), and the two are matched
by the meeting's natural identity:

    organizer address (lower-cased, as ``Address`` stores it), start instant,
    end instant, subject with whitespace collapsed and case folded.

Why that is safe: an organizer's calendar rarely holds two meetings with the
same subject at the very same start and end. Each occurrence of a recurring
series starts at its own instant (and an exception moved elsewhere carries its
new start in both views), so occurrences never share an identity; the start
is what keeps a series' days apart, since they share organizer and subject.

What it cannot tell apart: two meetings of one organizer with the same subject,
start and end (a double-sent invitation, a copy made by hand). Such an identity
is *ambiguous* when more than one non-pane meeting carries it, in the store or
in the page: then nothing is merged, neither way. A pane row stays on its own
rather than take the links of a meeting it may not be. Several pane rows with
one identity (the organizer and an attendee each linked it from their own
Outlook, with different item ids) all merge into the single real meeting.
Also never merged: a meeting without organizer, one whose time or subject
changed between the add-in storing it and the daemon syncing it (they stay two
rows), and a pane row with a copy in the mailbox of someone the meeting does
not name (see ``merge_pane_meetings``).

Both directions:

- the daemon after the add-in: ``merge_pane_meetings``, called by
  ``apply_page`` for the meetings of the page, one query to find candidates,
  and a handful of set-based statements only when something merges;
- the add-in after the daemon: ``meetings_with_identity``, read by the web
  layer, which links the daemon's row (if the user may see it) instead of
  storing a pane row.

Merging keeps everything keyed by the pane row's id: its copies (the
``addin`` copy of each user who linked it), its body and tracking, links,
suppressions and suggestions, moved by ``crm_store.item_fold`` (shared with
the fold of a message stored at send, ``crm_store.message_merge``), people
outranking rules. Attendees are not moved: the daemon's page replaces the
meeting's attendee list with its own, complete one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crm_store.item_fold import copies_outside, drop_folded, merge_tracking, move_dependants
from crm_store.items import ItemKind, MeetingItem
from crm_store.models import PANE_MEETING_ROWS, Meeting
from crm_store.upsert import chunks

PANE_KEY_PREFIX = "exchange-item:"
"""``meeting_key`` prefix of a meeting the add-in stored by its Exchange item id.

``models.PANE_MEETING_ROWS`` (the partial index's predicate) spells it in SQL.
"""

SLOTS_PER_QUERY = 1_000
"""(organizer, start) pairs looked up in one query: a sync page's meetings, with room to spare."""


@dataclass(frozen=True, slots=True, order=True)
class MeetingIdentity:
    """What the add-in and the daemon both know of a meeting; see the module docstring."""

    organizer: str
    start: datetime
    end: datetime
    subject: str


def pane_key(exchange_item_id: str) -> str:
    """The ``uid`` (and so ``meeting_key``) the add-in stores a meeting under."""
    return f"{PANE_KEY_PREFIX}{exchange_item_id.strip()}"


def is_pane_key(meeting_key: str) -> bool:
    return meeting_key.startswith(PANE_KEY_PREFIX)


def normalised_subject(subject: str) -> str:
    """Outlook and Graph agree on a subject up to spacing and, across clients, case."""
    return " ".join(subject.split()).casefold()


def meeting_identity(item: MeetingItem) -> MeetingIdentity | None:
    """The item's natural identity, or None without an organizer (never merged)."""
    if item.organizer is None or not item.organizer.address:
        return None
    return _identity(item.organizer.address, item.start, item.end, item.subject)


def _identity(organizer: str, start: datetime, end: datetime, subject: str) -> MeetingIdentity:
    return MeetingIdentity(organizer.lower(), start, end, normalised_subject(subject))


@dataclass(frozen=True, slots=True)
class SameMeeting:
    """A stored meeting with a given identity."""

    id: int
    meeting_key: str

    @property
    def from_pane(self) -> bool:
        return is_pane_key(self.meeting_key)


def meetings_with_identity(session: Session, identity: MeetingIdentity) -> list[SameMeeting]:
    """Every stored meeting with ``identity``, pane rows included, oldest first."""
    stored = _stored_at(session, [(identity.organizer, identity.start)])
    return sorted((m for m, found in stored if found == identity), key=lambda m: m.id)


def _stored_at(
    session: Session, slots: Collection[tuple[str, datetime]], *, panes_only: bool = False
) -> list[tuple[SameMeeting, MeetingIdentity]]:
    """The meetings of these organizers at these starts, one indexed query per thousand slots.

    All meetings: ``organizer IN (…) AND start_at IN (…)`` through
    ``ix_meetings_identity`` (SQLite scans a whole index for a row-value
    ``(a, b) IN (VALUES …)`` but seeks two plain IN lists). Pane rows only:
    ``start_at IN (…)`` under the partial index's own predicate, so the
    lookup reads that small index and the organizer is compared here. Either
    way a few rows more may come back; callers compare identities anyway.
    """
    found: list[tuple[SameMeeting, MeetingIdentity]] = []
    organizers = {organizer for organizer, _ in slots}
    for group in chunks(list(slots), SLOTS_PER_QUERY):
        statement = select(
            Meeting.id,
            Meeting.meeting_key,
            Meeting.organizer_address,
            Meeting.start_at,
            Meeting.end_at,
            Meeting.subject,
        ).where(Meeting.start_at.in_({start for _, start in group}))
        if panes_only:
            statement = statement.where(text(PANE_MEETING_ROWS))
        else:
            statement = statement.where(
                Meeting.organizer_address.in_({organizer for organizer, _ in group})
            )
        for ident, key, organizer, start, end, subject in session.execute(statement):
            if organizer in organizers:
                identity = _identity(organizer, start, end, subject)
                found.append((SameMeeting(int(ident), key), identity))
    return found


# --------------------------------------------------------------------------- the daemon's side


def merge_pane_meetings(
    session: Session,
    mailbox_id: int,
    meetings: Sequence[MeetingItem],
    meeting_ids: Mapping[str, int],
) -> int:
    """Fold the pane rows that are the page's meetings into the page's rows; how many merged.

    Runs in the caller's transaction after the page's meetings are upserted
    (so their rows exist and an ambiguous identity shows) and before its links
    are written (so a removal moved here is honoured by this very page).

    A pane row's copies become copies of the merged meeting, which lets their
    mailboxes' owners see it. The add-in stores a copy on someone else's
    meeting only when the meeting names the user (``web.api.items``), so a
    pane row merges only when each of its copies sits in the synced mailbox
    or in the mailbox of the meeting's organizer or an attendee: a snapshot's
    claims never buy access to another person's meeting.
    """
    # The sync's common case is a page with no pane row anywhere near: one query
    # that reads only pane rows answers it, and nothing else is computed.
    slots = {
        (item.organizer.address, item.start)
        for item in meetings
        if item.organizer is not None
        and item.organizer.address
        and not is_pane_key(item.meeting_key)
    }
    panes = _stored_at(session, slots, panes_only=True) if slots else []
    if not panes:
        return 0
    by_identity: dict[MeetingIdentity, tuple[int, frozenset[str]]] = {}
    for item in meetings:
        identity = meeting_identity(item)
        if identity is not None and not is_pane_key(item.meeting_key):
            people = frozenset(a.address for a in item.participants)
            by_identity[identity] = (meeting_ids[item.meeting_key], people)
    claimed = {identity for _, identity in panes if identity in by_identity}
    stored: dict[MeetingIdentity, list[SameMeeting]] = {}
    for meeting, identity in _stored_at(session, {(i.organizer, i.start) for i in claimed}):
        if identity in claimed:
            stored.setdefault(identity, []).append(meeting)
    wanted: dict[int, tuple[int, frozenset[str]]] = {}
    for identity, same in stored.items():
        real_id, people = by_identity[identity]
        if {m.id for m in same if not m.from_pane} != {real_id}:
            continue  # ambiguous: another meeting has this identity too
        wanted.update((m.id, (real_id, people)) for m in same if m.from_pane)
    if not wanted:
        return 0
    named = {pane: people for pane, (_, people) in wanted.items()}
    outsiders = copies_outside(session, ItemKind.MEETING, mailbox_id, named)
    into = {pane: real for pane, (real, _) in wanted.items() if pane not in outsiders}
    if into:
        _merge(session, into)
    return len(into)


def _merge(session: Session, into: Mapping[int, int]) -> None:
    """Fold the pane rows (``crm_store.item_fold``); their attendees go with them."""
    merge_tracking(session, Meeting, into, ("body_text",))
    move_dependants(session, ItemKind.MEETING, into)
    drop_folded(session, ItemKind.MEETING, into)


__all__ = [
    "PANE_KEY_PREFIX",
    "MeetingIdentity",
    "SameMeeting",
    "is_pane_key",
    "meeting_identity",
    "meetings_with_identity",
    "merge_pane_meetings",
    "normalised_subject",
    "pane_key",
]
