"""A message linked while writing is stored at send and linked at once; the daemon's copy of it
folds into that row: the same message, one row, found by its Message-ID with the link.

The send handler (addin_manifest/static/commands.js, ``applyPendingLinksOnSend``) posts
each pending link with a snapshot of the message as sent, named by the saved draft's REST
id: no Message-ID (Office.js cannot read a draft's), ``sentAt`` from the client's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.items import MessageItem
from crm_store.models import Message
from crm_store.sync_writes import PageWrite, apply_page
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.factories import message_item
from tests.web.test_web_items import World

DRAFT_ID = "AAMkAGI2-ews/draft+sent=="
DRAFT_REST_ID = "AAMkAGI2-ews-draft_sent=="
MESSAGE_ID = "<CAF1follow.up@ourco.example>"
CONVERSATION = "AAQkAGI2conv-FollowUp_1="
CLIENT_CLOCK = datetime(2026, 12, 1, 9, 29, 31, 412000, tzinfo=UTC)


def sending_snapshot() -> dict[str, Any]:
    """``sendingSnapshot`` in commands.js for a message to Jane, cc Olga."""
    return {
        "kind": "message",
        "mode": "read",
        "itemId": DRAFT_ID,
        "restItemId": DRAFT_REST_ID,
        "conversationId": CONVERSATION,
        "subject": "Follow-up on the expansion",
        "body": "Hi Jane, as discussed. Sam",
        "from": {"name": "Sam Seller", "address": "sam@ourco.example"},
        "to": [{"name": "Jane Roe", "address": "jane@acme.example"}],
        "cc": [{"name": "Olga", "address": "olga@ourco.example"}],
        "bcc": [],
        "sentAt": CLIENT_CLOCK.isoformat().replace("+00:00", "Z"),
    }


def synced_copy(folder: str, provider_item_id: str) -> MessageItem:
    """The message as Graph delivers it: its Message-ID, the server's sentDateTime."""
    return message_item(
        provider_item_id=provider_item_id,
        folder=folder,
        internet_message_id=MESSAGE_ID,
        subject="Follow-up on the expansion",
        sender="sam@ourco.example",
        to=["jane@acme.example"],
        cc=["olga@ourco.example"],
        sent_at=CLIENT_CLOCK.replace(microsecond=0) + timedelta(seconds=47),
        conversation_id=CONVERSATION,
        body_text=None,
    )


def person_links(client: TestClient, headers: dict[str, str], **params: str) -> Any:
    answer = client.get("/api/v1/items/links", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["item"]["id"], [
        (lk["targetKind"], lk["targetId"], lk["actor"])
        for lk in body["links"]
        if lk["originKind"] == "person"
    ]


def message_count(session: Session) -> int:
    """Counted in a transaction of its own, so the app's writes meanwhile do not block ours."""
    session.expire_all()
    count = session.scalar(select(func.count()).select_from(Message)) or 0
    session.rollback()
    return count


def test_a_message_linked_at_send_is_one_row_with_the_daemons_copies(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    seller = world.headers["seller"]
    # GIVEN the send handler stored the message as sent and linked it to the deal
    sent = client.post(
        "/api/v1/items/links",
        json={
            "item": {"itemId": DRAFT_REST_ID},
            "target": {"kind": "opportunity", "id": world.deal.id},
            "snapshot": sending_snapshot(),
        },
        headers=seller,
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["storedNow"] is True

    # WHEN the daemon first syncs Olga's Inbox copy (a recipient's mailbox)
    inbox = apply_page(
        session, world.other_mailbox.id, PageWrite("inbox", [synced_copy("inbox", "AAMk-olga")])
    )
    session.commit()
    # THEN the row stored at send is not folded from someone else's mailbox: two rows,
    # and the Message-ID finds Olga's copy without the seller's link yet
    assert inbox.messages_merged == 0
    assert message_count(session) == 2
    assert person_links(client, world.headers["other"], internetMessageId=MESSAGE_ID)[1] == []

    # WHEN the daemon syncs the seller's Sent Items copy
    result = apply_page(
        session, world.mailbox.id, PageWrite("sentitems", [synced_copy("sentitems", "AAMk-sam")])
    )
    session.commit()

    # THEN one message, found by its Message-ID and by the draft's id with the link
    assert result.messages_merged == 1
    assert message_count(session) == 1
    expected = [("opportunity", world.deal.id, world.seller.email)]
    by_message_id = person_links(client, seller, internetMessageId=MESSAGE_ID)
    assert by_message_id == (result.message_ids[MESSAGE_ID], expected)
    assert person_links(client, seller, itemId=DRAFT_REST_ID) == by_message_id
    # AND Olga, whose Inbox holds it, sees the same item
    assert person_links(client, world.headers["other"], internetMessageId=MESSAGE_ID) == (
        by_message_id
    )
