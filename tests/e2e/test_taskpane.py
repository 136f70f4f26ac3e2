"""The task pane in a real browser against the real web service, store and rules.

Each test reads as GIVEN (CRM data and the Outlook item) / WHEN (what the user clicks in
the pane) / THEN (what the pane shows and, through the API, what the store now holds).

The tests that write links and contacts run on SQLite and PostgreSQL; those about the pane's
own states and modes (sign-in, offline, meeting, compose) run on SQLite only, to keep the
suite near a minute on two cores: the store paths they use are the same ones, tested on both
backends above and in tests/web.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from crm_store.database import session_scope
from crm_store.items import Address, ItemKind, LinkSpec, OriginKind, TargetKind
from crm_store.links import StoredLink, links_for_item
from crm_store.models import Mailbox, Meeting, MeetingAttendee, User
from crm_store.sync_writes import PageWrite, apply_page
from mailsync.commands.demo import import_crm
from mailsync.outcome import OutcomeKind
from mailsync.sandbox.runner import running_sandbox, write_crm
from rules import Linked
from tests.e2e.conftest import Crm, OpenPane, Pane, WebService, person, token_for
from tests.factories import meeting_item, message_item
from tests.mailsync.sync_support import SyncRig
from web.rules_context import RulesContext, rules_settings_from

JANE_MESSAGE_ID = "<quote-42@acme.example>"
SANDBOX_SEED = 5

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def jane_email(crm: Crm, **changes: Any) -> dict[str, Any]:
    """An email from Jane (a known contact) to the seller, in read mode."""
    item: dict[str, Any] = {
        "itemType": "message",
        "itemId": "AAMkAGI2TG93AAA/jane+quote=",
        "internetMessageId": JANE_MESSAGE_ID,
        "conversationId": "AAQkAGI2conv42",
        "subject": "Quote for the 2026 renewal",
        "from": person("Jane Roe", crm.jane),
        "to": [person("Sam Seller", crm.seller)],
        "cc": [],
        "dateTimeCreated": "2026-03-02T09:15:00Z",
        "body": "Hi Sam, please find the quote attached. Jane",
        "headers": f"Message-ID: {JANE_MESSAGE_ID}\r\nSubject: Quote for the 2026 renewal\r\n",
    }
    item.update(changes)
    return item


def sent_follow_up(crm: Crm, number: int, custom_properties: dict[str, Any]) -> dict[str, Any]:
    """The seller's sent follow-up to Jane as the pane reads it, Message-ID
    ``<followup-{number}@ourco.example>``, carrying the draft's custom properties (Outlook
    keeps them on the item when it is sent)."""
    message_id = f"<followup-{number}@ourco.example>"
    sent = jane_email(
        crm,
        itemId=f"AAMkSentCopy{number}",
        internetMessageId=message_id,
        subject="Follow-up on the expansion",
        headers=f"Message-ID: {message_id}\r\n",
        customProperties=custom_properties,
    )
    sent["from"] = person("Sam Seller", crm.seller)
    sent["to"] = [person("Jane Roe", crm.jane)]
    return sent


def links_in_store(web: WebService, user: str, **selector: str) -> list[tuple[str, int, str, str]]:
    """(targetKind, targetId, originKind, reason) of the item's links, read through the API."""
    with web.api(user) as api:
        answer = api.get("/items/links", params=selector)
    assert answer.status_code == 200, answer.text
    return [
        (link["targetKind"], link["targetId"], link["originKind"], link["reason"])
        for link in answer.json()["links"]
    ]


