"""apply_page: the sync path's set-based writes, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_store.items import (
    Attendee,
    ItemKind,
    LinkSpec,
    OriginKind,
    Removal,
    Sensitivity,
    TargetKind,
)
from crm_store.links import link_by_person, links_for_item, unlink_by_person
from crm_store.models import (
    ExclusionCount,
    Link,
    LinkSuggestion,
    MeetingAttendee,
    Message,
    MessageCopy,
    MessageParticipant,
    ProcessedItem,
    SyncCursor,
)
from crm_store.sync_writes import (
    InvalidPage,
    ItemFailureRecord,
    PageWrite,
    apply_page,
    folder_cursor,
    reset_folder,
)
from rules.results import Suggestion
from tests.crm_store.snapshot import store_rows
from tests.factories import (
    make_account,
    make_contact,
    make_mailbox,
    make_opportunity,
    meeting_item,
    message_item,
    rule_link,
)


def copies(session: Session) -> list[tuple[int, str, str, bool]]:
    rows = session.execute(
        select(
            MessageCopy.mailbox_id,
            MessageCopy.provider_item_id,
            MessageCopy.folder,
            MessageCopy.removed,
        ).order_by(MessageCopy.id)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_the_same_page_applied_twice_leaves_the_same_rows(session: Session) -> None:
    """GIVEN a page with messages, a meeting, links, a suggestion, a failure and a cursor
    WHEN it is applied twice THEN every row is as after the first time
    (counters of deliveries aside: exclusions and failure attempts)."""
    mailbox = make_mailbox(session)
    account = make_account(session)
    contact = make_contact(session, account=account)
    opportunity = make_opportunity(session, account=account)
    first = message_item(cc=["cc@acme.example"], bcc=["boss@ourco.example"])
    second = message_item(body_text=None)
    meeting = meeting_item(folder="inbox", attendees=["jane@acme.example", "joe@acme.example"])
    page = PageWrite(
        folder="inbox",
        messages=[first, second],
        meetings=[meeting],
        links={
            first.message_key: [
                rule_link(TargetKind.CONTACT, contact.id),
                rule_link(TargetKind.ACCOUNT, account.id),
            ],
            meeting.meeting_key: [rule_link(TargetKind.ACCOUNT, account.id)],
        },
        suggestions={
            second.message_key: [Suggestion(TargetKind.OPPORTUNITY, opportunity.id, "one of 2")]
        },
        tracked_keys={first.message_key, meeting.meeting_key},
        failures=[ItemFailureRecord("AAMk-bad", "inbox", "no sender")],
        exclusions={"private": 1},
        cursor="delta-1",
        cursor_complete=True,
    )

    result = apply_page(session, mailbox.id, page)
    once = store_rows(session, skip=frozenset({"exclusion_counts", "processed_items"}))
    again = apply_page(session, mailbox.id, page)

    assert store_rows(session, skip=frozenset({"exclusion_counts", "processed_items"})) == once
    assert again.message_ids == result.message_ids
    assert again.meeting_ids == result.meeting_ids
    assert len(once["messages"]) == 2 and len(once["meetings"]) == 1
    assert len(once["links"]) == 3 and len(once["link_suggestions"]) == 1
    assert len(once["message_participants"]) == 6  # from/to/cc/bcc + from/to
    assert len(once["meeting_attendees"]) == 2
    assert folder_cursor(session, mailbox.id, "inbox") == ("delta-1", True)
    assert session.scalar(select(ExclusionCount.count)) == 2
    assert session.scalar(select(ProcessedItem.attempts)) == 2


def test_one_message_in_several_mailboxes_is_stored_once_with_a_copy_each(
    session: Session,
) -> None:
    """GIVEN the same email in the sender's Sent Items and two recipients' Inboxes
    WHEN each mailbox's page is applied THEN one message row and three copy rows exist."""
    sender, alice, bob = (make_mailbox(session) for _ in range(3))
    sent = message_item(folder="sentitems", to=["a@x.example", "b@x.example"])
    pages = [
        (sender, PageWrite("sentitems", messages=[sent], tracked_keys={sent.message_key})),
        (
            alice,
            PageWrite(
                "inbox", messages=[dataclasses.replace(sent, provider_item_id="A1", folder="inbox")]
            ),
        ),
        (
            bob,
            PageWrite(
                "inbox", messages=[dataclasses.replace(sent, provider_item_id="B1", folder="inbox")]
            ),
        ),
    ]
    ids = {apply_page(session, box.id, page).message_ids[sent.message_key] for box, page in pages}

    assert len(ids) == 1
    assert session.scalar(select(func.count()).select_from(Message)) == 1
    assert sorted((c[0], c[1]) for c in copies(session)) == sorted(
        [(sender.id, sent.provider_item_id), (alice.id, "A1"), (bob.id, "B1")]
    )


