"""Meetings of every mailbox: single ones, a weekly series with an exception, cancellations.

Meetings are few next to mail (tens per mailbox), so they are materialised as
small frozen series; occurrences are expanded on demand. The calendar is
served the way ``calendarView/delta`` does: occurrences and exceptions, never
the series master.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from mailsync.sandbox import names
from mailsync.sandbox.company import Company, User
from mailsync.sandbox.mailplan import ExpectedLinks, Person
from mailsync.sandbox.mixing import mix, rng_for

CALENDAR = "calendar"
EVENT_FLAG = 1 << 63
_TAG_MEETING = 11


class MeetingKind(IntEnum):
    EXTERNAL = 0
    RECURRING = 1
    CANCELLED = 2
    INTERNAL = 3
    PRIVATE = 4


@dataclass(frozen=True, slots=True)
class Attendance:
    person: Person
    role: str  # required | optional
    response: str  # accepted | tentative | declined | none


@dataclass(frozen=True, slots=True)
class MeetingSeries:
    origin: int
    number: int
    kind: MeetingKind
    uid: str
    subject: str
    organizer: Person
    organizer_mailbox: int  # -1 when an outside person organises
    attendees: tuple[Attendance, ...]
    attendee_mailboxes: tuple[int, ...]
    start: datetime
    duration: timedelta
    occurrences: int  # 1 for a single meeting
    exception_at: int  # occurrence moved by an hour; -1 for none
    location: str
    online_url: str | None
    account_index: int | None
    contact_indexes: tuple[int, ...]
    opportunity_code: str | None
    cancelled: bool

    @property
    def mailboxes(self) -> tuple[int, ...]:
        head = (self.organizer_mailbox,) if self.organizer_mailbox >= 0 else ()
        return head + self.attendee_mailboxes


def event_ref(origin: int, number: int, occurrence: int) -> int:
    return EVENT_FLAG | (origin << 40) | (number << 12) | occurrence


def split_event_ref(ref: int) -> tuple[int, int, int]:
    return (ref >> 40) & 0xFFFF, (ref >> 12) & 0x0FFFFFFF, ref & 0xFFF


def is_event_ref(ref: int) -> bool:
    return bool(ref & EVENT_FLAG)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One instance as the calendar shows it, after any update or cancellation."""

    ref: int
    series: MeetingSeries
    index: int
    type: str  # singleInstance | occurrence | exception
    original_start: datetime | None
    start: datetime
    end: datetime
    subject: str
    cancelled: bool

    @property
    def meeting_key(self) -> str:
        if self.original_start is None:
            return self.series.uid
        return f"{self.series.uid}#{format_original_start(self.original_start)}"


