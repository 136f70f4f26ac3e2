"""Factories for CRM data and correspondence items, shared by every test package.

Store factories (``make_*``) add rows to the given session and flush so ids
exist; they never commit (the test owns the transaction). Item factories
(``message_item``, ``meeting_item``) build the provider-neutral items a driver
would produce, without touching the store. Every default is unique per call,
so tests only spell out what they are about.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from crm_store.items import (
    Address,
    Attendee,
    Direction,
    LinkSpec,
    MeetingItem,
    MessageItem,
    OriginKind,
    Sensitivity,
    TargetKind,
)
from crm_store.models import (
    Account,
    AccountDomain,
    Contact,
    ContactEmail,
    Mailbox,
    Opportunity,
    User,
)

_sequence = itertools.count(1)


def unique() -> int:
    """A number no other factory call in this test run has returned."""
    return next(_sequence)


BASE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- CRM rows


def make_user(
    session: Session,
    *,
    email: str | None = None,
    display_name: str | None = None,
    role: str = "salesperson",
    team: str | None = None,
    manager: User | None = None,
) -> User:
    n = unique()
    user = User(
        email=email or f"seller{n}@ourco.example",
        display_name=display_name or f"Seller {n}",
        role=role,
        team=team,
        manager_id=manager.id if manager else None,
    )
    session.add(user)
    session.flush()
    return user


def make_account(
    session: Session,
    *,
    name: str | None = None,
    domains: Sequence[str] | None = None,
    owner: User | None = None,
) -> Account:
    n = unique()
    account = Account(name=name or f"Account {n}", owner_id=owner.id if owner else None)
    session.add(account)
    session.flush()
    for domain in domains if domains is not None else [f"account{n}.example"]:
        session.add(AccountDomain(account_id=account.id, domain=domain.lower()))
    session.flush()
    return account


def make_contact(
    session: Session,
    *,
    account: Account | None = None,
    emails: Sequence[str] | None = None,
    first_name: str | None = None,
    last_name: str = "Doe",
    title: str | None = None,
    phone: str | None = None,
) -> Contact:
    n = unique()
    contact = Contact(
        first_name=first_name or f"Jane{n}",
        last_name=last_name,
        title=title,
        phone=phone,
        account_id=account.id if account else None,
    )
    session.add(contact)
    session.flush()
    addresses = emails if emails is not None else [f"contact{n}@example.com"]
    for position, email in enumerate(addresses):
        session.add(ContactEmail(contact_id=contact.id, email=email.lower(), position=position))
    session.flush()
    return contact


def make_opportunity(
    session: Session,
    *,
    account: Account,
    code: str | None = None,
    name: str | None = None,
    stage: str = "qualification",
    status: str = "open",
    amount: Decimal | None = Decimal("10000.00"),
    currency: str | None = "EUR",
    close_date: date | None = None,
    owner: User | None = None,
) -> Opportunity:
    n = unique()
    opportunity = Opportunity(
        code=code or f"OPP-{n:06d}",
        name=name or f"Deal {n}",
        account_id=account.id,
        stage=stage,
        status=status,
        amount=amount,
        currency=currency,
        close_date=close_date,
        owner_id=owner.id if owner else None,
    )
    session.add(opportunity)
    session.flush()
    return opportunity


def make_mailbox(
    session: Session,
    *,
    address: str | None = None,
    owner: User | None = None,
    provider: str = "graph",
    enabled: bool = True,
) -> Mailbox:
    n = unique()
    mailbox = Mailbox(
        address=address or f"mailbox{n}@ourco.example",
        provider=provider,
        enabled=enabled,
        owner_id=owner.id if owner else None,
    )
    session.add(mailbox)
    session.flush()
    return mailbox


# --------------------------------------------------------------------------- items


def message_item(
    *,
    provider_item_id: str | None = None,
    folder: str = "inbox",
    internet_message_id: str | None = None,
    subject: str | None = None,
    sender: str | Address = "jane@acme.example",
    to: Sequence[str | Address] = ("seller@ourco.example",),
    cc: Sequence[str | Address] = (),
    bcc: Sequence[str | Address] = (),
    sent_at: datetime | None = None,
    body_text: str | None = "Hello",
    body_html: str | None = None,
    conversation_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    direction: Direction = Direction.INBOUND,
    sensitivity: Sensitivity = Sensitivity.NORMAL,
    **extra: Any,
) -> MessageItem:
    """A message as a driver would deliver it; a fresh Message-ID unless one is given."""
    n = unique()
    return MessageItem(
        provider_item_id=provider_item_id or f"AAMk-{n}",
        folder=folder,
        internet_message_id=(
            internet_message_id if internet_message_id is not None else f"<msg{n}@acme.example>"
        ),
        subject=subject if subject is not None else f"Subject {n}",
        sent_at=sent_at or BASE_TIME + timedelta(minutes=n),
        sender=_address(sender),
        to=tuple(_address(a) for a in to),
        cc=tuple(_address(a) for a in cc),
        bcc=tuple(_address(a) for a in bcc),
        conversation_id=conversation_id,
        in_reply_to=in_reply_to,
        references=tuple(references),
        body_text=body_text,
        body_html=body_html,
        direction=direction,
        sensitivity=sensitivity,
        **extra,
    )


def meeting_item(
    *,
    provider_item_id: str | None = None,
    folder: str = "calendar",
    uid: str | None = None,
    subject: str | None = None,
    start: datetime | None = None,
    duration: timedelta = timedelta(hours=1),
    organizer: str | None = "seller@ourco.example",
    attendees: Sequence[str | Attendee] = ("jane@acme.example",),
    body_text: str | None = "Agenda",
    recurrence_id: str | None = None,
    is_cancelled: bool = False,
    **extra: Any,
) -> MeetingItem:
    n = unique()
    begins = start or BASE_TIME + timedelta(days=1, hours=n % 8)
    return MeetingItem(
        provider_item_id=provider_item_id or f"AAMkEv-{n}",
        folder=folder,
        uid=uid or f"uid-{n}@ourco.example",
        subject=subject if subject is not None else f"Meeting {n}",
        start=begins,
        end=begins + duration,
        organizer=Address(organizer) if organizer else None,
        attendees=tuple(a if isinstance(a, Attendee) else Attendee(a) for a in attendees),
        body_text=body_text,
        recurrence_id=recurrence_id,
        is_cancelled=is_cancelled,
        **extra,
    )


def rule_link(target_kind: TargetKind, target_id: int, origin: str = "participant") -> LinkSpec:
    """A link the rules would hand a page for its item, by the ``origin`` rule."""
    return LinkSpec(target_kind, target_id, OriginKind.RULE, origin, f"{origin} evidence")


def _address(value: str | Address) -> Address:
    return value if isinstance(value, Address) else Address(value)
