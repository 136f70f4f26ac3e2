"""Stored emails and meetings as review entries: who, when, which way, linked by whom and why.

Callers first choose item ids with a visibility-filtered query
(``crm_store.visibility``), then load the entries here in a fixed number of
set-based queries, whatever the number of items: a timeline of five hundred
emails costs the same handful of round trips as one of five.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.items import ItemKind, TargetKind
from crm_store.models import (
    Account,
    Contact,
    ContactEmail,
    Link,
    Meeting,
    MeetingAttendee,
    Message,
    MessageParticipant,
    Opportunity,
)
from crm_store.upsert import chunks

MEETING_DIRECTION = "meeting"


@dataclass(frozen=True, slots=True)
class Party:
    """Someone on an item; ``role`` is from/to/cc/bcc, or organizer/required/optional/resource."""

    role: str
    address: str
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True, slots=True)
class RecordRef:
    kind: TargetKind
    id: int
    label: str


@dataclass(frozen=True, slots=True)
class LinkReason:
    """One link of an item, explained (invariant 5): who or which rule, and the evidence."""

    record: RecordRef
    origin_kind: str
    origin: str
    actor: str | None
    evidence: str
    created_at: datetime

    @property
    def made_by(self) -> str:
        if self.origin_kind == "person":
            return self.actor or "a person"
        return f"rule {self.origin}" if self.origin_kind == "rule" else f"inferred: {self.origin}"


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    name: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One email or meeting as the review pages show it."""

    kind: ItemKind
    id: int
    subject: str
    at: datetime | None
    end_at: datetime | None
    direction: str
    thread_key: str
    parties: tuple[Party, ...]
    links: tuple[LinkReason, ...]
    attachments: tuple[AttachmentInfo, ...]
    has_body: bool
    location: str = ""
    timezone: str = "UTC"
    is_cancelled: bool = False

    @property
    def sender(self) -> Party | None:
        return next((p for p in self.parties if p.role in ("from", "organizer")), None)


def load_entries(
    session: Session, message_ids: Iterable[int], meeting_ids: Iterable[int]
) -> list[Entry]:
    """Entries for the given items (missing ids are skipped), newest first."""
    entries = _messages(session, sorted(set(message_ids))) + _meetings(
        session, sorted(set(meeting_ids))
    )
    return sorted(entries, key=_newest_first)


def _newest_first(entry: Entry) -> tuple[float, int]:
    return (-(entry.at.timestamp() if entry.at else 0.0), -entry.id)


def _messages(session: Session, ids: Sequence[int]) -> list[Entry]:
    if not ids:
        return []
    rows: list[Any] = []
    parties: dict[int, list[Party]] = defaultdict(list)
    order = {"from": 0, "to": 1, "cc": 2, "bcc": 3}
    for chunk in chunks(list(ids)):
        rows.extend(
            session.execute(
                select(
                    Message.id,
                    Message.subject,
                    Message.sent_at,
                    Message.direction,
                    Message.conversation_id,
                    Message.message_key,
                    Message.attachments,
                    Message.body_html,
                    Message.body_text,
                ).where(Message.id.in_(chunk))
            )
        )
        for row in session.execute(
            select(
                MessageParticipant.message_id,
                MessageParticipant.role,
                MessageParticipant.address,
                MessageParticipant.name,
            )
            .where(MessageParticipant.message_id.in_(chunk))
            .order_by(MessageParticipant.id)
        ):
            parties[int(row.message_id)].append(Party(row.role, row.address, row.name or ""))
    links = _links(session, ItemKind.MESSAGE, ids)
    return [
        Entry(
            kind=ItemKind.MESSAGE,
            id=int(row.id),
            subject=row.subject or "",
            at=row.sent_at,
            end_at=None,
            direction=row.direction,
            thread_key=row.conversation_id or row.message_key,
            parties=tuple(sorted(parties[int(row.id)], key=lambda p: order.get(p.role, 9))),
            links=tuple(links.get(int(row.id), ())),
            attachments=_attachments(row.attachments),
            has_body=bool(row.body_html or row.body_text),
        )
        for row in rows
    ]


def _attachments(raw: Any) -> tuple[AttachmentInfo, ...]:
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw:
        if isinstance(item, dict) and not item.get("is_inline"):
            found.append(
                AttachmentInfo(
                    str(item.get("name") or "(unnamed)"),
                    str(item.get("content_type") or "application/octet-stream"),
                    int(item.get("size") or 0),
                )
            )
    return tuple(found)


