"""One message, one row: the message the add-in stored at send folds into the daemon's copy.

The send handler stores a message before Exchange gives it a Message-ID, so its
row is keyed by the fallback hash (sender, recipients, subject and the add-in's
clock) with an ``addin`` copy in the sender's mailbox; the daemon keys the Sent
Items copy by the real Message-ID. These tests drive ``apply_page`` the way
both sides do, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.items import (
    FALLBACK_KEY_PREFIX,
    Address,
    ItemKind,
    MessageItem,
    OriginKind,
    TargetKind,
)
from crm_store.links import link_by_person, links_for_item, unlink_by_person
from crm_store.message_merge import SEND_WINDOW, message_identity
from crm_store.models import FALLBACK_KEY_MESSAGE_ROWS, Message, MessageCopy, Suppression
from crm_store.sync_writes import PageWrite, apply_page
from tests.crm_store.snapshot import store_rows
from tests.factories import (
    make_account,
    make_mailbox,
    make_opportunity,
    message_item,
    rule_link,
)

ADDIN = "addin"
SENT = "sentitems"
SELLER = "sam@ourco.example"
JANE = "jane@acme.example"
SENT_AT = datetime(2026, 12, 1, 9, 30, 12, tzinfo=UTC)


def sent_copy(**changes: object) -> MessageItem:
    """The daemon's Sent Items copy: the real Message-ID and the server's sentDateTime."""
    fields: dict[str, object] = {
        "folder": SENT,
        "sender": SELLER,
        "to": (JANE,),
        "cc": ("olga@ourco.example",),
        "subject": "Follow-up on the expansion",
        "sent_at": SENT_AT,
        "conversation_id": "AAQkConv-FollowUp_1",
        "body_text": None,
        **changes,
    }
    return message_item(**fields)  # type: ignore[arg-type]


def at_send(daemon: MessageItem, item_id: str, **changes: object) -> MessageItem:
    """The same message as the send handler stores it: no Message-ID, the add-in's clock."""
    fields: dict[str, object] = {
        "provider_item_id": item_id,
        "folder": ADDIN,
        "internet_message_id": None,
        "sent_at": SENT_AT - timedelta(seconds=40),
        "subject": " follow-up on the  Expansion",
        "conversation_id": "AAQkConv+FollowUp/1",
        "body_text": "Hi Jane, as discussed. Sam",
    }
    for name, value in changes.items():
        if name == "sender":
            value = Address(str(value))
        elif name in ("to", "cc", "bcc"):
            value = tuple(Address(str(a)) for a in value)  # type: ignore[attr-defined]
        fields[name] = value
    return dataclasses.replace(daemon, **fields)  # type: ignore[arg-type]


def store_at_send(session: Session, mailbox_id: int, item: MessageItem) -> int:
    """What web.item_store.store_item does: a tracked page of one item in folder ``addin``."""
    key = item.message_key
    assert key.startswith(FALLBACK_KEY_PREFIX)
    page = PageWrite(ADDIN, messages=[item], tracked_keys={key})
    return apply_page(session, mailbox_id, page).message_ids[key]


def message_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Message)) or 0


def linked_to(session: Session, message_id: int) -> dict[tuple[TargetKind, int], OriginKind]:
    return {
        (link.target_kind, link.target_id): link.origin_kind
        for link in links_for_item(session, ItemKind.MESSAGE, message_id)
    }


def test_the_identity_ignores_case_spacing_and_the_conversation_ids_alphabet() -> None:
    """GIVEN the send handler's and the daemon's view of one message THEN they match;
    without a sender or a send time a message has no identity (never folded)."""
    daemon = sent_copy(to=("Jane@Acme.example",))
    sending = at_send(daemon, "AAMk-draft", to=(JANE,))
    daemon_identity, sending_identity = message_identity(daemon), message_identity(sending)
    assert daemon_identity is not None and sending_identity is not None
    assert daemon_identity.matches(sending_identity)
    assert message_identity(dataclasses.replace(daemon, sender=None)) is None
    assert message_identity(dataclasses.replace(daemon, sent_at=None)) is None
    # AND the partial index's predicate names exactly the fallback-keyed rows
    assert f"message_key LIKE '{FALLBACK_KEY_PREFIX}%'" == FALLBACK_KEY_MESSAGE_ROWS