def format_original_start(value: datetime) -> str:
    """The form Graph gives ``originalStart`` in, which keys an occurrence."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class SeriesOverride:
    subject: str | None = None
    shift: timedelta = timedelta(0)
    cancelled: bool = False


class MeetingPlan:
    def __init__(self, company: Company, *, meetings_per_mailbox: int, anchor: datetime) -> None:
        self.company = company
        self.anchor = anchor
        self.mailbox_users: tuple[User, ...] = company.mailbox_users
        self.series: list[list[MeetingSeries]] = []
        self.overrides: dict[tuple[int, int], SeriesOverride] = {}
        self.by_uid: dict[str, tuple[int, int]] = {}
        others = [u for u in company.users if not u.has_mailbox]
        for m in range(len(self.mailbox_users)):
            mine = [self._make(m, j, others) for j in range(meetings_per_mailbox)]
            self.series.append(mine)
            for s in mine:
                self.by_uid[s.uid] = (m, s.number)

    def _make(self, m: int, j: int, others: list[User]) -> MeetingSeries:
        company = self.company
        rng = rng_for(company.seed, _TAG_MEETING, m, j)
        fixed = (
            MeetingKind.EXTERNAL,
            MeetingKind.RECURRING,
            MeetingKind.CANCELLED,
            MeetingKind.INTERNAL,
            MeetingKind.PRIVATE,
        )
        if j < len(fixed):
            kind = fixed[j]
        else:
            roll = rng.random()
            kind = (
                MeetingKind.EXTERNAL
                if roll < 0.6
                else MeetingKind.RECURRING
                if roll < 0.7
                else MeetingKind.CANCELLED
                if roll < 0.78
                else MeetingKind.INTERNAL
                if roll < 0.9
                else MeetingKind.PRIVATE
            )
        owner_user = self.mailbox_users[m]
        owner = Person(owner_user.email, owner_user.display_name)
        n_mailboxes = len(self.mailbox_users)
        peer = (m + 1 + rng.randrange(n_mailboxes - 1)) % n_mailboxes if n_mailboxes > 1 else -1
        attendees: list[Attendance] = []
        attendee_mailboxes: list[int] = []
        organizer, organizer_mailbox = owner, m
        account_index: int | None = None
        contact_indexes: tuple[int, ...] = ()
        code: str | None = None
        topic = rng.choice(names.OPPORTUNITY_TOPICS)
        if kind in (MeetingKind.EXTERNAL, MeetingKind.RECURRING, MeetingKind.CANCELLED):
            owned = [a.index for a in company.accounts if a.owner_email == owner.address]
            account_index = rng.choice(owned) if owned else rng.randrange(len(company.accounts))
            pool = company.contacts_by_account[account_index]
            contact_indexes = tuple(rng.sample(pool, min(len(pool), rng.randint(1, 3))))
            people = [
                Person(company.contacts[i].emails[0], company.contacts[i].display_name)
                for i in contact_indexes
            ]
            if rng.random() < 0.3:
                organizer, organizer_mailbox = people[0], -1
                attendees.append(Attendance(owner, "required", "accepted"))
                attendee_mailboxes.append(m)
                people = people[1:]
            attendees.extend(
                Attendance(p, "required", rng.choice(("accepted", "tentative", "none")))
                for p in people
            )
            opp_index = rng.choice(company.opportunities_by_account[account_index])
            subject = rng.choice(names.MEETING_SUBJECTS).format(topic=topic)
            if rng.random() < 0.3:
                code = company.opportunities[opp_index].code
                subject = f"{subject} ({code})"
            if peer >= 0 and rng.random() < 0.3:
                colleague = self.mailbox_users[peer]
                attendees.append(
                    Attendance(Person(colleague.email, colleague.display_name), "optional", "none")
                )
                attendee_mailboxes.append(peer)
        elif kind == MeetingKind.INTERNAL:
            subject = rng.choice(names.INTERNAL_SUBJECTS)
            if peer >= 0:
                colleague = self.mailbox_users[peer]
                attendee_mailboxes.append(peer)
            else:
                colleague = rng.choice(others)
            attendees.append(
                Attendance(Person(colleague.email, colleague.display_name), "required", "accepted")
            )
        else:
            subject = rng.choice(("Dentist", "Parent-teacher meeting", "Private appointment"))
        if kind == MeetingKind.RECURRING:
            day0 = self.anchor - timedelta(days=21 + rng.randint(0, 6))
        else:
            day0 = self.anchor + timedelta(days=rng.randint(-60, 120))
        start = day0.replace(hour=rng.randint(8, 16), minute=0, second=0, microsecond=0)
        uid_hex = f"{mix(company.seed, _TAG_MEETING, m, j):016X}{mix(j, m):016X}"
        online = rng.random() < 0.6 and kind != MeetingKind.PRIVATE
        return MeetingSeries(
            origin=m,
            number=j,
            kind=kind,
            uid=f"040000008200E00074C5B7101A82E00800000000{uid_hex}",
            subject=subject,
            organizer=organizer,
            organizer_mailbox=organizer_mailbox,
            attendees=tuple(attendees),
            attendee_mailboxes=tuple(attendee_mailboxes),
            start=start,
            duration=timedelta(minutes=rng.choice((30, 45, 60, 90))),
            occurrences=rng.randint(6, 10) if kind == MeetingKind.RECURRING else 1,
            exception_at=2 if kind == MeetingKind.RECURRING else -1,
            location="Teams meeting" if online else rng.choice(names.LOCATIONS[1:]),
            online_url=(
                f"https://teams.example.invalid/l/meetup-join/{uid_hex.lower()}" if online else None
            ),
            account_index=account_index,
            contact_indexes=contact_indexes,
            opportunity_code=code,
            cancelled=kind == MeetingKind.CANCELLED,
        )

    def series_of(self, ref: int) -> MeetingSeries:
        origin, number, _ = split_event_ref(ref)
        return self.series[origin][number]

    def occurrence(self, ref: int) -> Occurrence:
        origin, number, index = split_event_ref(ref)
        series = self.series[origin][number]
        override = self.overrides.get((origin, number))
        recurring = series.occurrences > 1
        original = series.start + timedelta(weeks=index)
        start = original
        subject = series.subject
        kind = "occurrence" if recurring else "singleInstance"
        if index == series.exception_at:
            start = original + timedelta(hours=1)
            subject = f"{subject} (moved)"
            kind = "exception"
        cancelled = series.cancelled
        if override is not None:
            start += override.shift
            subject = override.subject or subject
            cancelled = cancelled or override.cancelled
        return Occurrence(
            ref=ref,
            series=series,
            index=index,
            type=kind,
            original_start=original if recurring else None,
            start=start,
            end=start + series.duration,
            subject=f"Canceled: {subject}" if cancelled else subject,
            cancelled=cancelled,
        )

    def baseline_refs(self, mailbox: int) -> list[int]:
        """Every occurrence a mailbox's calendar holds before any change.

        A cancelled meeting is gone from its organizer's calendar and stays,
        marked cancelled, in the attendees' calendars (as Exchange does).
        """
        refs: list[int] = []
        for per_origin in self.series:
            for s in per_origin:
                if mailbox not in s.mailboxes:
                    continue
                if s.cancelled and s.organizer_mailbox == mailbox:
                    continue
                refs.extend(event_ref(s.origin, s.number, i) for i in range(s.occurrences))
        return refs

    def expected_links(self, series: MeetingSeries) -> ExpectedLinks:
        company = self.company
        if series.kind == MeetingKind.PRIVATE:
            return ExpectedLinks(True, "private", "private", (), (), (), None, ())
        if series.kind == MeetingKind.INTERNAL:
            return ExpectedLinks(True, "internal_only", "internal", (), (), (), None, ())
        contacts = tuple(company.contacts[i].emails[0] for i in series.contact_indexes)
        accounts = (
            (company.accounts[series.account_index].name,)
            if series.account_index is not None
            else ()
        )
        inferred: str | None = None
        suggested: tuple[str, ...] = ()
        opportunities: tuple[tuple[str, str], ...] = ()
        if series.opportunity_code:
            opportunities = ((series.opportunity_code, "token"),)
        elif series.account_index is not None:
            owner = self.mailbox_users[series.origin].email
            mine = company.open_opportunities(series.account_index, owner)
            if len(mine) == 1:
                inferred = mine[0].code
            elif len(mine) > 1:
                suggested = tuple(o.code for o in mine)
        return ExpectedLinks(
            False, None, "customer", contacts, accounts, opportunities, inferred, suggested
        )