def test_a_later_untracked_copy_keeps_the_stored_body_and_tracking(session: Session) -> None:
    """GIVEN a tracked message with a body WHEN another mailbox's untracked copy arrives
    THEN the body stays and tracked stays True."""
    first_box, second_box = make_mailbox(session), make_mailbox(session)
    tracked = message_item(body_text="the proposal", body_html="<p>the proposal</p>")
    apply_page(
        session,
        first_box.id,
        PageWrite("inbox", messages=[tracked], tracked_keys={tracked.message_key}),
    )
    apply_page(
        session,
        second_box.id,
        PageWrite(
            "inbox", messages=[dataclasses.replace(tracked, provider_item_id="X2", body_text=None)]
        ),
    )
    stored = session.execute(select(Message.body_text, Message.body_html, Message.tracked)).one()
    assert tuple(stored) == ("the proposal", "<p>the proposal</p>", True)


def test_untracked_items_are_stored_without_body(session: Session) -> None:
    """GIVEN a message the rules did not track WHEN stored THEN only metadata is kept."""
    mailbox = make_mailbox(session)
    item = message_item(body_text="personal things")
    apply_page(session, mailbox.id, PageWrite("inbox", messages=[item]))
    assert tuple(session.execute(select(Message.body_text, Message.tracked)).one()) == (None, False)


def test_bodyless_keys_track_without_keeping_the_body(session: Session) -> None:
    """GIVEN a rule that says 'store without body' WHEN stored THEN tracked but no body, ever."""
    mailbox = make_mailbox(session)
    item = message_item(body_text="legal")
    key = item.message_key
    apply_page(
        session,
        mailbox.id,
        PageWrite("inbox", messages=[item], tracked_keys={key}, bodyless_keys={key}),
    )
    apply_page(session, mailbox.id, PageWrite("inbox", messages=[item], tracked_keys={key}))
    assert tuple(session.execute(select(Message.body_text, Message.tracked)).one()) == (None, True)


def test_participants_accumulate_across_copies(session: Session) -> None:
    """GIVEN the Inbox copy (no Bcc) and the Sent Items copy (with Bcc) THEN all are kept once."""
    sender_box, recipient_box = make_mailbox(session), make_mailbox(session)
    sent = message_item(folder="sentitems", bcc=["hidden@ourco.example"])
    apply_page(
        session,
        recipient_box.id,
        PageWrite(
            "inbox",
            messages=[dataclasses.replace(sent, folder="inbox", bcc=(), provider_item_id="R1")],
        ),
    )
    apply_page(session, sender_box.id, PageWrite("sentitems", messages=[sent]))
    roles = sorted(
        session.execute(select(MessageParticipant.role, MessageParticipant.address)).all()
    )
    assert [r[0] for r in roles] == ["bcc", "from", "to"]


def test_suppressed_links_are_never_added_by_rules(session: Session) -> None:
    """GIVEN a person removed the account link from a message
    WHEN a later page's rules propose it again THEN it is not stored."""
    mailbox = make_mailbox(session)
    account = make_account(session)
    item = message_item()
    page = PageWrite(
        "inbox",
        messages=[item],
        links={item.message_key: [rule_link(TargetKind.ACCOUNT, account.id)]},
    )
    message_id = apply_page(session, mailbox.id, page).message_ids[item.message_key]
    unlink_by_person(
        session, ItemKind.MESSAGE, message_id, TargetKind.ACCOUNT, account.id, "boss@ourco.example"
    )

    result = apply_page(session, mailbox.id, page)

    assert result.links_suppressed == 1 and result.links_written == 0
    assert links_for_item(session, ItemKind.MESSAGE, message_id) == []


