"""Stored correspondence read back as items, for ``mailsync rules dry-run`` (and the
sync, which links a message again when its pending body arrives).

The dry run replays stored history through a rule set without writing, so it
needs each item as the rules see it (participants, subject, body, thread
ids), its current links and its suppressions. Read in batches by id, a few
queries per batch; headers are not stored, so header-based exclusions cannot
be replayed (the dry run says what the rules would do on what is kept).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.items import (
    Address,
    Attendee,
    CorrespondenceItem,
    Direction,
    ItemKind,
    LinkSpec,
    MeetingItem,
    MessageItem,
    OriginKind,
    Sensitivity,
    TargetKind,
)
from crm_store.models import (
    Link,
    Mailbox,
    Meeting,
    MeetingAttendee,
    MeetingCopy,
    Message,
    MessageCopy,
    MessageParticipant,
    Suppression,
)
from crm_store.upsert import chunks

BATCH = 500


@dataclass(frozen=True, slots=True)
class HistoryItem:
    item_kind: ItemKind
    item_id: int
    item_key: str
    mailbox: str | None
    item: CorrespondenceItem
    links: tuple[LinkSpec, ...]
    suppressed: frozenset[tuple[TargetKind, int]]


def stored_history(session: Session, since: datetime) -> Iterator[HistoryItem]:
    """Every stored message sent and meeting starting after ``since``, oldest id first."""
    after = 0
    while True:
        ids = list(
            session.scalars(
                select(Message.id)
                .where(
                    Message.id > after, func.coalesce(Message.sent_at, Message.created_at) >= since
                )
                .order_by(Message.id)
                .limit(BATCH)
            )
        )
        if not ids:
            break
        yield from _messages(session, ids)
        after = ids[-1]
    after = 0
    while True:
        ids = list(
            session.scalars(
                select(Meeting.id)
                .where(Meeting.id > after, Meeting.start_at >= since)
                .order_by(Meeting.id)
                .limit(BATCH)
            )
        )
        if not ids:
            break
        yield from _meetings(session, ids)
        after = ids[-1]


def stored_messages(session: Session, ids: list[int]) -> list[HistoryItem]:
    """The messages with these ids as the rules see them (the sync relinks pending bodies)."""
    found: list[HistoryItem] = []
    for start in range(0, len(ids), BATCH):
        found.extend(_messages(session, ids[start : start + BATCH]))
    return found


def thread_followers(session: Session, message_ids: Collection[int]) -> list[int]:
    """Stored messages that may inherit links from these: their replies, and later mail of
    their conversations (the thread rules' two ways of finding a parent), oldest first.

    When a message gains links after its followers were linked (its body
    arrived late), the followers are linked again so they inherit as they
    would have had the body come in time.
    """
    keys: set[str] = set()
    since: dict[str, datetime | None] = {}
    for chunk in chunks(sorted(set(message_ids))):
        for key, conversation, sent_at in session.execute(
            select(Message.message_key, Message.conversation_id, Message.sent_at).where(
                Message.id.in_(chunk)
            )
        ):
            keys.add(str(key))
            if conversation:
                known = since.get(conversation, sent_at)
                since[conversation] = (
                    None if known is None or sent_at is None else min(known, sent_at)
                )
    found: dict[int, datetime | None] = {}
    for parents in chunks(sorted(keys)):
        for ident, sent_at in session.execute(
            select(Message.id, Message.sent_at).where(Message.in_reply_to.in_(parents))
        ):
            found[int(ident)] = sent_at
    for conversations in chunks(sorted(since)):
        for ident, conversation, sent_at in session.execute(
            select(Message.id, Message.conversation_id, Message.sent_at).where(
                Message.conversation_id.in_(conversations)
            )
        ):
            start = since[str(conversation)]
            if start is None or sent_at is None or sent_at > start:
                found[int(ident)] = sent_at
    for ident in message_ids:
        found.pop(ident, None)
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda i: (_aware(found[i]) or oldest, i))


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC datetimes, PostgreSQL aware ones: compare them alike."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _links(
    session: Session, kind: ItemKind, ids: list[int]
) -> tuple[dict[int, list[LinkSpec]], dict[int, set[tuple[TargetKind, int]]]]:
    links: dict[int, list[LinkSpec]] = {}
    for row in session.execute(
        select(Link).where(Link.item_kind == kind.value, Link.item_id.in_(ids)).order_by(Link.id)
    ).scalars():
        links.setdefault(int(row.item_id), []).append(
            LinkSpec(
                TargetKind(row.target_kind),
                int(row.target_id),
                OriginKind(row.origin_kind),
                row.origin,
                row.evidence,
                row.actor,
            )
        )
    suppressed: dict[int, set[tuple[TargetKind, int]]] = {}
    for item_id, target_kind, target_id in session.execute(
        select(Suppression.item_id, Suppression.target_kind, Suppression.target_id).where(
            Suppression.item_kind == kind.value, Suppression.item_id.in_(ids)
        )
    ):
        suppressed.setdefault(int(item_id), set()).add((TargetKind(target_kind), int(target_id)))
    return links, suppressed


def _owners(
    session: Session, column: object, copy: type[MessageCopy] | type[MeetingCopy], ids: list[int]
) -> dict[int, str]:
    owners: dict[int, str] = {}
    for item_id, address in session.execute(
        select(column, Mailbox.address)  # type: ignore[call-overload]
        .join(Mailbox, Mailbox.id == copy.mailbox_id)
        .where(column.in_(ids))  # type: ignore[attr-defined]
        .order_by(column, copy.removed, Mailbox.id)
    ):
        owners.setdefault(int(item_id), str(address))
    return owners


def _messages(session: Session, ids: list[int]) -> Iterator[HistoryItem]:
    people: dict[int, dict[str, list[Address]]] = {}
    for message_id, role, address, name in session.execute(
        select(
            MessageParticipant.message_id,
            MessageParticipant.role,
            MessageParticipant.address,
            MessageParticipant.name,
        )
        .where(MessageParticipant.message_id.in_(ids))
        .order_by(MessageParticipant.id)
    ):
        people.setdefault(int(message_id), {}).setdefault(role, []).append(Address(address, name))
    links, suppressed = _links(session, ItemKind.MESSAGE, ids)
    owners = _owners(session, MessageCopy.message_id, MessageCopy, ids)
    for row in session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)):
        roles = people.get(row.id, {})
        item = MessageItem(
            provider_item_id=row.message_key,
            folder="",
            internet_message_id=row.internet_message_id,
            subject=row.subject,
            sent_at=row.sent_at,
            sender=next(iter(roles.get("from", ())), None),
            to=tuple(roles.get("to", ())),
            cc=tuple(roles.get("cc", ())),
            bcc=tuple(roles.get("bcc", ())),
            conversation_id=row.conversation_id,
            in_reply_to=row.in_reply_to,
            references=tuple(row.references or ()),
            sensitivity=Sensitivity(row.sensitivity),
            has_attachments=row.has_attachments,
            body_text=row.body_text,
            body_html=row.body_html,
            direction=Direction(row.direction),
        )
        yield HistoryItem(
            ItemKind.MESSAGE,
            row.id,
            row.message_key,
            owners.get(row.id),
            item,
            tuple(links.get(row.id, ())),
            frozenset(suppressed.get(row.id, ())),
        )


def _meetings(session: Session, ids: list[int]) -> Iterator[HistoryItem]:
    attendees: dict[int, list[Attendee]] = {}
    for meeting_id, address, name in session.execute(
        select(MeetingAttendee.meeting_id, MeetingAttendee.address, MeetingAttendee.name)
        .where(MeetingAttendee.meeting_id.in_(ids))
        .order_by(MeetingAttendee.id)
    ):
        attendees.setdefault(int(meeting_id), []).append(Attendee(address, name))
    links, suppressed = _links(session, ItemKind.MEETING, ids)
    owners = _owners(session, MeetingCopy.meeting_id, MeetingCopy, ids)
    for row in session.scalars(select(Meeting).where(Meeting.id.in_(ids)).order_by(Meeting.id)):
        item = MeetingItem(
            provider_item_id=row.meeting_key,
            folder="",
            uid=row.uid,
            subject=row.subject,
            start=row.start_at,
            end=row.end_at,
            organizer=Address(row.organizer_address, row.organizer_name)
            if row.organizer_address
            else None,
            attendees=tuple(attendees.get(row.id, ())),
            sensitivity=Sensitivity(row.sensitivity),
            body_text=row.body_text,
            recurrence_id=row.recurrence_id,
        )
        yield HistoryItem(
            ItemKind.MEETING,
            row.id,
            row.meeting_key,
            owners.get(row.id),
            item,
            tuple(links.get(row.id, ())),
            frozenset(suppressed.get(row.id, ())),
        )
