"""Search the visible correspondence by subject, participant and record, with filters.

Text matches case-insensitively as a substring (``LIKE`` on both backends;
PostgreSQL's ILIKE is what ``ilike`` compiles to there). A record matches by
name or code, and then every item linked to it matches: searching "Acme"
finds the emails with Acme in the subject, from someone at acme.com, and
linked to the Acme account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from crm_store.correspondence import Entry, RecordRef, load_entries
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
    User,
)
from crm_store.timeline import linked_to_record
from crm_store.visibility import Viewer, in_reach_mailbox, target_in_reach, visible_items

DIRECTIONS = ("inbound", "outbound", "internal", "meeting")
DEFAULT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What the search page's form sends; every field narrows, none is required."""

    text: str = ""
    salesperson_id: int | None = None
    since: date | None = None
    until: date | None = None
    direction: str | None = None
    record: tuple[TargetKind, int] | None = None

    def __post_init__(self) -> None:
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        if self.since and self.until and self.since > self.until:
            raise ValueError("the start date is after the end date")


def _pattern(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matching_records(pattern: str) -> ColumnElement[bool]:
    """Predicate on ``Link``: it points at a record whose name, code or address matches."""
    return or_(
        and_(
            Link.target_kind == TargetKind.ACCOUNT.value,
            Link.target_id.in_(select(Account.id).where(Account.name.ilike(pattern, escape="\\"))),
        ),
        and_(
            Link.target_kind == TargetKind.OPPORTUNITY.value,
            Link.target_id.in_(
                select(Opportunity.id).where(
                    or_(
                        Opportunity.name.ilike(pattern, escape="\\"),
                        Opportunity.code.ilike(pattern, escape="\\"),
                    )
                )
            ),
        ),
        and_(
            Link.target_kind == TargetKind.CONTACT.value,
            Link.target_id.in_(
                select(Contact.id).where(
                    or_(
                        Contact.first_name.ilike(pattern, escape="\\"),
                        Contact.last_name.ilike(pattern, escape="\\"),
                    )
                )
            ),
        ),
    )


def _text_match(kind: ItemKind, pattern: str) -> ColumnElement[bool]:
    linked_record = select(Link.item_id).where(
        Link.item_kind == kind.value, _matching_records(pattern)
    )
    if kind is ItemKind.MESSAGE:
        party = select(MessageParticipant.message_id).where(
            or_(
                MessageParticipant.address.ilike(pattern, escape="\\"),
                MessageParticipant.name.ilike(pattern, escape="\\"),
            )
        )
        return or_(
            Message.subject.ilike(pattern, escape="\\"),
            Message.id.in_(party),
            Message.id.in_(linked_record),
        )
    attendee = select(MeetingAttendee.meeting_id).where(
        or_(
            MeetingAttendee.address.ilike(pattern, escape="\\"),
            MeetingAttendee.name.ilike(pattern, escape="\\"),
        )
    )
    return or_(
        Meeting.subject.ilike(pattern, escape="\\"),
        Meeting.organizer_address.ilike(pattern, escape="\\"),
        Meeting.id.in_(attendee),
        Meeting.id.in_(linked_record),
    )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _conditions(
    session: Session, kind: ItemKind, viewer: Viewer, filters: SearchFilters
) -> list[ColumnElement[bool]]:
    conditions = [visible_items(kind, viewer)]
    moment = Message.sent_at if kind is ItemKind.MESSAGE else Meeting.start_at
    if filters.text.strip():
        conditions.append(_text_match(kind, _pattern(filters.text)))
    if filters.since:
        conditions.append(moment >= _day_start(filters.since))
    if filters.until:
        conditions.append(moment < _day_start(filters.until + timedelta(days=1)))
    if filters.direction:
        if kind is ItemKind.MEETING:
            conditions.append(true() if filters.direction == "meeting" else false())
        elif filters.direction == "meeting":
            conditions.append(false())
        else:
            conditions.append(Message.direction == filters.direction)
    if filters.record:
        item_id = Message.id if kind is ItemKind.MESSAGE else Meeting.id
        conditions.append(
            item_id.in_(
                select(Link.item_id).where(
                    Link.item_kind == kind.value, linked_to_record(*filters.record)
                )
            )
        )
    if filters.salesperson_id is not None:
        conditions.append(_of_salesperson(session, kind, filters.salesperson_id))
    return conditions


def _of_salesperson(session: Session, kind: ItemKind, user_id: int) -> ColumnElement[bool]:
    """The item is that person's: in their mailbox, or linked to a record they own."""
    user = session.get(User, user_id)
    if user is None:
        return false()
    theirs = Viewer(user.id, user.email, "salesperson")
    item_id = Message.id if kind is ItemKind.MESSAGE else Meeting.id
    linked_to_theirs = item_id.in_(
        select(Link.item_id).where(
            Link.item_kind == kind.value, target_in_reach(Link.target_kind, Link.target_id, theirs)
        )
    )
    return or_(in_reach_mailbox(kind, theirs), linked_to_theirs)


def search_entries(
    session: Session, viewer: Viewer, filters: SearchFilters, *, limit: int = DEFAULT_LIMIT
) -> list[Entry]:
    """Visible items matching every filter, newest first, at most ``limit`` of them."""
    message_ids = session.execute(
        select(Message.id)
        .where(*_conditions(session, ItemKind.MESSAGE, viewer, filters))
        .order_by(Message.sent_at.desc().nulls_last(), Message.id.desc())
        .limit(limit)
    ).scalars()
    meeting_ids = session.execute(
        select(Meeting.id)
        .where(*_conditions(session, ItemKind.MEETING, viewer, filters))
        .order_by(Meeting.start_at.desc(), Meeting.id.desc())
        .limit(limit)
    ).scalars()
    return load_entries(session, list(message_ids), list(meeting_ids))[:limit]


def search_records(session: Session, text: str, *, limit: int = 20) -> list[RecordRef]:
    """Accounts, opportunities and contacts whose name, code or email matches ``text``.

    Record names are not secret inside the company (the add-in shows them to
    every salesperson); what each record's page then shows is filtered.
    """
    if not text.strip():
        return []
    pattern = _pattern(text)
    found: list[RecordRef] = []
    for ident, name in session.execute(
        select(Account.id, Account.name)
        .where(Account.name.ilike(pattern, escape="\\"))
        .order_by(Account.name)
        .limit(limit)
    ):
        found.append(RecordRef(TargetKind.ACCOUNT, int(ident), name))
    for ident, code, name in session.execute(
        select(Opportunity.id, Opportunity.code, Opportunity.name)
        .where(
            or_(
                Opportunity.name.ilike(pattern, escape="\\"),
                Opportunity.code.ilike(pattern, escape="\\"),
            )
        )
        .order_by(Opportunity.code)
        .limit(limit)
    ):
        found.append(RecordRef(TargetKind.OPPORTUNITY, int(ident), f"{code} {name}"))
    by_email = select(ContactEmail.contact_id).where(ContactEmail.email.ilike(pattern, escape="\\"))
    for contact in session.execute(
        select(Contact)
        .where(
            or_(
                Contact.first_name.ilike(pattern, escape="\\"),
                Contact.last_name.ilike(pattern, escape="\\"),
                Contact.id.in_(by_email),
            )
        )
        .order_by(Contact.last_name, Contact.first_name)
        .limit(limit)
    ).scalars():
        found.append(RecordRef(TargetKind.CONTACT, contact.id, contact.full_name))
    return found