def test_a_person_link_survives_rule_pages(session: Session) -> None:
    """GIVEN a person linked a message to an opportunity
    WHEN a rule page links the same pair THEN the link stays the person's, evidence untouched."""
    mailbox = make_mailbox(session)
    opportunity = make_opportunity(session, account=make_account(session))
    item = message_item()
    message_id = apply_page(session, mailbox.id, PageWrite("inbox", messages=[item])).message_ids[
        item.message_key
    ]
    link_by_person(
        session,
        ItemKind.MESSAGE,
        message_id,
        TargetKind.OPPORTUNITY,
        opportunity.id,
        "ann@ourco.example",
        "she said so",
    )

    apply_page(
        session,
        mailbox.id,
        PageWrite(
            "inbox",
            messages=[item],
            links={item.message_key: [rule_link(TargetKind.OPPORTUNITY, opportunity.id, "token")]},
        ),
    )

    [link] = links_for_item(session, ItemKind.MESSAGE, message_id)
    assert (link.origin_kind, link.actor, link.evidence) == (
        OriginKind.PERSON,
        "ann@ourco.example",
        "she said so",
    )


def test_an_inferred_link_does_not_downgrade_a_rule_link(session: Session) -> None:
    mailbox = make_mailbox(session)
    opportunity = make_opportunity(session, account=make_account(session))
    item = message_item()
    token = rule_link(TargetKind.OPPORTUNITY, opportunity.id, "token")
    inferred = LinkSpec(
        TargetKind.OPPORTUNITY, opportunity.id, OriginKind.INFERRED, "inference", "only open deal"
    )
    apply_page(
        session, mailbox.id, PageWrite("inbox", messages=[item], links={item.message_key: [token]})
    )
    apply_page(
        session,
        mailbox.id,
        PageWrite("inbox", messages=[item], links={item.message_key: [inferred]}),
    )
    assert session.scalar(select(Link.origin_kind)) == "rule"


def test_removals_mark_copies_removed_idempotently(session: Session) -> None:
    """GIVEN two stored copies WHEN one is removed (twice) and an unknown id is removed
    THEN exactly that copy is marked removed and the message stays."""
    mailbox = make_mailbox(session)
    kept, gone = message_item(), message_item()
    apply_page(session, mailbox.id, PageWrite("inbox", messages=[kept, gone]))
    removal = PageWrite(
        "inbox",
        removals=[
            Removal(gone.provider_item_id, "inbox", ItemKind.MESSAGE),
            Removal("never-seen", "inbox", ItemKind.MESSAGE),
        ],
    )
    assert apply_page(session, mailbox.id, removal).copies_removed == 1
    assert apply_page(session, mailbox.id, removal).copies_removed == 0
    assert [(c[1], c[3]) for c in copies(session)] == [
        (kept.provider_item_id, False),
        (gone.provider_item_id, True),
    ]
    assert session.scalar(select(func.count()).select_from(Message)) == 2


def test_a_move_updates_the_folder_and_a_stale_removal_does_not_hide_it(session: Session) -> None:
    """GIVEN a message moved from Inbox to Archive (same immutable id)
    WHEN Archive's add arrives before Inbox's removal THEN the copy is in Archive, not removed."""
    mailbox = make_mailbox(session)
    item = message_item()
    apply_page(session, mailbox.id, PageWrite("inbox", messages=[item]))
    apply_page(
        session,
        mailbox.id,
        PageWrite("archive", messages=[dataclasses.replace(item, folder="archive")]),
    )
    apply_page(
        session,
        mailbox.id,
        PageWrite("inbox", removals=[Removal(item.provider_item_id, "inbox", ItemKind.MESSAGE)]),
    )
    assert [(c[2], c[3]) for c in copies(session)] == [("archive", False)]


def test_a_removed_copy_that_comes_back_is_unremoved(session: Session) -> None:
    mailbox = make_mailbox(session)
    item = message_item()
    apply_page(session, mailbox.id, PageWrite("inbox", messages=[item]))
    apply_page(
        session,
        mailbox.id,
        PageWrite("inbox", removals=[Removal(item.provider_item_id, "inbox", ItemKind.MESSAGE)]),
    )
    apply_page(session, mailbox.id, PageWrite("inbox", messages=[item]))
    assert [c[3] for c in copies(session)] == [False]


