"""One meeting, one row: the add-in's meeting (Exchange item id) merges into the daemon's (UID).

Office.js names a meeting by its Exchange item id only, so the add-in stores
it under ``exchange-item:<id>``; the daemon keys it by iCalendar UID. These
tests drive ``apply_page`` the way both sides do, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_store.items import ItemKind, LinkSpec, MeetingItem, OriginKind, TargetKind
from crm_store.links import link_by_person, links_for_item, unlink_by_person
from crm_store.meeting_merge import PANE_KEY_PREFIX, meeting_identity, normalised_subject
from crm_store.models import (
    PANE_MEETING_ROWS,
    Link,
    LinkSuggestion,
    Meeting,
    MeetingCopy,
    Suppression,
)
from crm_store.sync_writes import PageWrite, apply_page
from tests.crm_store.snapshot import store_rows
from tests.factories import (
    make_account,
    make_contact,
    make_mailbox,
    make_opportunity,
    meeting_item,
    rule_link,
)

ADDIN = "addin"
SELLER = "sam@ourco.example"
KICK_OFF = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def from_pane(daemon: MeetingItem, item_id: str, **changes: object) -> MeetingItem:
    """The same meeting as the add-in stores it: no UID, keyed by its Exchange item id."""
    fields: dict[str, object] = {
        "provider_item_id": item_id,
        "folder": ADDIN,
        "uid": f"{PANE_KEY_PREFIX}{item_id}",
        "recurrence_id": None,
        **changes,
    }
    return dataclasses.replace(daemon, **fields)  # type: ignore[arg-type]


def store_from_pane(
    session: Session, mailbox_id: int, item: MeetingItem, links: tuple[LinkSpec, ...] = ()
) -> int:
    """What web.item_store.store_item does: a tracked page of one item in folder ``addin``."""
    key = item.meeting_key
    page = PageWrite(
        ADDIN, meetings=[item], links={key: links} if links else {}, tracked_keys={key}
    )
    return apply_page(session, mailbox_id, page).meeting_ids[key]


def deal_suggestion(meeting_id: int, deal_id: int, status: str) -> LinkSuggestion:
    """The rules' suggestion of one of two open deals for the meeting, in ``status``."""
    return LinkSuggestion(
        item_kind="meeting",
        item_id=meeting_id,
        target_kind="opportunity",
        target_id=deal_id,
        reason="one of 2",
        status=status,
    )


def meeting_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Meeting)) or 0


def test_the_identity_ignores_case_spacing_and_the_offset_of_the_start() -> None:
    """GIVEN the pane's and the daemon's view of one meeting THEN their identities are equal;
    a meeting without organizer has none (it is never merged)."""
    daemon = meeting_item(organizer=SELLER, subject="Kick-off call", start=KICK_OFF)
    pane = from_pane(
        daemon,
        "AAMkEv-ews",
        subject="  kick-off   CALL ",
        start=KICK_OFF.astimezone(timezone(timedelta(hours=1))),
        end=(KICK_OFF + timedelta(hours=1)).astimezone(timezone(timedelta(hours=1))),
    )
    assert meeting_identity(pane) == meeting_identity(daemon)
    assert normalised_subject("  kick-off   CALL ") == "kick-off call"
    assert meeting_identity(dataclasses.replace(daemon, organizer=None)) is None
    # AND the partial index's predicate names exactly the add-in's rows
    assert f"meeting_key LIKE '{PANE_KEY_PREFIX}%'" == PANE_MEETING_ROWS