@pytest.mark.parametrize(
    "send_changes",
    [
        {"sent_at": SENT_AT - SEND_WINDOW - timedelta(seconds=1)},
        {"to": (JANE, "bob@acme.example")},
        {"cc": ()},
        {"subject": "Follow-up on the expansion (2)"},
        {"conversation_id": "AAQkConv-Other"},
        {"sender": "olga@ourco.example"},
    ],
    ids=["outside-window", "more-recipients", "no-cc", "subject", "conversation", "sender"],
)
def test_a_send_time_row_that_is_not_the_same_message_stays_apart(
    session: Session, send_changes: dict[str, object]
) -> None:
    # GIVEN a message stored at send and linked, differing from the daemon's copy
    mailbox = make_mailbox(session, address=SELLER)
    deal = make_opportunity(session, account=make_account(session))
    daemon = sent_copy()
    send_id = store_at_send(session, mailbox.id, at_send(daemon, "AAMk-draft", **send_changes))
    link_by_person(session, ItemKind.MESSAGE, send_id, TargetKind.OPPORTUNITY, deal.id, SELLER)

    # WHEN the daemon syncs the seller's Sent Items
    result = apply_page(session, mailbox.id, PageWrite(SENT, messages=[daemon]))

    # THEN nothing folds: two rows, the link stays where the person made it
    assert result.messages_merged == 0
    assert message_count(session) == 2
    assert linked_to(session, send_id) == {(TargetKind.OPPORTUNITY, deal.id): OriginKind.PERSON}


@pytest.mark.parametrize("how", ["two-send-rows", "two-in-the-page", "other-send-synced-earlier"])
def test_the_same_mail_sent_twice_within_the_window_folds_nothing(
    session: Session, how: str
) -> None:
    # GIVEN the seller sent the same mail to the same people twice within minutes
    mailbox = make_mailbox(session, address=SELLER)
    deal = make_opportunity(session, account=make_account(session))
    first = sent_copy()
    second = sent_copy(sent_at=SENT_AT + timedelta(minutes=3))
    send_ids = [store_at_send(session, mailbox.id, at_send(first, "AAMk-draft-1"))]
    if how == "two-send-rows":
        # (each with its own send-time row)
        later = at_send(second, "AAMk-draft-2", sent_at=SENT_AT + timedelta(minutes=2))
        send_ids.append(store_at_send(session, mailbox.id, later))
    if how == "other-send-synced-earlier":
        # (the second one already stored from Jane's Inbox)
        inbox = dataclasses.replace(second, folder="inbox", provider_item_id="AAMk-jane")
        apply_page(session, make_mailbox(session, address=JANE).id, PageWrite("inbox", [inbox]))
    for send_id in send_ids:
        link_by_person(session, ItemKind.MESSAGE, send_id, TargetKind.OPPORTUNITY, deal.id, SELLER)

    # WHEN the daemon syncs Sent Items (the first copy, or both in one page)
    page = [first, second] if how == "two-in-the-page" else [first]
    result = apply_page(session, mailbox.id, PageWrite(SENT, messages=page))

    # THEN nothing is guessed: the send-time rows keep their links apart
    assert result.messages_merged == 0
    assert message_count(session) == 3
    for send_id in send_ids:
        assert linked_to(session, send_id) == {(TargetKind.OPPORTUNITY, deal.id): OriginKind.PERSON}


def test_a_send_time_row_of_another_mailbox_is_not_folded_by_a_recipients_page(
    session: Session,
) -> None:
    # GIVEN the seller's message stored at send, and Olga (in cc, a colleague whose
    # mailbox is synced) receiving it
    seller_box = make_mailbox(session, address=SELLER)
    olga_box = make_mailbox(session, address="olga@ourco.example")
    daemon = sent_copy()
    send_id = store_at_send(session, seller_box.id, at_send(daemon, "AAMk-draft"))

    # WHEN the daemon syncs Olga's Inbox copy
    inbox = dataclasses.replace(daemon, folder="inbox", provider_item_id="AAMk-olga")
    result = apply_page(session, olga_box.id, PageWrite("inbox", messages=[inbox]))

    # THEN the seller's send-time row waits for the seller's own Sent Items
    assert result.messages_merged == 0
    assert message_count(session) == 2
    assert session.get(Message, send_id) is not None


def test_a_send_time_row_with_a_copy_in_a_mailbox_the_message_does_not_name_stays_apart(
    session: Session,
) -> None:
    # GIVEN a send-time row that Eve (named nowhere in the message) also has a copy of
    seller_box = make_mailbox(session, address=SELLER)
    eve_box = make_mailbox(session, address="eve@ourco.example")
    daemon = sent_copy()
    sending = at_send(daemon, "AAMk-draft")
    send_id = store_at_send(session, seller_box.id, sending)
    store_at_send(session, eve_box.id, dataclasses.replace(sending, provider_item_id="AAMk-eve"))

    # WHEN the daemon syncs the seller's Sent Items
    result = apply_page(session, seller_box.id, PageWrite(SENT, messages=[daemon]))

    # THEN the row does not join the real message (Eve would see it)
    assert result.messages_merged == 0
    assert session.get(Message, send_id) is not None


