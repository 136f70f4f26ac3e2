"""Items that matched nothing: finding them again, linking them late, forgetting them.

An item no rule linked is stored as metadata only (``tracked`` false, no
body): ids, participants, subject, date, thread ids. For a bounded window the
retroactive matcher may still link it when the CRM learns a new contact,
address, domain or opportunity code; past the window it is deleted
(invariant 4). Everything here is set-based: candidates are pre-selected in
SQL by the changed addresses, domains and codes, links are written in one
batched upsert, and the purge is one DELETE per table.

Late links cannot carry a body (it was never kept), so the linked messages
are flagged ``body_pending``; the next sync of a mailbox holding a copy
fetches the bodies (``pending_bodies``, then ``crm_store.message_bodies``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from crm_store.items import ItemKind, LinkSpec
from crm_store.models import (
    Link,
    LinkSuggestion,
    Mailbox,
    Meeting,
    MeetingAttendee,
    MeetingCopy,
    Message,
    MessageCopy,
    MessageParticipant,
    Suppression,
)
from crm_store.sync_writes import (
    SuggestionLike,
    _insert_suggestions,
    _suppressed_pairs,
    _upsert_links,
)
from crm_store.upsert import chunks

LIKE_TERMS_PER_QUERY = 200
"""Domains or codes OR-ed into one LIKE query: enough for an import, short enough to plan."""


@dataclass(frozen=True, slots=True)
class UnmatchedRow:
    """One unmatched item's kept metadata; mirrors ``rules.retro.UnmatchedItem`` field for field.

    ``mailbox`` is the address of the first mailbox holding a live copy (the
    owner that opportunity inference asks about).
    """

    item_kind: ItemKind
    item_id: int
    item_key: str
    mailbox: str
    subject: str
    sent_at: datetime | None
    participants: tuple[tuple[str, str], ...]
    conversation_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LateLinks:
    """New links (and suggestions) for one stored item."""

    item_kind: ItemKind
    item_id: int
    links: Sequence[LinkSpec]
    suggestions: Sequence[SuggestionLike] = ()


@dataclass(frozen=True, slots=True)
class LateLinkCounts:
    items: int
    links_written: int
    suggestions_written: int


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    messages: int
    meetings: int


# --------------------------------------------------------------------------- candidates


def unmatched_candidates(
    session: Session,
    since: datetime,
    *,
    addresses: Collection[str] = (),
    domains: Collection[str] = (),
    codes: Collection[str] = (),
) -> list[UnmatchedRow]:
    """Unmatched items dated after ``since`` with one of these addresses, domains or codes.

    Addresses and domains are compared lower-case, a domain also matching its
    subdomains; codes are found in the subject case-insensitively. A message
    has no date only when its headers had none: then its storing time counts.
    """
    message_ids: set[int] = set()
    meeting_ids: set[int] = set()
    wanted = sorted({a.strip().lower() for a in addresses if a.strip()})
    for chunk in chunks(wanted):
        message_ids.update(
            session.scalars(
                select(MessageParticipant.message_id)
                .join(Message, Message.id == MessageParticipant.message_id)
                .where(MessageParticipant.address.in_(chunk), *_open_message(since))
            )
        )
        meeting_ids.update(
            session.scalars(
                select(MeetingAttendee.meeting_id)
                .join(Meeting, Meeting.id == MeetingAttendee.meeting_id)
                .where(MeetingAttendee.address.in_(chunk), *_open_meeting(since))
            )
        )
        meeting_ids.update(
            session.scalars(
                select(Meeting.id).where(
                    func.lower(Meeting.organizer_address).in_(chunk), *_open_meeting(since)
                )
            )
        )
    names = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
    for chunk in chunks(names, LIKE_TERMS_PER_QUERY):
        message_ids.update(
            session.scalars(
                select(MessageParticipant.message_id)
                .join(Message, Message.id == MessageParticipant.message_id)
                .where(_domain_filter(MessageParticipant.address, chunk), *_open_message(since))
            )
        )
        meeting_ids.update(
            session.scalars(
                select(MeetingAttendee.meeting_id)
                .join(Meeting, Meeting.id == MeetingAttendee.meeting_id)
                .where(_domain_filter(MeetingAttendee.address, chunk), *_open_meeting(since))
            )
        )
        meeting_ids.update(
            session.scalars(
                select(Meeting.id).where(
                    _domain_filter(func.lower(Meeting.organizer_address), chunk),
                    *_open_meeting(since),
                )
            )
        )
    upper = sorted({c.strip().upper() for c in codes if c.strip()})
    for chunk in chunks(upper, LIKE_TERMS_PER_QUERY):
        subject_has = or_(
            *(func.upper(Message.subject).contains(c, autoescape=True) for c in chunk)
        )
        message_ids.update(
            session.scalars(select(Message.id).where(subject_has, *_open_message(since)))
        )
        meeting_has = or_(
            *(func.upper(Meeting.subject).contains(c, autoescape=True) for c in chunk)
        )
        meeting_ids.update(
            session.scalars(select(Meeting.id).where(meeting_has, *_open_meeting(since)))
        )
    return [*_message_rows(session, message_ids), *_meeting_rows(session, meeting_ids)]


def _domain_filter(column: Any, domains: Sequence[str]) -> ColumnElement[bool]:
    return or_(
        *(column.endswith("@" + d, autoescape=True) for d in domains),
        *(column.endswith("." + d, autoescape=True) for d in domains),
    )


def _open_message(since: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Message.tracked.is_(False), func.coalesce(Message.sent_at, Message.created_at) >= since)


def _open_meeting(since: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        Meeting.tracked.is_(False),
        func.coalesce(Meeting.start_at, Meeting.created_at) >= since,
    )


def _first_mailboxes(
    session: Session, copy: type[MessageCopy] | type[MeetingCopy], column: Any, ids: Sequence[int]
) -> dict[int, str]:
    rows = session.execute(
        select(column, Mailbox.address)
        .join(Mailbox, Mailbox.id == copy.mailbox_id)
        .where(column.in_(ids))
        .order_by(column, copy.removed, Mailbox.id)
    )
    found: dict[int, str] = {}
    for item_id, address in rows:
        found.setdefault(int(item_id), str(address))
    return found


def _message_rows(session: Session, ids: Iterable[int]) -> list[UnmatchedRow]:
    out: list[UnmatchedRow] = []
    for chunk in chunks(sorted(set(ids))):
        people: dict[int, list[tuple[str, str]]] = {}
        for message_id, role, address in session.execute(
            select(
                MessageParticipant.message_id, MessageParticipant.role, MessageParticipant.address
            )
            .where(MessageParticipant.message_id.in_(chunk))
            .order_by(MessageParticipant.id)
        ):
            people.setdefault(int(message_id), []).append((str(role), str(address)))
        owners = _first_mailboxes(session, MessageCopy, MessageCopy.message_id, chunk)
        for row in session.execute(
            select(
                Message.id,
                Message.message_key,
                Message.subject,
                Message.sent_at,
                Message.conversation_id,
                Message.in_reply_to,
                Message.references,
            )
            .where(Message.id.in_(chunk))
            .order_by(Message.id)
        ):
            ident = int(row.id)
            out.append(
                UnmatchedRow(
                    ItemKind.MESSAGE,
                    ident,
                    row.message_key,
                    owners.get(ident, ""),
                    row.subject or "",
                    row.sent_at,
                    _ordered_roles(people.get(ident, []), ("from", "to", "cc", "bcc")),
                    row.conversation_id,
                    row.in_reply_to,
                    tuple(row.references or ()),
                )
            )
    return out


def _ordered_roles(
    people: list[tuple[str, str]], order: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    rank = {role: i for i, role in enumerate(order)}
    return tuple(sorted(people, key=lambda pair: rank.get(pair[0], len(order))))


def _meeting_rows(session: Session, ids: Iterable[int]) -> list[UnmatchedRow]:
    out: list[UnmatchedRow] = []
    for chunk in chunks(sorted(set(ids))):
        attendees: dict[int, list[tuple[str, str]]] = {}
        for meeting_id, address in session.execute(
            select(MeetingAttendee.meeting_id, MeetingAttendee.address)
            .where(MeetingAttendee.meeting_id.in_(chunk))
            .order_by(MeetingAttendee.id)
        ):
            attendees.setdefault(int(meeting_id), []).append(("attendee", str(address)))
        owners = _first_mailboxes(session, MeetingCopy, MeetingCopy.meeting_id, chunk)
        for ident, key, subject, start, organizer in session.execute(
            select(
                Meeting.id,
                Meeting.meeting_key,
                Meeting.subject,
                Meeting.start_at,
                Meeting.organizer_address,
            )
            .where(Meeting.id.in_(chunk))
            .order_by(Meeting.id)
        ):
            head = (("organizer", str(organizer).lower()),) if organizer else ()
            out.append(
                UnmatchedRow(
                    ItemKind.MEETING,
                    int(ident),
                    key,
                    owners.get(int(ident), ""),
                    subject or "",
                    start,
                    (*head, *attendees.get(int(ident), [])),
                )
            )
    return out


# --------------------------------------------------------------------------- late links


def write_late_links(session: Session, found: Sequence[LateLinks]) -> LateLinkCounts:
    """Write links found after the items were stored; the linked items become tracked.

    Suppressions are honoured exactly as on the sync path (invariant 3).
    Linked messages are flagged ``body_pending`` for the next sync.
    """
    if not found:
        return LateLinkCounts(0, 0, 0)
    refs: dict[str, tuple[str, int]] = {}
    links: dict[str, Sequence[LinkSpec]] = {}
    suggestions: dict[str, Sequence[SuggestionLike]] = {}
    for entry in found:
        key = f"{entry.item_kind.value}:{entry.item_id}"
        refs[key] = (entry.item_kind.value, entry.item_id)
        links[key] = entry.links
        if entry.suggestions:
            suggestions[key] = entry.suggestions
    message_ids = sorted({e.item_id for e in found if e.item_kind is ItemKind.MESSAGE})
    meeting_ids = sorted({e.item_id for e in found if e.item_kind is ItemKind.MEETING})
    suppressed = _suppressed_pairs(session, message_ids, meeting_ids)
    written, _skipped = _upsert_links(session, links, refs, suppressed)
    suggested = _insert_suggestions(session, suggestions, refs, suppressed)
    linked = {
        (kind, item_id)
        for kind, item_id, _tk, _ti in _linked_pairs(session, message_ids, meeting_ids)
    }
    linked_messages = sorted(i for k, i in linked if k == ItemKind.MESSAGE.value)
    linked_meetings = sorted(i for k, i in linked if k == ItemKind.MEETING.value)
    for chunk in chunks(linked_messages):
        session.execute(
            update(Message)
            .where(Message.id.in_(chunk), Message.tracked.is_(False))
            .values(tracked=True, body_pending=Message.store_body, updated_at=func.now()),
            execution_options={"synchronize_session": False},
        )
    for chunk in chunks(linked_meetings):
        session.execute(
            update(Meeting)
            .where(Meeting.id.in_(chunk), Meeting.tracked.is_(False))
            .values(tracked=True, updated_at=func.now()),
            execution_options={"synchronize_session": False},
        )
    return LateLinkCounts(len(linked), written, suggested)


def _linked_pairs(
    session: Session, message_ids: Sequence[int], meeting_ids: Sequence[int]
) -> list[tuple[str, int, str, int]]:
    out: list[tuple[str, int, str, int]] = []
    for kind, ids in ((ItemKind.MESSAGE, message_ids), (ItemKind.MEETING, meeting_ids)):
        for chunk in chunks(list(ids)):
            out.extend(
                (str(k), int(i), str(tk), int(ti))
                for k, i, tk, ti in session.execute(
                    select(Link.item_kind, Link.item_id, Link.target_kind, Link.target_id).where(
                        Link.item_kind == kind.value, Link.item_id.in_(chunk)
                    )
                )
            )
    return out


# --------------------------------------------------------------------------- bodies


@dataclass(frozen=True, slots=True)
class PendingBody:
    message_id: int
    provider_item_id: str
    folder: str


def pending_bodies(session: Session, mailbox_id: int, limit: int = 1_000) -> list[PendingBody]:
    """Messages linked late whose body this mailbox can fetch (a live copy), oldest first."""
    rows = session.execute(
        select(MessageCopy.message_id, MessageCopy.provider_item_id, MessageCopy.folder)
        .join(Message, Message.id == MessageCopy.message_id)
        .where(
            MessageCopy.mailbox_id == mailbox_id,
            MessageCopy.removed.is_(False),
            Message.body_pending.is_(True),
        )
        .order_by(MessageCopy.message_id)
        .limit(limit)
    )
    return [PendingBody(int(m), str(p), str(f)) for m, p, f in rows]


# --------------------------------------------------------------------------- purge


def purge_unmatched(session: Session, before: datetime) -> PurgeCounts:
    """Delete unmatched items dated before ``before``: their metadata has served its window.

    An item is kept while anything refers to it: a link (a person may have
    linked it by hand), or a suggestion still pending in the add-in.
    Decided suggestions and suppressions of the deleted items go with them.
    """
    counts: dict[ItemKind, int] = {}
    for kind, model, dated in (
        (ItemKind.MESSAGE, Message, func.coalesce(Message.sent_at, Message.created_at)),
        (ItemKind.MEETING, Meeting, func.coalesce(Meeting.end_at, Meeting.created_at)),
    ):
        referenced = or_(
            exists().where(Link.item_kind == kind.value, Link.item_id == model.id),
            exists().where(
                LinkSuggestion.item_kind == kind.value,
                LinkSuggestion.item_id == model.id,
                LinkSuggestion.status == "pending",
            ),
        )
        doomed = select(model.id).where(model.tracked.is_(False), dated < before, ~referenced)
        for side in (LinkSuggestion, Suppression):
            session.execute(
                delete(side).where(and_(side.item_kind == kind.value, side.item_id.in_(doomed))),
                execution_options={"synchronize_session": False},
            )
        result = session.execute(
            delete(model).where(model.id.in_(doomed)),
            execution_options={"synchronize_session": False},
        )
        counts[kind] = int(getattr(result, "rowcount", 0) or 0)
    return PurgeCounts(counts[ItemKind.MESSAGE], counts[ItemKind.MEETING])