def test_link_a_known_contacts_email_to_an_opportunity(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN an email from Jane, a contact at Acme, that the daemon has not synced yet
    pane = open_pane(jane_email(crm), user=crm.seller)
    page = pane.page

    # THEN the pane shows who Jane is, Acme, and the open deals with the suggested one first
    jane = page.locator(f'[data-person="{crm.jane}"]')
    assert "Jane Roe, Head of Purchasing · Acme Corporation" in jane.inner_text()
    assert page.locator(f'[data-record="account:{crm.acme_id}"]').is_visible()
    deals = page.locator("#opportunities [data-record]")
    assert deals.count() == 2
    assert "Suggested" in deals.nth(0).inner_text()
    assert crm.renewal in deals.nth(0).inner_text()
    assert crm.expansion in deals.nth(1).inner_text()
    assert "Not in the CRM yet" in page.locator("#links").inner_text()

    # WHEN the seller links it to the colleague's expansion deal with one click
    pane.button("link", f"opportunity:{crm.expansion_id}").click()

    # THEN the pane lists the link with its reason, and the store has it as a person's link
    linked = page.locator(f'#links [data-link="opportunity:{crm.expansion_id}"]')
    linked.wait_for()
    assert f"linked by {crm.seller} in Outlook" in linked.inner_text()
    stored = links_in_store(web, crm.seller, internetMessageId=JANE_MESSAGE_ID)
    assert ("opportunity", crm.expansion_id, "person", f"linked by {crm.seller} in Outlook") in (
        stored
    )
    # and the item was stored with the rules' own links for Jane and Acme as well
    assert {(k, i) for k, i, _, _ in stored} >= {
        ("contact", crm.jane_id),
        ("account", crm.acme_id),
    }
    assert "Linked" in page.locator(f'[data-record="opportunity:{crm.expansion_id}"]').inner_text()


def daemon_run(web: WebService, crm: Crm) -> tuple[LinkSpec, ...]:
    """The daemon's link step on its own copy of Jane's email: real rules, then apply_page."""
    item = message_item(
        provider_item_id="AAMk-daemon-inbox-copy",
        folder="inbox",
        internet_message_id=JANE_MESSAGE_ID,
        subject="Quote for the 2026 renewal",
        sender=Address(crm.jane, "Jane Roe"),
        to=(Address(crm.seller, "Sam Seller"),),
    )
    rules = RulesContext(
        rules_settings_from(web.settings.rules), web.settings.rules.internal_domains
    )
    with web.sessions() as session:
        result, _ = rules.run(session, item, mailbox_owner=crm.seller)
        assert isinstance(result, Linked)
        mailbox_id = session.execute(
            select(Mailbox.id).where(Mailbox.address == crm.seller)
        ).scalar_one()
        page = PageWrite(
            folder="inbox",
            messages=[item],
            links={item.message_key: result.links},
            tracked_keys=frozenset({item.message_key}),
        )
        apply_page(session, mailbox_id, page)
        session.commit()
    return result.links


def test_unlink_is_honoured_by_a_later_rules_run(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN Jane's email, linked by the rules (stored through the pane's link to Jane)
    pane = open_pane(jane_email(crm), user=crm.seller)
    pane.button("link", f"contact:{crm.jane_id}").click()
    renewal_link = pane.page.locator(f'#links [data-link="opportunity:{crm.renewal_id}"]')
    renewal_link.wait_for()
    assert "inferred: account Acme Corporation has one open" in renewal_link.inner_text()

    # WHEN the seller unlinks the renewal deal the rules inferred
    pane.button("unlink", f"opportunity:{crm.renewal_id}").click()
    renewal_link.wait_for(state="detached")
    assert "will not link it again" in pane.page.locator("#notice").inner_text()

    # AND the daemon later runs the rules on its own copy of the same email
    wanted = daemon_run(web, crm)

    # THEN the rules still want the deal (so only the suppression keeps it out) ...
    assert (TargetKind.OPPORTUNITY, crm.renewal_id) in {
        (s.target_kind, s.target_id) for s in wanted
    }
    # ... and the store does not get it back, while the other rule links stay
    stored = {
        (k, i) for k, i, _, _ in links_in_store(web, crm.seller, internetMessageId=JANE_MESSAGE_ID)
    }
    assert ("opportunity", crm.renewal_id) not in stored
    assert ("account", crm.acme_id) in stored

    # AND the pane, opened again, still shows it unlinked
    again = open_pane(jane_email(crm), user=crm.seller)
    assert again.page.locator(f'#links [data-link="opportunity:{crm.renewal_id}"]').count() == 0
    assert again.button("link", f"opportunity:{crm.renewal_id}").is_visible()


def test_unknown_sender_becomes_a_contact_and_is_linked(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN an email from someone at Acme who is not a contact yet
    newcomer = "lee.new@acme.example"
    item = jane_email(
        crm,
        internetMessageId="<intro-7@acme.example>",
        itemId="AAMkIntro7",
        subject="Introduction",
        headers="Message-ID: <intro-7@acme.example>\r\n",
    )
    item["from"] = person("Lee New", newcomer)
    pane = open_pane(item, user=crm.seller)
    row = pane.page.locator(f'[data-person="{newcomer}"]')
    assert "Not a contact yet · Acme Corporation (by domain)" in row.inner_text()

    # WHEN the seller clicks "Create contact"
    row.locator('button[data-action="create-contact"]').click()

    # THEN the pane shows the new contact linked to this email, at the account of the domain
    notice = pane.page.locator("#notice")
    notice.filter(has_text="Created contact Lee New at Acme Corporation").wait_for()
    contact_link = pane.page.locator('#links [data-link^="contact:"]', has_text="Lee New")
    contact_link.wait_for()
    assert "Lee New, " not in row.inner_text()  # no title invented
    assert "Acme Corporation" in pane.page.locator(f'[data-person="{newcomer}"]').inner_text()
    with web.api(crm.seller) as api:
        found = api.get("/records/search", params={"q": "lee.new@acme", "kind": "contact"}).json()
    assert [h["label"] for h in found["hits"]] == ["Lee New"]
    contact_id = found["hits"][0]["id"]
    stored = links_in_store(web, crm.seller, internetMessageId="<intro-7@acme.example>")
    assert ("contact", contact_id) in {(k, i) for k, i, _, _ in stored}


@sqlite_only
def test_expired_token_shows_a_sign_in_prompt(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN Office hands the pane an access token that expired an hour ago
    expired = token_for(web.idp, crm.seller, expired=True)
    pane = open_pane(jane_email(crm), user=crm.seller, silent_token=expired, wait=False)

    # THEN the pane asks the user to sign in (no crash, no blank pane)
    prompt = pane.page.locator('[data-state="signin"]')
    prompt.wait_for()
    assert "Sign in" in prompt.inner_text()
    assert pane.page.locator("#search").is_hidden()
    pane.screenshot("test_expired_token_shows_a_sign_in_prompt-prompt")

    # WHEN the user clicks "Sign in" (Office's interactive sign-in gives a fresh token)
    prompt.locator('button[data-action="sign-in"]').click()

    # THEN the pane loads the item as usual
    pane.wait_ready()
    assert pane.double()["tokenRequests"][-1] == "silent"
    assert "interactive" in pane.double()["tokenRequests"]
    assert pane.page.locator(f'[data-person="{crm.jane}"]').is_visible()


@sqlite_only
def test_offline_backend_shows_a_retry_state(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN the CRM service cannot be reached from the pane
    pane = open_pane(jane_email(crm), user=crm.seller, wait=False, block_api=True)

    # THEN the pane says so and offers to try again
    offline = pane.page.locator('[data-state="offline"]')
    offline.wait_for()
    assert "cannot be reached" in offline.inner_text()
    assert offline.locator('button[data-action="retry"]').is_visible()


@sqlite_only
def test_meeting_links_to_an_opportunity_found_by_search(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN a meeting Jane organised, open in read mode
    meeting = {
        "itemType": "appointment",
        "itemId": "AAMkMeeting/77+x=",
        "subject": "Renewal kick-off",
        "organizer": person("Jane Roe", crm.jane),
        "requiredAttendees": [person("Sam Seller", crm.seller)],
        "optionalAttendees": [person("Cara Colleague", crm.colleague)],
        "start": "2026-03-10T14:00:00Z",
        "end": "2026-03-10T15:00:00Z",
        "body": "Agenda: scope, timeline",
    }
    pane = open_pane(meeting, user=crm.seller)
    assert "Organizer" in pane.page.locator(f'[data-person="{crm.jane}"]').inner_text()
    assert "Colleague" in pane.page.locator(f'[data-person="{crm.colleague}"]').inner_text()

    # WHEN the seller searches for the expansion deal by code and links it
    pane.page.locator("#search-input").fill("000102")
    hit = pane.page.locator(f'#search-results [data-hit="opportunity:{crm.expansion_id}"]')
    hit.wait_for()
    hit.locator('button[data-action="link"]').click()

    # THEN the meeting is stored and linked, found by its Exchange (REST) id
    pane.page.locator(f'#links [data-link="opportunity:{crm.expansion_id}"]').wait_for()
    assert "Linked" in hit.inner_text()
    stored = links_in_store(web, crm.seller, itemId="AAMkMeeting-77_x=")
    assert ("opportunity", crm.expansion_id, "person") in {(k, i, o) for k, i, o, _ in stored}

    # WHEN the daemon then syncs the seller's calendar, which has it under its iCalendar UID
    uid = "040000008200E00074C5B7101A82E0080000000077@acme.example"
    with web.sessions() as session:
        mailbox_id = session.execute(
            select(Mailbox.id).where(Mailbox.address == crm.seller)
        ).scalar_one()
        synced = meeting_item(
            uid=uid,
            subject="Renewal kick-off",
            organizer=crm.jane,
            attendees=[crm.seller, crm.colleague],
            start=datetime(2026, 3, 10, 14, 0, tzinfo=UTC),
        )
        result = apply_page(session, mailbox_id, PageWrite("calendar", meetings=[synced]))
        session.commit()
    # THEN it is the same meeting, with the same links by either id
    assert result.meetings_merged == 1
    assert links_in_store(web, crm.seller, iCalUId=uid) == stored


@dataclass(frozen=True)
class SyncedMeeting:
    """A meeting as the daemon stored it from the sandbox, and the links the rules made."""

    id: int
    uid_key: str
    organizer: str
    subject: str
    start: datetime
    end: datetime
    attendees: tuple[str, ...]
    links: tuple[StoredLink, ...]

    def as_office_item(self, item_id: str) -> dict[str, Any]:
        """The same meeting as Office.js shows it, under an item id nothing is stored by."""
        return {
            "itemType": "appointment",
            "itemId": item_id,
            "subject": self.subject,
            "organizer": person("", self.organizer),
            "requiredAttendees": [person("", a) for a in self.attendees],
            "optionalAttendees": [],
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "body": "",
        }


def sync_calendar_from_sandbox(
    tmp_path: Path, engine: Engine, db_url: str
) -> tuple[str, list[SyncedMeeting]]:
    """The daemon's run on a sandbox calendar (Graph over HTTPS, the company's CRM, real rules)."""
    with running_sandbox(
        seed=SANDBOX_SEED, mailboxes=1, messages_per_mailbox=0, meetings_per_mailbox=6
    ) as sandbox:
        rig = SyncRig.build(tmp_path, sandbox, engine, db_url)
        files = write_crm(tmp_path / "crm", seed=SANDBOX_SEED, mailboxes=1)
        owner = sandbox.mailboxes[0]
        with session_scope(rig.sessions, write=True) as session:
            import_crm(session, files)
            user = session.execute(select(User).where(User.email == owner)).scalar_one()
            user.entra_object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, owner))  # signed in before
        outcome = rig.sync(owner)
        assert outcome.kind is OutcomeKind.OK, outcome
    meetings = []
    with rig.sessions() as session:
        for row in session.scalars(select(Meeting).order_by(Meeting.id)):
            attendees = session.scalars(
                select(MeetingAttendee.address)
                .where(MeetingAttendee.meeting_id == row.id)
                .order_by(MeetingAttendee.id)
            )
            meetings.append(
                SyncedMeeting(
                    row.id,
                    row.meeting_key,
                    row.organizer_address or "",
                    row.subject,
                    row.start_at,
                    row.end_at,
                    tuple(attendees),
                    tuple(links_for_item(session, ItemKind.MEETING, row.id)),
                )
            )
    return owner, meetings


def assert_links_listed(pane: Pane, meeting: SyncedMeeting) -> None:
    """Every stored link is a row of the pane's links, with the rule's own reason."""
    rows = pane.page.locator("#links [data-link]")
    assert rows.count() == len(meeting.links)
    for link in meeting.links:
        row = pane.page.locator(f'#links [data-link="{link.target_kind.value}:{link.target_id}"]')
        assert link.evidence in row.locator("[data-reason]").inner_text()


@sqlite_only
def test_a_meeting_only_the_daemon_synced_shows_its_rule_links_on_opening(
    web: WebService, open_pane: OpenPane, tmp_path: Path, engine: Engine, db_url: str
) -> None:
    # GIVEN the daemon synced a salesperson's calendar from the sandbox; the rules linked
    # its meetings (by tracking code, participants, inference)
    owner, meetings = sync_calendar_from_sandbox(tmp_path, engine, db_url)
    invited = next(m for m in meetings if m.organizer != owner and m.links)
    organised = next(m for m in meetings if m.organizer == owner and m.links)
    assert any(link.origin_kind is OriginKind.RULE for link in invited.links)

    # WHEN the salesperson opens the pane on a meeting a customer organised: Office.js gives
    # an Exchange item id nothing is stored under, and the meeting's own identity
    pane = open_pane(invited.as_office_item("AAMkInvite/7f+Q="), user=owner)

    # THEN its rule links are listed with their reasons, before any click
    assert_links_listed(pane, invited)
    assert "Not in the CRM yet" not in pane.page.locator("#links").inner_text()
    pane.screenshot("test_a_meeting_only_the_daemon_synced_shows_its_rule_links-read")

    # WHEN they unlink one of them in that pane
    dropped = invited.links[0]
    key = f"{dropped.target_kind.value}:{dropped.target_id}"
    pane.button("unlink", key).click()
    pane.page.locator(f'#links [data-link="{key}"]').wait_for(state="detached")
    # THEN the daemon's meeting lost it (named by its UID now), and only it
    left = links_in_store(web, owner, iCalUId=invited.uid_key)
    assert {(k, i) for k, i, _, _ in left} == {
        (link.target_kind.value, link.target_id) for link in invited.links[1:]
    }

    # WHEN they open one they organised (organizer mode: getAsync, already saved)
    organizer_pane = open_pane(
        organised.as_office_item("AAMkOrganised/3c+R="), user=owner, mode="compose"
    )

    # THEN its links are listed too, without the pane saving the meeting
    assert_links_listed(organizer_pane, organised)
    calls = organizer_pane.double()["calls"]
    assert "organizer.getAsync" in calls
    assert "saveAsync" not in calls
    # AND opening the pane stored nothing: the daemon's meetings are all there is
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Meeting)) == len(meetings)


@sqlite_only
def test_compose_links_are_applied_once_the_message_is_sent(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN the seller is writing a new message to Jane
    draft = {
        "itemType": "message",
        "subject": "Follow-up on the expansion",
        "to": [person("Jane Roe", crm.jane)],
        "cc": [],
        "body": "Hi Jane,",
    }
    pane = open_pane(draft, user=crm.seller, mode="compose")
    assert "links are applied when the message is sent" in pane.page.inner_text("#item-mode")

    # WHEN they pick the expansion deal
    pane.button("link", f"opportunity:{crm.expansion_id}").click()

    # THEN it is pending on the draft: kept in the item's custom property, draft saved and
    # marked for tracking; nothing is in the store yet
    pane.page.locator(f'#links [data-link="opportunity:{crm.expansion_id}"]').wait_for()
    record = pane.double()
    pending = record["customProperties"]["mailsyncPendingLinks"]
    assert [(p["kind"], p["id"]) for p in json.loads(pending)] == [
        ("opportunity", crm.expansion_id)
    ]
    assert "saveAsync" in record["calls"]
    assert 'internetHeaders.setAsync:{"X-Mailsync-Track":"1"}' in record["calls"]

    # WHEN the message has been sent and the pane opens on the sent copy (same custom property)
    sent_pane = open_pane(sent_follow_up(crm, 1, record["customProperties"]), user=crm.seller)

    # THEN the pending link is applied through the API and cleared from the item
    sent_pane.page.locator(f'#links [data-link="opportunity:{crm.expansion_id}"]').wait_for()
    assert "Applied 1 link" in sent_pane.page.locator("#notice").inner_text()
    assert "mailsyncPendingLinks" not in sent_pane.double()["customProperties"]
    stored = links_in_store(web, crm.seller, internetMessageId="<followup-1@ourco.example>")
    assert ("opportunity", crm.expansion_id, "person") in {(k, i, o) for k, i, o, _ in stored}


@sqlite_only
def test_new_meeting_is_linked_when_saved(crm: Crm, web: WebService, open_pane: OpenPane) -> None:
    # GIVEN the seller is setting up a new meeting with Jane (compose mode, never saved)
    draft = {
        "itemType": "appointment",
        "subject": "Renewal pricing call",
        "requiredAttendees": [person("Jane Roe", crm.jane)],
        "optionalAttendees": [],
        "start": "2026-03-12T10:00:00Z",
        "end": "2026-03-12T10:30:00Z",
        "body": "Pricing for OPP-000101",
    }
    pane = open_pane(draft, user=crm.seller, mode="compose")
    assert "links are applied when it is saved" in pane.page.inner_text("#item-mode")
    assert "Not saved yet" in pane.page.locator("#links").inner_text()

    # WHEN they link the renewal deal
    pane.button("link", f"opportunity:{crm.renewal_id}").click()

    # THEN the pane saved the meeting and the saved calendar item is stored and linked
    pane.page.locator(f'#links [data-link="opportunity:{crm.renewal_id}"]').wait_for()
    record = pane.double()
    assert "saveAsync" in record["calls"]
    stored = links_in_store(web, crm.seller, itemId=record["savedItemId"])
    assert ("opportunity", crm.renewal_id, "person") in {(k, i, o) for k, i, o, _ in stored}


@sqlite_only
def test_a_user_the_crm_does_not_know_is_told_why(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN someone signed in to Office who is not a mailsync user
    stranger = "temp.worker@ourco.example"
    pane = open_pane(jane_email(crm), user=stranger, wait=False)

    # THEN the pane shows the API's reason and a way to try again, not a blank pane
    error = pane.page.locator('[data-state="error"]')
    error.wait_for()
    assert "No access" in error.inner_text()
    assert f"{stranger} is not a mailsync user; ask an admin to add you" in error.inner_text()
    assert error.locator('button[data-action="retry"]').is_visible()


@sqlite_only
def test_no_item_selected(crm: Crm, web: WebService, open_pane: OpenPane) -> None:
    # GIVEN a pinned pane while no email or meeting is selected
    pane = open_pane(None, user=crm.seller, wait=False)

    # THEN it says what to do
    empty = pane.page.locator('[data-state="empty"]')
    empty.wait_for()
    assert "Select an email or a meeting" in empty.inner_text()


@sqlite_only
def test_hostile_display_name_is_shown_as_text(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN an email whose sender chose markup as their display name (anyone can)
    hostile = '<img src=x onerror="window.__pwned=1">Mallory'
    item = jane_email(crm, internetMessageId="<x-1@evil.example>", itemId="AAMkEvil1")
    item["from"] = person(hostile, "mallory@evil.example")
    pane = open_pane(item, user=crm.seller)

    # THEN the name is text on the page, and no script of the sender's ran
    row = pane.page.locator('[data-person="mallory@evil.example"]')
    assert hostile in row.inner_text()
    assert row.locator("img").count() == 0
    assert pane.page.evaluate("window.__pwned") is None
