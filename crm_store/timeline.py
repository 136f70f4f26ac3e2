"""A CRM record's correspondence, as the viewer may see it, grouped into threads.

An account's timeline is everything linked to the account, to its contacts
or to its opportunities: a manager looking at a customer wants the whole
conversation, whichever record the rules or a salesperson tied it to. A
contact's or an opportunity's timeline is what is linked to that record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from crm_store.correspondence import Entry, load_entries
from crm_store.items import ItemKind, TargetKind
from crm_store.models import Contact, Link, Meeting, Message, Opportunity
from crm_store.visibility import Viewer, visible_items

DEFAULT_LIMIT = 1000
"""Most items one timeline shows; older ones are reached through search by date."""


@dataclass(frozen=True, slots=True)
class Thread:
    """A conversation (emails sharing a conversation id) or a meeting series (one UID)."""

    key: str
    entries: tuple[Entry, ...]  # oldest first

    @property
    def subject(self) -> str:
        return self.entries[0].subject if self.entries else ""

    @property
    def latest(self) -> datetime | None:
        times = [e.at for e in self.entries if e.at is not None]
        return max(times) if times else None

    @property
    def kind(self) -> ItemKind:
        return self.entries[0].kind


def linked_to_record(target_kind: TargetKind, target_id: int) -> ColumnElement[bool]:
    """Predicate on ``Link``: it points at the record (for an account: or its people and deals)."""
    direct = and_(Link.target_kind == target_kind.value, Link.target_id == target_id)
    if target_kind is not TargetKind.ACCOUNT:
        return direct
    return or_(
        direct,
        and_(
            Link.target_kind == TargetKind.CONTACT.value,
            Link.target_id.in_(select(Contact.id).where(Contact.account_id == target_id)),
        ),
        and_(
            Link.target_kind == TargetKind.OPPORTUNITY.value,
            Link.target_id.in_(select(Opportunity.id).where(Opportunity.account_id == target_id)),
        ),
    )


def record_item_ids(
    session: Session,
    viewer: Viewer,
    target_kind: TargetKind,
    target_id: int,
    *,
    limit: int = DEFAULT_LIMIT,
) -> tuple[list[int], list[int]]:
    """(message ids, meeting ids) linked to the record and visible to the viewer, newest first."""
    on_record = linked_to_record(target_kind, target_id)
    messages = session.execute(
        select(Message.id)
        .where(
            Message.id.in_(
                select(Link.item_id).where(Link.item_kind == ItemKind.MESSAGE.value, on_record)
            ),
            visible_items(ItemKind.MESSAGE, viewer),
        )
        .order_by(Message.sent_at.desc().nulls_last(), Message.id.desc())
        .limit(limit)
    ).scalars()
    meetings = session.execute(
        select(Meeting.id)
        .where(
            Meeting.id.in_(
                select(Link.item_id).where(Link.item_kind == ItemKind.MEETING.value, on_record)
            ),
            visible_items(ItemKind.MEETING, viewer),
        )
        .order_by(Meeting.start_at.desc(), Meeting.id.desc())
        .limit(limit)
    ).scalars()
    return [int(i) for i in messages], [int(i) for i in meetings]


def record_entries(
    session: Session,
    viewer: Viewer,
    target_kind: TargetKind,
    target_id: int,
    *,
    limit: int = DEFAULT_LIMIT,
) -> list[Entry]:
    message_ids, meeting_ids = record_item_ids(session, viewer, target_kind, target_id, limit=limit)
    return load_entries(session, message_ids, meeting_ids)


def group_into_threads(entries: Sequence[Entry]) -> list[Thread]:
    """Threads with their entries oldest first; the most recently active thread first."""
    grouped: dict[tuple[ItemKind, str], list[Entry]] = {}
    for entry in entries:
        grouped.setdefault((entry.kind, entry.thread_key), []).append(entry)
    threads = [
        Thread(key, tuple(sorted(items, key=lambda e: (e.at is None, e.at, e.id))))
        for (_, key), items in grouped.items()
    ]
    return sorted(
        threads, key=lambda t: (t.latest is None, -(t.latest.timestamp() if t.latest else 0))
    )


def record_meetings(
    session: Session, viewer: Viewer, target_kind: TargetKind, target_id: int
) -> list[Meeting]:
    """The record's visible meetings (for the calendar export), in start order."""
    on_record = linked_to_record(target_kind, target_id)
    return list(
        session.execute(
            select(Meeting)
            .where(
                Meeting.id.in_(
                    select(Link.item_id).where(Link.item_kind == ItemKind.MEETING.value, on_record)
                ),
                visible_items(ItemKind.MEETING, viewer),
            )
            .order_by(Meeting.start_at, Meeting.id)
        ).scalars()
    )


def visible_entry(session: Session, viewer: Viewer, kind: ItemKind, item_id: int) -> Entry | None:
    """One item if the viewer may see it (None otherwise: the page answers 404)."""
    model = Message if kind is ItemKind.MESSAGE else Meeting
    found = session.execute(
        select(model.id).where(model.id == item_id, visible_items(kind, viewer))
    ).first()
    if found is None:
        return None
    if kind is ItemKind.MESSAGE:
        entries = load_entries(session, [item_id], [])
    else:
        entries = load_entries(session, [], [item_id])
    return entries[0] if entries else None
