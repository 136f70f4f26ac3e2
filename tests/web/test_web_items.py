"""Item links through the API: people link and unlink, rules honour it, unsynced items merge."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.crm_records import load_crm_records
from crm_store.items import ItemKind, MessageItem, OriginKind, TargetKind
from crm_store.links import links_for_item, suppressions_for_items
from crm_store.models import Link, Meeting, Message, MessageCopy, Suppression
from crm_store.sync_writes import PageWrite, apply_page
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from rules import AccountRecord, ContactRecord, CrmIndex, Linked, OpportunityRecord, RulesEngine
from tests.factories import (
    make_account,
    make_contact,
    make_mailbox,
    make_opportunity,
    make_user,
    meeting_item,
    message_item,
)
from tests.web.conftest import INTERNAL_DOMAIN, sign_in


class World:
    """A seller with a mailbox, a customer account they own, its contact and one open deal."""

    def __init__(self, session: Session, idp: EntraIdentityProvider) -> None:
        self.manager = make_user(session, email="boss@ourco.example", role="manager")
        self.seller = make_user(session, email="sam@ourco.example", manager=self.manager)
        self.other = make_user(session, email="olga@ourco.example")
        self.admin = make_user(session, email="root@ourco.example", role="admin")
        self.mailbox = make_mailbox(session, address=self.seller.email, owner=self.seller)
        self.other_mailbox = make_mailbox(session, address=self.other.email, owner=self.other)
        self.account = make_account(session, name="Acme", domains=["acme.example"])
        self.contact = make_contact(session, account=self.account, emails=["jane@acme.example"])
        self.deal = make_opportunity(session, account=self.account, owner=self.seller)
        session.commit()
        self.headers = {
            name: sign_in(idp, getattr(self, name))
            for name in ("manager", "seller", "other", "admin")
        }


def _store(session: Session, mailbox_id: int, item: MessageItem) -> int:
    result = apply_page(session, mailbox_id, PageWrite(folder=item.folder, messages=[item]))
    session.commit()
    return result.message_ids[item.message_key]


def _rules_engine(session: Session) -> RulesEngine:
    """The rules as the daemon builds them: the whole CRM from the store."""
    records = load_crm_records(session)
    index = CrmIndex.build(
        accounts=[AccountRecord(a.id, a.name, a.domains, a.owner_email) for a in records.accounts],
        contacts=[ContactRecord(c.id, c.name, c.emails, c.account_id) for c in records.contacts],
        opportunities=[
            OpportunityRecord(o.id, o.code, o.name, o.account_id, o.status, o.stage, o.owner_email)  # type: ignore[arg-type]
            for o in records.opportunities
        ],
        user_emails=records.user_emails,
        internal_domains=[INTERNAL_DOMAIN],
    )
    return RulesEngine(index)


def _link(
    client: TestClient,
    headers: dict[str, str],
    message_id: str,
    kind: str,
    ident: int,
    **extra: Any,
) -> Any:
    body = {
        "item": {"internetMessageId": message_id},
        "target": {"kind": kind, "id": ident},
        **extra,
    }
    return client.post("/api/v1/items/links", json=body, headers=headers)


def test_link_unlink_round_trip_and_the_rules_never_re_add_it(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    # GIVEN a message from the contact, synced into the seller's mailbox without links
    item = message_item(sender="jane@acme.example", to=[world.seller.email])
    message_id = _store(session, world.mailbox.id, item)
    mid = item.internet_message_id
    assert mid is not None
    # WHEN the seller links it to the deal from Outlook
    created = _link(client, world.headers["seller"], mid, "opportunity", world.deal.id)
    # THEN it is a person link with who and why, visible through the API
    assert created.status_code == 201, created.text
    assert created.json()["link"]["originKind"] == "person"
    listed = client.get(
        "/api/v1/items/links", params={"internetMessageId": mid}, headers=world.headers["seller"]
    ).json()
    assert [(lk["targetKind"], lk["targetId"], lk["actor"]) for lk in listed["links"]] == [
        ("opportunity", world.deal.id, world.seller.email)
    ]
    # WHEN they unlink it again
    removed = client.delete(
        "/api/v1/items/links",
        params={"internetMessageId": mid, "targetKind": "opportunity", "targetId": world.deal.id},
        headers=world.headers["seller"],
    )
    # THEN the link is gone and a suppression is recorded
    assert removed.status_code == 200, removed.text
    assert removed.json() == {**removed.json(), "removed": True, "suppressed": True}
    session.expire_all()
    assert links_for_item(session, ItemKind.MESSAGE, message_id) == []
    # AND a later rules run, which on its own infers exactly that deal, does not re-add it
    engine = _rules_engine(session)
    unsuppressed = engine.link(item, mailbox=world.seller.email)
    assert isinstance(unsuppressed, Linked)
    assert (TargetKind.OPPORTUNITY, world.deal.id) in {
        (link.target_kind, link.target_id) for link in unsuppressed.links
    }
    suppressed = suppressions_for_items(session, ItemKind.MESSAGE, [message_id])[message_id]
    honoured = engine.link(item, mailbox=world.seller.email, suppressed=suppressed)
    assert isinstance(honoured, Linked)
    assert (TargetKind.OPPORTUNITY, world.deal.id) not in {
        (link.target_kind, link.target_id) for link in honoured.links
    }
    # AND even the daemon writing the unsuppressed result keeps the link out of the store
    result = apply_page(
        session,
        world.mailbox.id,
        PageWrite(
            folder=item.folder, messages=[item], links={item.message_key: unsuppressed.links}
        ),
    )
    session.commit()
    assert result.links_suppressed == 1
    targets = {
        (lk.target_kind, lk.target_id)
        for lk in links_for_item(session, ItemKind.MESSAGE, message_id)
    }
    assert (TargetKind.OPPORTUNITY, world.deal.id) not in targets
    assert (TargetKind.ACCOUNT, world.account.id) in targets


def _snapshot(message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "message",
        "itemId": "AAMkAGI2-ews-id",
        "restItemId": "AAMkAGI2-rest-id",
        "conversationId": "conv-1",
        "subject": "Pricing for 2027",
        "body": "Hello Sam, here are our numbers.",
        "internetMessageId": message_id,
        "from": {"name": "Jane Doe", "address": "jane@acme.example"},
        "to": [{"name": "Sam", "address": "sam@ourco.example"}],
        "cc": [{"name": "Olga", "address": "olga@ourco.example"}],
        "sentAt": "2026-11-20T09:30:00Z",
        "headers": f"Message-ID: {message_id}\r\nIn-Reply-To: <parent@acme.example>\r\n",
        **extra,
    }


def test_an_unsynced_item_is_stored_and_linked_then_the_daemons_copy_merges(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    mid = "<pricing-2027@acme.example>"
    # GIVEN a message the daemon has not synced: linking it names it and sends its snapshot
    created = _link(
        client, world.headers["seller"], mid, "account", world.account.id, snapshot=_snapshot(mid)
    )
    # THEN it is stored and linked at once
    assert created.status_code == 201, created.text
    assert created.json()["storedNow"] is True
    stored_id = created.json()["item"]["id"]
    # WHEN the daemon later brings in Olga's copy (another mailbox, its own id and folder)
    daemon_copy = message_item(
        internet_message_id=mid,
        provider_item_id="AAMk-immutable-olga",
        sender="jane@acme.example",
        to=["sam@ourco.example"],
        cc=["olga@ourco.example"],
        subject="Pricing for 2027",
        body_text=None,
    )
    result = apply_page(
        session, world.other_mailbox.id, PageWrite(folder="inbox", messages=[daemon_copy])
    )
    session.commit()
    # THEN it is the same message row: one message, two mailbox copies, link and body kept
    assert result.message_ids[mid] == stored_id
    assert (
        session.scalar(select(func.count()).select_from(Message).where(Message.message_key == mid))
        == 1
    )
    copies = session.scalars(
        select(MessageCopy.mailbox_id).where(MessageCopy.message_id == stored_id)
    )
    assert sorted(copies) == sorted([world.mailbox.id, world.other_mailbox.id])
    message = session.get(Message, stored_id)
    assert message is not None
    assert message.body_text == "Hello Sam, here are our numbers."
    assert message.in_reply_to == "<parent@acme.example>"
    links = links_for_item(session, ItemKind.MESSAGE, stored_id)
    assert any(
        lk.target_kind is TargetKind.ACCOUNT and lk.origin_kind is OriginKind.PERSON for lk in links
    )


def test_another_salesperson_gets_403_unless_a_record_they_own_is_linked(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    # GIVEN a message only in the seller's mailbox
    item = message_item(sender="jane@acme.example", to=[world.seller.email])
    _store(session, world.mailbox.id, item)
    mid = item.internet_message_id
    params = {"internetMessageId": mid}
    unlink = {**params, "targetKind": "account", "targetId": world.account.id}
    # WHEN another salesperson reads, links or unlinks it THEN 403 each time
    assert (
        client.get("/api/v1/items/links", params=params, headers=world.headers["other"]).status_code
        == 403
    )
    assert (
        _link(client, world.headers["other"], mid, "account", world.account.id).status_code == 403
    )  # type: ignore[arg-type]
    assert (
        client.delete(
            "/api/v1/items/links", params=unlink, headers=world.headers["other"]
        ).status_code
        == 403
    )
    # AND posting a snapshot does not buy access: the stored item does not name them
    stranger = _snapshot(
        mid, to=[{"name": "x", "address": "x@acme.example"}], cc=[], mailbox="olga@ourco.example"
    )  # type: ignore[arg-type]
    assert (
        _link(
            client, world.headers["other"], mid, "account", world.account.id, snapshot=stranger
        ).status_code
        == 403
    )  # type: ignore[arg-type]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Link)) == 0
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0
    # BUT the seller's manager and an admin may
    for who in ("manager", "admin"):
        assert (
            client.get("/api/v1/items/links", params=params, headers=world.headers[who]).status_code
            == 200
        )
    # AND once the item is linked to an account the other salesperson owns, they may too
    session.rollback()  # end the test's read snapshot before writing
    theirs = make_account(
        session, name="Olga's account", domains=["olga-customer.example"], owner=world.other
    )
    session.commit()
    assert _link(client, world.headers["seller"], mid, "account", theirs.id).status_code == 201  # type: ignore[arg-type]
    assert (
        client.get("/api/v1/items/links", params=params, headers=world.headers["other"]).status_code
        == 200
    )


def test_track_stores_and_links_by_the_rules_and_compose_stores_nothing(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    mid = "<track-me@acme.example>"
    # WHEN the Track in CRM button sends a read-mode message from the contact
    tracked = client.post(
        "/api/v1/items/track", json=_snapshot(mid), headers=world.headers["seller"]
    )
    # THEN it is stored and linked to the contact, its account and the seller's one open deal
    assert tracked.status_code == 200, tracked.text
    body = tracked.json()
    assert body["stored"] is True
    assert {(lk["targetType"], lk["targetId"]) for lk in body["links"]} == {
        ("contact", world.contact.id),
        ("account", world.account.id),
        ("opportunity", world.deal.id),
    }
    assert all(lk["reason"] and lk["targetName"] for lk in body["links"])
    # AND the pane finds it again by the Exchange item id it knows, in the seller's mailbox only
    by_id = client.get(
        "/api/v1/items/links",
        params={"itemId": "AAMkAGI2-rest-id"},
        headers=world.headers["seller"],
    )
    assert by_id.status_code == 200
    assert by_id.json()["item"]["id"] == body["item"]["id"]
    elsewhere = client.get(
        "/api/v1/items/links", params={"itemId": "AAMkAGI2-rest-id"}, headers=world.headers["other"]
    )
    assert elsewhere.status_code == 404
    # WHEN a draft is tracked in compose mode
    draft = {
        "kind": "message",
        "mode": "compose",
        "itemId": "draft-1",
        "subject": "Draft",
        "body": "",
        "to": [{"name": "Jane", "address": "jane@acme.example"}],
    }
    preview = client.post("/api/v1/items/track", json=draft, headers=world.headers["seller"])
    # THEN nothing is stored, and the answer says what the sent copy will be linked to
    assert preview.status_code == 200, preview.text
    assert preview.json()["stored"] is False
    assert preview.json()["links"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_a_meeting_is_tracked_by_its_icalendar_uid_and_merges_with_the_daemons_copy(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    uid = "040000008200E00074C5B7101A82E008000000001@ourco.example"
    # WHEN the seller tracks a meeting with the contact from the pane
    meeting = {
        "kind": "meeting",
        "itemId": "AAMkEv-ews",
        "iCalUId": uid,
        "subject": "Kick-off",
        "body": "Agenda",
        "organizer": {"name": "Sam", "address": "sam@ourco.example"},
        "requiredAttendees": [{"name": "Jane", "address": "jane@acme.example"}],
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T10:00:00+01:00",
    }
    tracked = client.post("/api/v1/items/track", json=meeting, headers=world.headers["seller"])
    # THEN it is stored as a meeting, linked to the contact and the account
    assert tracked.status_code == 200, tracked.text
    assert tracked.json()["item"]["kind"] == "meeting"
    assert {lk["targetType"] for lk in tracked.json()["links"]} >= {"contact", "account"}
    # AND found again by its iCalendar UID
    found = client.get(
        "/api/v1/items/links", params={"iCalUId": uid}, headers=world.headers["seller"]
    )
    assert found.status_code == 200
    meeting_id = found.json()["item"]["id"]
    # WHEN the daemon syncs the same meeting from Olga's calendar
    copy = meeting_item(uid=uid, attendees=["jane@acme.example", "olga@ourco.example"])
    result = apply_page(
        session, world.other_mailbox.id, PageWrite(folder="calendar", meetings=[copy])
    )
    session.commit()
    # THEN it is the same stored meeting
    assert result.meeting_ids[uid] == meeting_id
    assert session.scalar(select(func.count()).select_from(Meeting)) == 1
