"""Is the team working its deals: weekly activity per person, last contact per open deal.

Both read only visible correspondence (``crm_store.visibility``), so the
dashboard and ``mailsync report stale`` agree with the timelines: a deal is
stale when nothing the viewer could open has happened on it for N days.
Weeks start on Monday, in UTC, so every backend buckets alike (the grouping
is done here rather than with each dialect's date functions).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session, aliased

from crm_store.items import ItemKind, TargetKind
from crm_store.models import (
    Account,
    Link,
    Mailbox,
    Meeting,
    MeetingCopy,
    Message,
    MessageCopy,
    Opportunity,
    User,
)
from crm_store.visibility import Viewer, owner_in_reach, reach_user_ids, visible_items


@dataclass(frozen=True, slots=True)
class WeekCounts:
    week_start: date
    emails_in: int = 0
    emails_out: int = 0
    meetings: int = 0


@dataclass(frozen=True, slots=True)
class PersonActivity:
    user_id: int
    name: str
    email: str
    weeks: tuple[WeekCounts, ...]

    @property
    def total(self) -> int:
        return sum(w.emails_in + w.emails_out + w.meetings for w in self.weeks)


@dataclass(frozen=True, slots=True)
class OpportunityContact:
    """An open opportunity and when it was last worked on (None: never)."""

    id: int
    code: str
    name: str
    account_id: int
    account_name: str
    owner_name: str | None
    stage: str
    amount: Decimal | None
    currency: str | None
    last_contact_at: datetime | None

    def days_since_contact(self, now: datetime) -> int | None:
        if self.last_contact_at is None:
            return None
        return max(0, (now - self.last_contact_at).days)


def week_start(moment: datetime) -> date:
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def weekly_activity(
    session: Session, viewer: Viewer, *, weeks: int, now: datetime
) -> list[PersonActivity]:
    """Emails in and out and meetings per person in reach per week, oldest week first.

    An item counts for a person when it is in their mailbox; an email both
    sent by one teammate and received by another counts for each of them,
    because each of them spent the time.
    """
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    first_week = week_start(now) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first_week, datetime.min.time(), tzinfo=UTC)
    people = session.execute(
        select(User.id, User.display_name, User.email)
        .where(reach_user_ids(viewer), User.role != "admin")
        .order_by(User.display_name, User.email)
    ).all()
    counts: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    owner = Mailbox.owner_id
    message_rows = session.execute(
        select(owner, Message.id, Message.sent_at, Message.direction)
        .select_from(Message)
        .join(MessageCopy, MessageCopy.message_id == Message.id)
        .join(Mailbox, Mailbox.id == MessageCopy.mailbox_id)
        .where(
            owner.is_not(None),
            Message.sent_at >= since,
            Message.sent_at <= now,
            visible_items(ItemKind.MESSAGE, viewer),
        )
        .distinct()
    )
    for user_id, _, sent_at, direction in message_rows:
        slot = 0 if direction == "inbound" else 1 if direction == "outbound" else None
        if slot is not None and user_id is not None and sent_at is not None:
            counts[(int(user_id), week_start(sent_at))][slot] += 1
    meeting_rows = session.execute(
        select(owner, Meeting.id, Meeting.start_at)
        .select_from(Meeting)
        .join(MeetingCopy, MeetingCopy.meeting_id == Meeting.id)
        .join(Mailbox, Mailbox.id == MeetingCopy.mailbox_id)
        .where(
            owner.is_not(None),
            Meeting.start_at >= since,
            Meeting.start_at <= now,
            Meeting.is_cancelled.is_(False),
            visible_items(ItemKind.MEETING, viewer),
        )
        .distinct()
    )
    for user_id, _, start_at in meeting_rows:
        if user_id is not None:
            counts[(int(user_id), week_start(start_at))][2] += 1
    all_weeks = [first_week + timedelta(weeks=n) for n in range(weeks)]
    return [
        PersonActivity(
            int(user_id),
            name or email,
            email,
            tuple(WeekCounts(w, *counts.get((int(user_id), w), [0, 0, 0])) for w in all_weeks),
        )
        for user_id, name, email in people
    ]


def _last_contact(kind: ItemKind, viewer: Viewer, now: datetime) -> ScalarSelect[datetime | None]:
    """Correlated sub-query: the latest visible item of ``kind`` linked to the opportunity."""
    moment = Message.sent_at if kind is ItemKind.MESSAGE else Meeting.start_at
    item_id = Message.id if kind is ItemKind.MESSAGE else Meeting.id
    link = aliased(Link)
    statement = (
        select(func.max(moment))
        .join(link, (link.item_kind == kind.value) & (link.item_id == item_id))
        .where(
            link.target_kind == TargetKind.OPPORTUNITY.value,
            link.target_id == Opportunity.id,
            moment <= now,
            visible_items(kind, viewer),
        )
    )
    if kind is ItemKind.MEETING:
        statement = statement.where(Meeting.is_cancelled.is_(False))
    return statement.correlate(Opportunity).scalar_subquery()


def open_opportunities(
    session: Session, viewer: Viewer, *, now: datetime, owner_id: int | None = None
) -> list[OpportunityContact]:
    """Open opportunities owned by people in reach, least recently contacted first."""
    owner = aliased(User)
    statement = (
        select(
            Opportunity.id,
            Opportunity.code,
            Opportunity.name,
            Opportunity.account_id,
            Account.name.label("account_name"),
            owner.display_name.label("owner_name"),
            owner.email.label("owner_email"),
            Opportunity.stage,
            Opportunity.amount,
            Opportunity.currency,
            _last_contact(ItemKind.MESSAGE, viewer, now).label("last_email"),
            _last_contact(ItemKind.MEETING, viewer, now).label("last_meeting"),
        )
        .join(Account, Account.id == Opportunity.account_id)
        .outerjoin(owner, owner.id == Opportunity.owner_id)
        .where(Opportunity.status == "open", owner_in_reach(Opportunity.owner_id, viewer))
        .order_by(Opportunity.code)
    )
    if owner_id is not None:
        statement = statement.where(Opportunity.owner_id == owner_id)
    found = []
    for row in session.execute(statement):
        moments = [m for m in (row.last_email, row.last_meeting) if m is not None]
        found.append(
            OpportunityContact(
                id=int(row.id),
                code=row.code,
                name=row.name,
                account_id=int(row.account_id),
                account_name=row.account_name,
                owner_name=row.owner_name or row.owner_email,
                stage=row.stage or "",
                amount=row.amount,
                currency=row.currency,
                last_contact_at=_aware(max(moments)) if moments else None,
            )
        )
    return sorted(found, key=lambda o: (o.last_contact_at is not None, o.last_contact_at, o.code))


def _aware(moment: datetime) -> datetime:
    """MAX() over a column bypasses the UTC type decorator on SQLite; tag it again."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stale_opportunities(
    session: Session,
    viewer: Viewer,
    *,
    after_days: int,
    now: datetime,
    owner_id: int | None = None,
) -> list[OpportunityContact]:
    """Open opportunities with no email or meeting for ``after_days`` days (or never)."""
    if after_days < 1:
        raise ValueError("after_days must be at least 1")
    cutoff = now - timedelta(days=after_days)
    return [
        o
        for o in open_opportunities(session, viewer, now=now, owner_id=owner_id)
        if o.last_contact_at is None or o.last_contact_at < cutoff
    ]