def test_a_pane_meeting_merges_into_the_daemons_copy_with_links_and_suppressions(
    session: Session,
) -> None:
    # GIVEN a meeting the seller linked from the add-in before the daemon synced it:
    # stored by Exchange item id with a rule link to the contact, a person's link to
    # the deal and a person's removal of the account link
    mailbox = make_mailbox(session, address=SELLER)
    account = make_account(session)
    contact = make_contact(session, account=account)
    deal = make_opportunity(session, account=account)
    daemon = meeting_item(
        folder="calendar",
        uid="040000008200E00074C5B7101A82E008@ourco.example",
        organizer=SELLER,
        subject="Kick-off call",
        start=KICK_OFF,
        body_text=None,
    )
    pane = from_pane(
        daemon,
        "AAMkEv-ews-id",
        subject="Kick-off  call",
        start=KICK_OFF.astimezone(timezone(timedelta(hours=1))),
        body_text="Agenda from Outlook",
    )
    pane_id = store_from_pane(
        session, mailbox.id, pane, (rule_link(TargetKind.CONTACT, contact.id),)
    )
    link_by_person(
        session, ItemKind.MEETING, pane_id, TargetKind.OPPORTUNITY, deal.id, SELLER, "my deal"
    )
    unlink_by_person(session, ItemKind.MEETING, pane_id, TargetKind.ACCOUNT, account.id, SELLER)

    # WHEN the daemon's page brings the same meeting by its UID, its rules linking
    # the account (removed by the person) and the contact
    page = PageWrite(
        "calendar",
        meetings=[daemon],
        links={
            daemon.meeting_key: [
                rule_link(TargetKind.ACCOUNT, account.id),
                rule_link(TargetKind.CONTACT, contact.id),
            ]
        },
    )
    result = apply_page(session, mailbox.id, page)

    # THEN there is one meeting row, the daemon's, holding everything the pane's had
    merged_id = result.meeting_ids[daemon.meeting_key]
    assert result.meetings_merged == 1
    assert meeting_count(session) == 1
    meeting = session.get(Meeting, merged_id)
    assert meeting is not None
    session.refresh(meeting)
    assert meeting.meeting_key == daemon.meeting_key
    assert (meeting.tracked, meeting.body_text) == (True, "Agenda from Outlook")
    links = {
        (lk.target_kind, lk.target_id): (lk.origin_kind, lk.actor)
        for lk in links_for_item(session, ItemKind.MEETING, merged_id)
    }
    assert links == {
        (TargetKind.OPPORTUNITY, deal.id): (OriginKind.PERSON, SELLER),
        (TargetKind.CONTACT, contact.id): (OriginKind.RULE, None),
    }
    assert result.links_suppressed == 1
    suppressions = session.execute(
        select(Suppression.item_id, Suppression.target_kind, Suppression.target_id)
    ).all()
    assert [tuple(s) for s in suppressions] == [(merged_id, "account", account.id)]
    copies = session.execute(
        select(MeetingCopy.meeting_id, MeetingCopy.folder, MeetingCopy.provider_item_id)
    ).all()
    assert sorted(tuple(c) for c in copies) == [
        (merged_id, ADDIN, "AAMkEv-ews-id"),
        (merged_id, "calendar", daemon.provider_item_id),
    ]
    assert session.scalar(select(func.count()).select_from(Link)) == 2

    # AND replaying the page (a resync) changes nothing
    once = store_rows(session)
    again = apply_page(session, mailbox.id, page)
    assert again.meetings_merged == 0
    assert again.meeting_ids == result.meeting_ids
    assert store_rows(session) == once


def test_people_outrank_rules_and_the_later_decision_wins_when_rows_merge(
    session: Session,
) -> None:
    # GIVEN the daemon's row, already stored from Olga's calendar, where a rule linked
    # the account and a person removed the contact link (at 10:00) and a suggestion
    # for the deal waits
    seller_box = make_mailbox(session, address=SELLER)
    olga_box = make_mailbox(session)
    account = make_account(session)
    contact = make_contact(session, account=account)
    deal = make_opportunity(session, account=account)
    daemon = meeting_item(organizer=SELLER, start=KICK_OFF)
    olga_page = PageWrite(
        "calendar",
        meetings=[daemon],
        links={daemon.meeting_key: [rule_link(TargetKind.ACCOUNT, account.id)]},
    )
    real_id = apply_page(session, olga_box.id, olga_page).meeting_ids[daemon.meeting_key]
    unlink_by_person(session, ItemKind.MEETING, real_id, TargetKind.CONTACT, contact.id, "olga@x")
    session.add(deal_suggestion(real_id, deal.id, "pending"))
    # AND a pane row (made before this change, so both exist) where the seller linked
    # the account and, at 11:00, the contact, and rejected the deal suggestion
    pane = from_pane(daemon, "AAMkEv-pane")
    pane_id = store_from_pane(session, seller_box.id, pane)
    for kind, target in ((TargetKind.ACCOUNT, account.id), (TargetKind.CONTACT, contact.id)):
        link_by_person(session, ItemKind.MEETING, pane_id, kind, target, SELLER)
    session.add(deal_suggestion(pane_id, deal.id, "rejected"))
    session.flush()
    session.execute(update(Suppression).values(created_at=KICK_OFF + timedelta(hours=2)))
    session.execute(
        update(Link)
        .where(Link.item_id == pane_id, Link.target_kind == "contact")
        .values(created_at=KICK_OFF + timedelta(hours=3))
    )

    # WHEN the daemon syncs the meeting from the seller's own calendar
    result = apply_page(session, seller_box.id, PageWrite("calendar", meetings=[daemon]))

    # THEN the person's account link replaced the rule's, the later contact link lifted
    # the earlier removal, and the person's verdict on the suggestion stands
    assert result.meetings_merged == 1 and meeting_count(session) == 1
    links = {
        (lk.target_kind, lk.target_id): lk.origin_kind
        for lk in links_for_item(session, ItemKind.MEETING, real_id)
    }
    assert links == {
        (TargetKind.ACCOUNT, account.id): OriginKind.PERSON,
        (TargetKind.CONTACT, contact.id): OriginKind.PERSON,
    }
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0
    suggestions = session.execute(select(LinkSuggestion.item_id, LinkSuggestion.status)).all()
    assert [tuple(s) for s in suggestions] == [(real_id, "rejected")]


