"""Factories for the rules tests: a small CRM index and messages/meetings built from it.

The CRM (ids chosen so a test can name them):
  our company: domain us.example; users alice@ and bob@us.example
  account 1 "Acme Corp"  acme.com, owner alice
      contact 10 Jane Doe jane@acme.com (and j.doe@acme-mail.com)
      opportunity 100 OPP-000123 "Acme renewal"  open, Negotiation, owner alice
      opportunity 101 OPP-000126 "Acme pilot"    open, Proposal,    owner bob
      opportunity 102 OPP-000127 "Acme old deal" won,              owner alice
  account 2 "Globex"     globex.com, globex.de, owner bob
      contact 11 Pat Free pat@gmail.com (a contact on a free-mail address)
      opportunity 200 OPP-000124 "Globex expansion" open, Proposal, owner alice
      opportunity 201 OPP-000125 "Globex support"   open, Proposal, owner alice
  account 3 "Initech"    initech.com, no opportunities
  contact 12 Lone Wolf lone@nowhere.org, no account
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_store.items import Address, Attendee, MeetingItem, MessageItem
from rules import AccountRecord, ContactRecord, CrmIndex, OpportunityRecord

ALICE = "alice@us.example"
BOB = "bob@us.example"
SENT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def make_index() -> CrmIndex:
    return CrmIndex.build(
        accounts=[
            AccountRecord(1, "Acme Corp", ("acme.com",), ALICE),
            AccountRecord(2, "Globex", ("globex.com", "globex.de"), BOB),
            AccountRecord(3, "Initech", ("initech.com",)),
        ],
        contacts=[
            ContactRecord(10, "Jane Doe", ("jane@acme.com", "J.Doe@Acme-Mail.com"), 1),
            ContactRecord(11, "Pat Free", ("pat@gmail.com",), 2),
            ContactRecord(12, "Lone Wolf", ("lone@nowhere.org",)),
        ],
        opportunities=[
            OpportunityRecord(
                100, "OPP-000123", "Acme renewal", 1, stage="Negotiation", owner_email=ALICE
            ),
            OpportunityRecord(
                101, "OPP-000126", "Acme pilot", 1, stage="Proposal", owner_email=BOB
            ),
            OpportunityRecord(
                102, "OPP-000127", "Acme old deal", 1, status="won", owner_email=ALICE
            ),
            OpportunityRecord(
                200, "OPP-000124", "Globex expansion", 2, stage="Proposal", owner_email=ALICE
            ),
            OpportunityRecord(
                201, "OPP-000125", "Globex support", 2, stage="Proposal", owner_email=ALICE
            ),
        ],
        user_emails=[ALICE, BOB],
        internal_domains=["us.example"],
    )


def _addresses(values: Any) -> tuple[Address, ...]:
    return tuple(Address(v) for v in values)


def message(
    sender: str | None = "jane@acme.com",
    to: tuple[str, ...] = (ALICE,),
    cc: tuple[str, ...] = (),
    subject: str = "Hello",
    body: str | None = "Just checking in.",
    message_id: str = "<m1@acme.com>",
    **fields: Any,
) -> MessageItem:
    return MessageItem(
        provider_item_id=fields.pop("provider_item_id", "AAMk-1"),
        folder=fields.pop("folder", "Inbox"),
        internet_message_id=message_id,
        subject=subject,
        sent_at=fields.pop("sent_at", SENT),
        sender=Address(sender) if sender else None,
        to=_addresses(to),
        cc=_addresses(cc),
        body_text=body,
        **fields,
    )


def meeting(
    organizer: str | None = ALICE,
    attendees: tuple[str, ...] = ("jane@acme.com",),
    subject: str = "Kick-off",
    **fields: Any,
) -> MeetingItem:
    return MeetingItem(
        provider_item_id=fields.pop("provider_item_id", "AAMk-ev-1"),
        folder=fields.pop("folder", "Calendar"),
        uid=fields.pop("uid", "040000008200E00074C5B7101A82E008"),
        subject=subject,
        start=SENT,
        end=SENT.replace(hour=10, minute=30),
        organizer=Address(organizer) if organizer else None,
        attendees=tuple(Attendee(a) for a in attendees),
        **fields,
    )