def _meetings(session: Session, ids: Sequence[int]) -> list[Entry]:
    if not ids:
        return []
    rows: list[Any] = []
    attendees: dict[int, list[Party]] = defaultdict(list)
    for chunk in chunks(list(ids)):
        rows.extend(session.execute(select(Meeting).where(Meeting.id.in_(chunk))).scalars())
        for row in session.execute(
            select(
                MeetingAttendee.meeting_id,
                MeetingAttendee.role,
                MeetingAttendee.address,
                MeetingAttendee.name,
            )
            .where(MeetingAttendee.meeting_id.in_(chunk))
            .order_by(MeetingAttendee.id)
        ):
            attendees[int(row.meeting_id)].append(Party(row.role, row.address, row.name or ""))
    links = _links(session, ItemKind.MEETING, ids)
    entries = []
    for meeting in rows:
        organizer = (
            [Party("organizer", meeting.organizer_address, meeting.organizer_name)]
            if meeting.organizer_address
            else []
        )
        others = [p for p in attendees[meeting.id] if p.address != meeting.organizer_address]
        entries.append(
            Entry(
                kind=ItemKind.MEETING,
                id=meeting.id,
                subject=meeting.subject or "",
                at=meeting.start_at,
                end_at=meeting.end_at,
                direction=MEETING_DIRECTION,
                thread_key=meeting.uid,
                parties=tuple(organizer + others),
                links=tuple(links.get(meeting.id, ())),
                attachments=(),
                has_body=bool(meeting.body_text),
                location=meeting.location or "",
                timezone=meeting.timezone or "UTC",
                is_cancelled=meeting.is_cancelled,
            )
        )
    return entries


def _links(session: Session, kind: ItemKind, ids: Sequence[int]) -> dict[int, list[LinkReason]]:
    raw: list[Any] = []
    for chunk in chunks(list(ids)):
        raw.extend(
            session.execute(
                select(Link).where(Link.item_kind == kind.value, Link.item_id.in_(chunk))
            ).scalars()
        )
    refs = ((TargetKind(link.target_kind), link.target_id) for link in raw)
    labels = record_labels(session, refs)
    found: dict[int, list[LinkReason]] = defaultdict(list)
    for link in sorted(raw, key=lambda link: link.id):
        ref = (TargetKind(link.target_kind), link.target_id)
        found[link.item_id].append(
            LinkReason(
                record=RecordRef(ref[0], ref[1], labels.get(ref, f"{ref[0].value} {ref[1]}")),
                origin_kind=link.origin_kind,
                origin=link.origin,
                actor=link.actor,
                evidence=link.evidence or "",
                created_at=link.created_at,
            )
        )
    return found


def record_labels(
    session: Session, refs: Iterable[tuple[TargetKind, int]]
) -> dict[tuple[TargetKind, int], str]:
    """Human names of CRM records: account name, contact name, opportunity code and name."""
    wanted: dict[TargetKind, set[int]] = defaultdict(set)
    for kind, ident in refs:
        wanted[kind].add(ident)
    labels: dict[tuple[TargetKind, int], str] = {}
    for chunk in chunks(sorted(wanted[TargetKind.ACCOUNT])):
        for ident, name in session.execute(
            select(Account.id, Account.name).where(Account.id.in_(chunk))
        ):
            labels[(TargetKind.ACCOUNT, int(ident))] = name
    for chunk in chunks(sorted(wanted[TargetKind.OPPORTUNITY])):
        for ident, code, name in session.execute(
            select(Opportunity.id, Opportunity.code, Opportunity.name).where(
                Opportunity.id.in_(chunk)
            )
        ):
            labels[(TargetKind.OPPORTUNITY, int(ident))] = f"{code} {name}"
    for chunk in chunks(sorted(wanted[TargetKind.CONTACT])):
        first_emails: dict[int, str] = {}
        for contact_id, email in session.execute(
            select(ContactEmail.contact_id, ContactEmail.email)
            .where(ContactEmail.contact_id.in_(chunk))
            .order_by(ContactEmail.position.desc())
        ):
            first_emails[int(contact_id)] = email
        for contact in session.execute(select(Contact).where(Contact.id.in_(chunk))).scalars():
            labels[(TargetKind.CONTACT, contact.id)] = contact.full_name or first_emails.get(
                contact.id, f"contact {contact.id}"
            )
    return labels