def test_a_removal_later_than_the_other_rows_person_link_wins(session: Session) -> None:
    # GIVEN a pane row whose contact link a person removed at 12:00, and the daemon's
    # row where another person linked the contact at 11:00
    seller_box = make_mailbox(session, address=SELLER)
    contact = make_contact(session, account=make_account(session))
    daemon = meeting_item(organizer=SELLER, start=KICK_OFF)
    real_id = apply_page(
        session, make_mailbox(session).id, PageWrite("calendar", meetings=[daemon])
    ).meeting_ids[daemon.meeting_key]
    link_by_person(session, ItemKind.MEETING, real_id, TargetKind.CONTACT, contact.id, "olga@x")
    pane_id = store_from_pane(session, seller_box.id, from_pane(daemon, "AAMkEv-pane"))
    unlink_by_person(session, ItemKind.MEETING, pane_id, TargetKind.CONTACT, contact.id, SELLER)
    session.execute(update(Link).values(created_at=KICK_OFF + timedelta(hours=3)))
    session.execute(update(Suppression).values(created_at=KICK_OFF + timedelta(hours=4)))

    # WHEN the daemon's page merges them
    apply_page(session, seller_box.id, PageWrite("calendar", meetings=[daemon]))

    # THEN the link is gone and the removal stands, on the one row
    assert meeting_count(session) == 1
    assert links_for_item(session, ItemKind.MEETING, real_id) == []
    assert session.execute(select(Suppression.item_id, Suppression.actor)).all() == [
        (real_id, SELLER)
    ]


@pytest.mark.parametrize("stored_earlier", [False, True], ids=["one-page", "stored-earlier"])
def test_an_ambiguous_identity_merges_nothing(session: Session, stored_earlier: bool) -> None:
    # GIVEN two meetings with their own UIDs by the same organizer, with the same
    # subject, start and end (a double-sent invitation), one of them perhaps stored
    # already (from another mailbox), and a pane meeting with that identity
    mailbox = make_mailbox(session, address=SELLER)
    account = make_account(session)
    first = meeting_item(organizer=SELLER, subject="Weekly", start=KICK_OFF)
    second = meeting_item(organizer=SELLER, subject="Weekly", start=KICK_OFF)
    if stored_earlier:
        apply_page(session, make_mailbox(session).id, PageWrite("calendar", meetings=[second]))
    pane_id = store_from_pane(session, mailbox.id, from_pane(first, "AAMkEv-pane"))
    link_by_person(session, ItemKind.MEETING, pane_id, TargetKind.ACCOUNT, account.id, SELLER)

    # WHEN the daemon's page brings the first (and, without the earlier copy, both)
    page = [first] if stored_earlier else [first, second]
    result = apply_page(session, mailbox.id, PageWrite("calendar", meetings=page))

    # THEN nothing merges: the pane row keeps its link, no guess is made
    assert result.meetings_merged == 0
    assert meeting_count(session) == 3
    [link] = links_for_item(session, ItemKind.MEETING, pane_id)
    assert link.origin_kind is OriginKind.PERSON
    assert session.get(Meeting, pane_id) is not None


