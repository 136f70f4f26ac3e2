"""Links chosen while writing reach the CRM when the item is sent (OnMessageSend /
OnAppointmentSend, Smart Alerts), in a real browser against the real web service and store.

The pane (taskpane.html) and the function file (commands.html, the send events' runtime)
are separate pages, as in Outlook; the draft's custom properties are carried from one to the
other the way Outlook keeps them on the item. ``__officeDoubleFire`` plays Outlook raising the
event and resolves with what the handler passed to ``event.completed``.

The last test adds the daemon: the sandbox (Graph over real HTTP) holds the Sent Items copy
of the mail being sent, and one sync of the seller's mailbox folds the row stored at send
into it (crm_store/message_merge.py).

SQLite only: the store paths (POST items/links with a snapshot) are the pane's, tested on
both backends in test_taskpane.py and tests/web.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from crm_store.items import FALLBACK_KEY_PREFIX
from crm_store.models import Message
from mailsync.sandbox.runner import running_sandbox
from tests.e2e.conftest import FUNCTION_FILE_PATH, Crm, OpenPane, Pane, WebService, person
from tests.e2e.test_taskpane import links_in_store, sent_follow_up
from tests.factories import make_user
from tests.mailsync.sync_support import SyncRig

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
PENDING = "mailsyncPendingLinks"


def rest_id(item_id: str) -> str:
    """What the double's convertToRestId does (Exchange's EWS → REST id form)."""
    return item_id.replace("/", "-").replace("+", "_")


def draft_to_jane(crm: Crm, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "itemType": "message",
        "subject": "Follow-up on the expansion",
        "to": [person("Jane Roe", crm.jane)],
        "cc": [],
        "body": "Hi Jane, as discussed. Sam",
        "conversationId": "AAQkConvFollowUp",
    }
    item.update(changes)
    return item


def send(function_file: Pane, handler: str) -> Any:
    return function_file.page.evaluate("name => window.__officeDoubleFire(name)", handler)


def pending_links(record: dict[str, Any]) -> list[dict[str, Any]]:
    raw = record["customProperties"].get(PENDING)
    links: list[dict[str, Any]] = json.loads(raw) if raw else []
    return links


@sqlite_only
def test_link_picked_while_writing_is_applied_when_the_message_is_sent(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN the seller writes to Jane and picks the expansion deal in the pane
    pane = open_pane(draft_to_jane(crm), user=crm.seller, mode="compose")
    pane.button("link", f"opportunity:{crm.expansion_id}").click()
    pane.page.locator(f'#links [data-link="opportunity:{crm.expansion_id}"]').wait_for()
    draft = pane.double()
    assert [(p["kind"], p["id"]) for p in pending_links(draft)] == [
        ("opportunity", crm.expansion_id)
    ]

    # WHEN they press Send: Outlook runs the OnMessageSend handler on the same draft
    at_send = draft_to_jane(
        crm, itemId=draft["savedItemId"], customProperties=draft["customProperties"]
    )
    function_file = open_pane(
        at_send, user=crm.seller, mode="compose", path=FUNCTION_FILE_PATH, wait=False
    )
    outcome = send(function_file, "onMessageSendHandler")

    # THEN the mail goes out, and the message is in the store with the seller's link
    assert outcome == {"allowEvent": True}
    record = function_file.double()
    assert [c["handler"] for c in record["completed"]] == ["onMessageSendHandler"]
    stored = links_in_store(web, crm.seller, itemId=rest_id(draft["savedItemId"]))
    assert ("opportunity", crm.expansion_id, "person", f"linked by {crm.seller} in Outlook") in (
        stored
    )
    # with the rules' links for Jane and Acme, like any stored message
    assert {(k, i) for k, i, _, _ in stored} >= {("contact", crm.jane_id), ("account", crm.acme_id)}
    # and the item records that the link reached the CRM at send (kept for the sent copy)
    (applied,) = pending_links(record)
    assert applied["id"] == crm.expansion_id and applied["appliedAt"]
    assert 'internetHeaders.setAsync:{"X-Mailsync-Track":"1"}' in record["calls"]
    assert record["tokenRequests"] == ["silent"]  # a send event never prompts


@sqlite_only
def test_backend_down_at_send_lets_the_mail_go_and_keeps_the_link_pending(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN a draft to Jane with the expansion deal picked (as the pane records it)
    chosen = [{"kind": "opportunity", "id": crm.expansion_id, "name": crm.expansion}]
    draft = draft_to_jane(
        crm, itemId="AAMkDraft/9+x=", customProperties={PENDING: json.dumps(chosen)}
    )
    # AND the CRM service cannot be reached
    function_file = open_pane(
        draft, user=crm.seller, mode="compose", path=FUNCTION_FILE_PATH, wait=False, block_api=True
    )

    # WHEN the message is sent
    outcome = send(function_file, "onMessageSendHandler")

    # THEN it is sent all the same, nothing is stored, and the link is still pending on it
    assert outcome == {"allowEvent": True}
    record = function_file.double()
    assert pending_links(record) == chosen
    with web.api(crm.seller) as api:
        missing = api.get("/items/links", params={"itemId": rest_id("AAMkDraft/9+x=")})
    assert missing.status_code == 404

    # WHEN the pane later opens on the sent copy (the item property travelled with it)
    sent_pane = open_pane(sent_follow_up(crm, 9, record["customProperties"]), user=crm.seller)

    # THEN the pending link is applied there, under the message's real Message-ID
    sent_pane.page.locator(f'#links [data-link="opportunity:{crm.expansion_id}"]').wait_for()
    stored = links_in_store(web, crm.seller, internetMessageId="<followup-9@ourco.example>")
    assert ("opportunity", crm.expansion_id, "person") in {(k, i, o) for k, i, o, _ in stored}


@sqlite_only
def test_nothing_pending_sends_without_calling_the_crm(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN a draft on which nobody picked a link
    function_file = open_pane(
        draft_to_jane(crm), user=crm.seller, mode="compose", path=FUNCTION_FILE_PATH, wait=False
    )
    # WHEN it is sent / THEN it goes out at once: no token asked, not saved, nothing stored
    assert send(function_file, "onMessageSendHandler") == {"allowEvent": True}
    record = function_file.double()
    assert record["tokenRequests"] == []
    assert "saveAsync" not in record["calls"]


@sqlite_only
def test_meeting_link_that_missed_the_crm_is_applied_when_the_meeting_is_sent(
    crm: Crm, web: WebService, open_pane: OpenPane
) -> None:
    # GIVEN the seller sets up a meeting with Jane, and the CRM drops off after the pane loaded
    meeting = {
        "itemType": "appointment",
        "subject": "Expansion scoping call",
        "requiredAttendees": [person("Jane Roe", crm.jane)],
        "optionalAttendees": [],
        "start": "2026-03-19T10:00:00Z",
        "end": "2026-03-19T11:00:00Z",
        "body": "Scope for the EMEA expansion",
    }
    pane = open_pane(meeting, user=crm.seller, mode="compose")
    pane.page.route("**/api/**", lambda route: route.abort("connectionrefused"))

    # WHEN they link the expansion deal
    pane.button("link", f"opportunity:{crm.expansion_id}").click()

    # THEN the pane says it will be linked at send, and keeps it on the saved meeting
    notice = pane.page.locator("#notice")
    notice.filter(has_text="will be linked when the meeting is sent").wait_for()
    draft = pane.double()
    assert [(p["kind"], p["id"]) for p in pending_links(draft)] == [
        ("opportunity", crm.expansion_id)
    ]

    # WHEN the CRM is back and the meeting is sent (OnAppointmentSend)
    at_send = {
        **meeting,
        "itemId": draft["savedItemId"],
        "customProperties": draft["customProperties"],
    }
    function_file = open_pane(
        at_send, user=crm.seller, mode="compose", path=FUNCTION_FILE_PATH, wait=False
    )
    outcome = send(function_file, "onAppointmentSendHandler")

    # THEN the invitations go out and the meeting is stored under the item id the pane uses
    assert outcome == {"allowEvent": True}
    stored = links_in_store(web, crm.seller, itemId=rest_id(draft["savedItemId"]))
    assert ("opportunity", crm.expansion_id, "person") in {(k, i, o) for k, i, o, _ in stored}


@sqlite_only
def test_message_linked_at_send_and_synced_from_sent_items_is_one_row_with_the_link(
    crm: Crm,
    web: WebService,
    open_pane: OpenPane,
    session_factory: sessionmaker[Session],
    engine: Engine,
    db_url: str,
    tmp_path: Path,
) -> None:
    with running_sandbox(mailboxes=1, messages_per_mailbox=12) as sandbox:
        # GIVEN the seller's mailbox synced by the daemon, and a mail they are sending to a
        # customer (the sandbox's own Sent Items copy of it: real Message-ID, sentDateTime)
        seller = sandbox.mailboxes[0]
        with session_factory() as session:
            user = make_user(session, email=seller, display_name="Sandbox Seller")
            user.entra_object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, seller))
            session.commit()
        rig = SyncRig.build(tmp_path, sandbox, engine, db_url)
        thread = sandbox.deliver(seller, count=4, kind="customer")
        sent = next(
            (m, c["id"])
            for m in thread
            for c in m["copies"]
            if c["mailbox"] == seller and c["folder"] == "sentitems"
        )
        with sandbox.httpx_client(
            headers={"Authorization": f"Bearer {sandbox.app_token()}"}
        ) as graph:
            answer = graph.get(f"{sandbox.graph_url}/users/{seller}/messages/{sent[1]}")
        assert answer.status_code == 200, answer.text
        message = answer.json()

        # WHEN they send it with the expansion deal picked while writing (OnMessageSend runs
        # on the draft, its clock a little before the server's sentDateTime)
        chosen = [{"kind": "opportunity", "id": crm.expansion_id, "name": crm.expansion}]
        draft = {
            "itemType": "message",
            "itemId": "AAMkDraftSandbox/1+x=",
            "subject": message["subject"],
            "to": [
                person(r["emailAddress"]["name"], r["emailAddress"]["address"])
                for r in message["toRecipients"]
            ],
            "cc": [
                person(r["emailAddress"]["name"], r["emailAddress"]["address"])
                for r in message["ccRecipients"]
            ],
            "body": "As discussed.",
            "conversationId": message["conversationId"],
            "customProperties": {PENDING: json.dumps(chosen)},
        }
        function_file = open_pane(
            draft, user=seller, mode="compose", path=FUNCTION_FILE_PATH, wait=False
        )
        sent_at = datetime.fromisoformat(message["sentDateTime"].replace("Z", "+00:00"))
        function_file.page.clock.set_system_time(sent_at - timedelta(seconds=40))
        assert send(function_file, "onMessageSendHandler") == {"allowEvent": True}
        # AND the daemon syncs the seller's mailbox
        outcome = rig.sync(seller)

    # THEN the message is one row, keyed by its Message-ID, with the person's link
    assert outcome.ok, outcome
    key = message["internetMessageId"]
    with session_factory() as session:
        rows = session.scalars(
            select(Message.message_key).where(Message.subject == message["subject"])
        ).all()
    # (the sandbox reuses subjects across customers: only this one's rows count)
    assert [k for k in rows if k == key or k.startswith(FALLBACK_KEY_PREFIX)] == [key]
    stored = links_in_store(web, seller, internetMessageId=key)
    assert ("opportunity", crm.expansion_id, "person") in {(k, i, o) for k, i, o, _ in stored}
