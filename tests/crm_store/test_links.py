"""Person links, suppressions, thread lookups and the link export."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.items import ItemKind, LinkSpec, OriginKind, TargetKind
from crm_store.links import (
    UnknownRecord,
    export_links,
    latest_links_for_conversations,
    link_by_person,
    links_for_item,
    links_for_messages_by_message_id,
    suppressions_for_items,
    unlink_by_person,
)
from crm_store.models import LinkSuggestion
from crm_store.sync_writes import PageWrite, apply_page
from rules.results import Suggestion
from tests.factories import (
    make_account,
    make_contact,
    make_mailbox,
    make_opportunity,
    meeting_item,
    message_item,
)


def rule(target_kind: TargetKind, target_id: int) -> LinkSpec:
    return LinkSpec(target_kind, target_id, OriginKind.RULE, "participant", "to=jane@acme.example")


def test_a_person_upgrades_a_rule_link_and_lifts_a_suppression(session: Session) -> None:
    """GIVEN a rule link and a suppression on another pair
    WHEN a person links both THEN both are person links and the suppression is gone."""
    mailbox = make_mailbox(session)
    account = make_account(session)
    opportunity = make_opportunity(session, account=account)
    item = message_item()
    page = PageWrite(
        "inbox", messages=[item], links={item.message_key: [rule(TargetKind.ACCOUNT, account.id)]}
    )
    mid = apply_page(session, mailbox.id, page).message_ids[item.message_key]
    unlink_by_person(
        session, ItemKind.MESSAGE, mid, TargetKind.OPPORTUNITY, opportunity.id, "ann@ourco.example"
    )

    upgraded = link_by_person(
        session, ItemKind.MESSAGE, mid, TargetKind.ACCOUNT, account.id, "ann@ourco.example"
    )
    relinked = link_by_person(
        session,
        ItemKind.MESSAGE,
        mid,
        TargetKind.OPPORTUNITY,
        opportunity.id,
        "ann@ourco.example",
        "asked by customer",
    )

    assert upgraded.origin_kind is OriginKind.PERSON and upgraded.actor == "ann@ourco.example"
    assert relinked.evidence == "asked by customer"
    assert {link.origin_kind for link in links_for_item(session, ItemKind.MESSAGE, mid)} == {
        OriginKind.PERSON
    }
    assert suppressions_for_items(session, ItemKind.MESSAGE, [mid]) == {}


def test_unlink_records_a_suppression_and_rejects_the_suggestion(session: Session) -> None:
    mailbox = make_mailbox(session)
    opportunity = make_opportunity(session, account=make_account(session))
    item = message_item()
    page = PageWrite(
        "inbox",
        messages=[item],
        suggestions={
            item.message_key: [Suggestion(TargetKind.OPPORTUNITY, opportunity.id, "2 open")]
        },
    )
    mid = apply_page(session, mailbox.id, page).message_ids[item.message_key]

    assert (
        unlink_by_person(
            session,
            ItemKind.MESSAGE,
            mid,
            TargetKind.OPPORTUNITY,
            opportunity.id,
            "ann@ourco.example",
        )
        is False
    )
    assert suppressions_for_items(session, ItemKind.MESSAGE, [mid, 999]) == {
        mid: {(TargetKind.OPPORTUNITY, opportunity.id)}
    }
    assert session.scalar(select(LinkSuggestion.status)) == "rejected"


def test_linking_to_something_that_does_not_exist_names_it(session: Session) -> None:
    mailbox = make_mailbox(session)
    item = message_item()
    mid = apply_page(session, mailbox.id, PageWrite("inbox", messages=[item])).message_ids[
        item.message_key
    ]
    with pytest.raises(UnknownRecord, match="no account with id 424242"):
        link_by_person(
            session, ItemKind.MESSAGE, mid, TargetKind.ACCOUNT, 424242, "ann@ourco.example"
        )
    with pytest.raises(UnknownRecord, match="no meeting with id 77"):
        unlink_by_person(session, ItemKind.MEETING, 77, TargetKind.ACCOUNT, 1, "ann@ourco.example")


def test_thread_lookups_return_the_links_of_stored_messages(session: Session) -> None:
    """GIVEN a stored, linked message in a conversation
    WHEN a reply's In-Reply-To or conversation id is looked up THEN its links come back."""
    mailbox = make_mailbox(session)
    account = make_account(session)
    original = message_item(conversation_id="conv-1")
    unlinked = message_item(conversation_id="conv-1", sent_at=original.sent_at)
    page = PageWrite(
        "inbox",
        messages=[original, unlinked],
        links={original.message_key: [rule(TargetKind.ACCOUNT, account.id)]},
    )
    ids = apply_page(session, mailbox.id, page).message_ids

    by_id = links_for_messages_by_message_id(session, [original.message_key, "<unknown@x>"])
    assert list(by_id) == [original.message_key]
    assert by_id[original.message_key].message_id == ids[original.message_key]
    assert [(s.target_kind, s.target_id) for s in by_id[original.message_key].links] == [
        (TargetKind.ACCOUNT, account.id)
    ]

    conversation = latest_links_for_conversations(session, ["conv-1"])["conv-1"]
    assert {key for key, _ in conversation} == {original.message_key, unlinked.message_key}
    assert dict(conversation)[unlinked.message_key].links == ()


def test_export_names_items_and_targets_by_their_human_keys(session: Session) -> None:
    """GIVEN links from a message and a meeting to an account, a contact and an opportunity
    WHEN exported THEN keys are Message-ID / UID and name / first email / code."""
    mailbox = make_mailbox(session)
    account = make_account(session, name="Acme Corp")
    contact = make_contact(
        session, account=account, emails=["jane@acme.example", "j.doe@acme.example"]
    )
    opportunity = make_opportunity(session, account=account, code="OPP-000123")
    message = message_item(subject="Renewal")
    meeting = meeting_item(folder="inbox", uid="uid-42@acme.example", subject="Kick-off")
    page = PageWrite(
        "inbox",
        messages=[message],
        meetings=[meeting],
        links={
            message.message_key: [
                rule(TargetKind.CONTACT, contact.id),
                rule(TargetKind.OPPORTUNITY, opportunity.id),
            ],
            meeting.meeting_key: [rule(TargetKind.ACCOUNT, account.id)],
        },
    )
    apply_page(session, mailbox.id, page)

    rows = list(export_links(session))

    assert [
        (r.item_kind, r.item_key, r.subject, r.target_kind, r.target_key, r.origin) for r in rows
    ] == [
        ("message", message.message_key, "Renewal", "contact", "jane@acme.example", "participant"),
        ("message", message.message_key, "Renewal", "opportunity", "OPP-000123", "participant"),
        ("meeting", "uid-42@acme.example", "Kick-off", "account", "Acme Corp", "participant"),
    ]
    assert all(r.reason == "to=jane@acme.example" and r.created_at.tzinfo is not None for r in rows)