def test_another_occurrence_of_the_series_does_not_merge(session: Session) -> None:
    # GIVEN the pane stored Tuesday's occurrence of a daily series
    mailbox = make_mailbox(session, address=SELLER)
    uid = "series-uid@ourco.example"
    monday = meeting_item(
        organizer=SELLER, subject="Daily", uid=uid, recurrence_id="20261130", start=KICK_OFF
    )
    tuesday = dataclasses.replace(
        monday,
        provider_item_id="AAMkEv-tuesday",
        recurrence_id="20261201",
        start=KICK_OFF + timedelta(days=1),
        end=KICK_OFF + timedelta(days=1, hours=1),
    )
    pane_id = store_from_pane(session, mailbox.id, from_pane(tuesday, "AAMkEv-pane-tuesday"))

    # WHEN the daemon syncs Monday's occurrence THEN Tuesday's pane row stays apart
    first = apply_page(session, mailbox.id, PageWrite("calendar", meetings=[monday]))
    assert first.meetings_merged == 0
    assert meeting_count(session) == 2

    # WHEN it syncs Tuesday's THEN that one merges into Tuesday's occurrence
    second = apply_page(session, mailbox.id, PageWrite("calendar", meetings=[tuesday]))
    assert second.meetings_merged == 1
    assert meeting_count(session) == 2
    assert session.get(Meeting, pane_id) is None
    assert (
        session.scalar(
            select(MeetingCopy.meeting_id).where(
                MeetingCopy.provider_item_id == "AAMkEv-pane-tuesday"
            )
        )
        == second.meeting_ids[tuesday.meeting_key]
    )


def test_pane_rows_from_two_mailboxes_both_merge_into_the_one_meeting(session: Session) -> None:
    # GIVEN the organizer and an attendee each linked the meeting from their own Outlook
    # (each mailbox has its own Exchange item id for it)
    organizer_box = make_mailbox(session, address=SELLER)
    attendee_box = make_mailbox(session, address="olga@ourco.example")
    account = make_account(session)
    daemon = meeting_item(
        organizer=SELLER, start=KICK_OFF, attendees=["jane@acme.example", "Olga@OurCo.example"]
    )
    ids = [
        store_from_pane(session, box.id, from_pane(daemon, item_id))
        for box, item_id in ((organizer_box, "AAMkEv-sam"), (attendee_box, "AAMkEv-olga"))
    ]
    for pane_id in ids:
        link_by_person(session, ItemKind.MEETING, pane_id, TargetKind.ACCOUNT, account.id, SELLER)

    # WHEN the daemon syncs it
    result = apply_page(session, organizer_box.id, PageWrite("calendar", meetings=[daemon]))

    # THEN one meeting, one link, three copies
    merged_id = result.meeting_ids[daemon.meeting_key]
    assert result.meetings_merged == 2 and meeting_count(session) == 1
    assert [lk.target_id for lk in links_for_item(session, ItemKind.MEETING, merged_id)] == [
        account.id
    ]
    assert (
        session.scalar(
            select(func.count()).select_from(MeetingCopy).where(MeetingCopy.meeting_id == merged_id)
        )
        == 3
    )


def test_a_pane_row_in_the_mailbox_of_someone_the_meeting_does_not_name_stays_apart(
    session: Session,
) -> None:
    # GIVEN a pane row in Eve's mailbox whose snapshot claimed the identity of
    # Sam's meeting, which does not invite her
    sam_box = make_mailbox(session, address=SELLER)
    eve_box = make_mailbox(session, address="eve@ourco.example")
    daemon = meeting_item(organizer=SELLER, start=KICK_OFF, attendees=["jane@acme.example"])
    pane_id = store_from_pane(session, eve_box.id, from_pane(daemon, "AAMkEv-eve"))

    # WHEN the daemon syncs Sam's calendar
    result = apply_page(session, sam_box.id, PageWrite("calendar", meetings=[daemon]))

    # THEN her copy does not join his meeting (it would let her see it)
    assert result.meetings_merged == 0
    assert meeting_count(session) == 2
    assert (
        session.scalar(select(MeetingCopy.meeting_id).where(MeetingCopy.mailbox_id == eve_box.id))
        == pane_id
    )