def test_a_message_stored_at_send_folds_into_the_sent_items_copy(session: Session) -> None:
    # GIVEN a message the seller linked to the deal while writing (stored at send under
    # the fallback key, tracked, with the body as sent) and whose account link they removed
    mailbox = make_mailbox(session, address=SELLER)
    account = make_account(session)
    deal = make_opportunity(session, account=account)
    daemon = sent_copy(bcc=("boss@ourco.example",))
    send_id = store_at_send(session, mailbox.id, at_send(daemon, "AAMk-draft", bcc=()))
    link_by_person(session, ItemKind.MESSAGE, send_id, TargetKind.OPPORTUNITY, deal.id, SELLER)
    unlink_by_person(session, ItemKind.MESSAGE, send_id, TargetKind.ACCOUNT, account.id, SELLER)

    # WHEN the daemon syncs the Sent Items copy, its rules linking the account
    page = PageWrite(
        SENT,
        messages=[daemon],
        links={daemon.message_key: [rule_link(TargetKind.ACCOUNT, account.id)]},
    )
    result = apply_page(session, mailbox.id, page)

    # THEN one message, keyed by the real Message-ID, with the person's link, the
    # removal honoured, the body and tracking of the send, and both copies
    merged_id = result.message_ids[daemon.message_key]
    assert result.messages_merged == 1
    assert message_count(session) == 1
    message = session.get(Message, merged_id)
    assert message is not None
    session.refresh(message)
    assert message.message_key == daemon.internet_message_id
    assert (message.tracked, message.body_text) == (True, "Hi Jane, as discussed. Sam")
    assert linked_to(session, merged_id) == {(TargetKind.OPPORTUNITY, deal.id): OriginKind.PERSON}
    assert result.links_suppressed == 1
    assert session.execute(select(Suppression.item_id)).scalars().all() == [merged_id]
    copies = session.execute(select(MessageCopy.message_id, MessageCopy.folder)).all()
    assert sorted(tuple(c) for c in copies) == [(merged_id, ADDIN), (merged_id, SENT)]

    # AND replaying the page (a resync) changes nothing
    once = store_rows(session)
    again = apply_page(session, mailbox.id, page)
    assert again.messages_merged == 0
    assert again.message_ids == result.message_ids
    assert store_rows(session) == once


def test_a_recipients_copy_synced_first_receives_the_send_time_row(session: Session) -> None:
    # GIVEN the message stored at send and linked, and Olga's Inbox copy synced before
    # the seller's Sent Items (the real row exists, with a rule's link)
    seller_box = make_mailbox(session, address=SELLER)
    olga_box = make_mailbox(session, address="olga@ourco.example")
    account = make_account(session)
    deal = make_opportunity(session, account=account)
    daemon = sent_copy()
    send_id = store_at_send(session, seller_box.id, at_send(daemon, "AAMk-draft"))
    link_by_person(session, ItemKind.MESSAGE, send_id, TargetKind.OPPORTUNITY, deal.id, SELLER)
    inbox = dataclasses.replace(daemon, folder="inbox", provider_item_id="AAMk-olga")
    olga_page = PageWrite(
        "inbox",
        messages=[inbox],
        links={inbox.message_key: [rule_link(TargetKind.ACCOUNT, account.id)]},
    )
    real_id = apply_page(session, olga_box.id, olga_page).message_ids[inbox.message_key]

    # WHEN the seller's Sent Items copy is synced
    result = apply_page(session, seller_box.id, PageWrite(SENT, messages=[daemon]))

    # THEN the send-time row folded into the real one: one row, both links, three copies
    assert result.messages_merged == 1
    assert result.message_ids[daemon.message_key] == real_id
    assert message_count(session) == 1
    assert linked_to(session, real_id) == {
        (TargetKind.OPPORTUNITY, deal.id): OriginKind.PERSON,
        (TargetKind.ACCOUNT, account.id): OriginKind.RULE,
    }
    copies = session.execute(select(MessageCopy.message_id, MessageCopy.folder)).all()
    assert sorted(tuple(c) for c in copies) == [
        (real_id, ADDIN),
        (real_id, "inbox"),
        (real_id, SENT),
    ]