def test_a_full_resync_marks_the_copies_it_did_not_see_removed(session: Session) -> None:
    """GIVEN a folder with three copies and an expired cursor
    WHEN reset_folder runs and the resync (two pages) delivers only two of them
    THEN the third is marked removed when the round completes, not before."""
    mailbox = make_mailbox(session)
    a, b, c = message_item(), message_item(), message_item()
    other = message_item(folder="sentitems")
    apply_page(
        session,
        mailbox.id,
        PageWrite("inbox", messages=[a, b, c], cursor="old", cursor_complete=True),
    )
    apply_page(
        session,
        mailbox.id,
        PageWrite("sentitems", messages=[other], cursor="s", cursor_complete=True),
    )

    reset_folder(session, mailbox.id, "inbox")
    assert folder_cursor(session, mailbox.id, "inbox") == (None, False)
    middle = apply_page(session, mailbox.id, PageWrite("inbox", messages=[a], cursor="next-1"))
    assert middle.resync_removed == 0
    last = apply_page(
        session,
        mailbox.id,
        PageWrite("inbox", messages=[b], cursor="delta-2", cursor_complete=True),
    )

    assert last.resync_removed == 1
    removed = {c[1]: c[3] for c in copies(session)}
    assert removed == {
        a.provider_item_id: False,
        b.provider_item_id: False,
        c.provider_item_id: True,
        other.provider_item_id: False,
    }
    assert session.scalar(select(SyncCursor.resyncing).where(SyncCursor.folder == "inbox")) is False
    # A later ordinary round marks nothing more.
    assert (
        apply_page(
            session,
            mailbox.id,
            PageWrite("inbox", messages=[a], cursor="delta-3", cursor_complete=True),
        ).resync_removed
        == 0
    )


def test_meeting_attendees_follow_the_latest_version(session: Session) -> None:
    """GIVEN a meeting with two attendees WHEN an update uninvites one THEN only one is left."""
    mailbox = make_mailbox(session)
    meeting = meeting_item(attendees=["a@x.example", "b@x.example"])
    apply_page(session, mailbox.id, PageWrite("calendar", meetings=[meeting]))
    updated = dataclasses.replace(
        meeting, attendees=(Attendee("b@x.example", "Bea", response="accepted"),)
    )
    apply_page(session, mailbox.id, PageWrite("calendar", meetings=[updated]))
    rows = session.execute(
        select(MeetingAttendee.address, MeetingAttendee.name, MeetingAttendee.response)
    ).all()
    assert [tuple(r) for r in rows] == [("b@x.example", "Bea", "accepted")]


def test_suggestions_keep_a_persons_verdict(session: Session) -> None:
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
    apply_page(session, mailbox.id, page)
    session.execute(update(LinkSuggestion).values(status="rejected"))
    assert apply_page(session, mailbox.id, page).suggestions_written == 0
    assert session.scalar(select(LinkSuggestion.status)) == "rejected"


@pytest.mark.parametrize(
    "page_of",
    [
        pytest.param(
            lambda m: PageWrite(
                "inbox", messages=[m, message_item(sensitivity=Sensitivity.PRIVATE)]
            ),
            id="private",
        ),
        pytest.param(
            lambda m: PageWrite("inbox", messages=[m], links={"<elsewhere@x>": []}),
            id="unknown-link-key",
        ),
        pytest.param(lambda m: PageWrite("sentitems", messages=[m]), id="wrong-folder"),
        pytest.param(
            lambda m: PageWrite(
                "inbox",
                messages=[m],
                links={
                    m.message_key: [
                        LinkSpec(TargetKind.ACCOUNT, 1, OriginKind.PERSON, "person", "x")
                    ]
                },
            ),
            id="person-link",
        ),
    ],
)
def test_an_invalid_page_is_refused_whole(session: Session, page_of: object) -> None:
    """GIVEN a page breaking a store rule WHEN applied THEN a clear error and nothing written."""
    mailbox = make_mailbox(session)
    page = page_of(message_item())  # type: ignore[operator]
    with pytest.raises(InvalidPage, match="page not written"):
        apply_page(session, mailbox.id, page)
    assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_page_larger_than_one_statement_batch_is_written_whole(session: Session) -> None:
    """GIVEN 2,500 messages with 3 participants each (beyond one batch's parameter limit)
    WHEN applied THEN all are stored, with their copies and participants."""
    mailbox = make_mailbox(session)
    items = [message_item(to=["a@x.example"], cc=["b@x.example"]) for _ in range(2_500)]
    result = apply_page(session, mailbox.id, PageWrite("inbox", messages=items))
    assert len(result.message_ids) == 2_500
    assert session.scalar(select(func.count()).select_from(MessageCopy)) == 2_500
    assert session.scalar(select(func.count()).select_from(MessageParticipant)) == 7_500
