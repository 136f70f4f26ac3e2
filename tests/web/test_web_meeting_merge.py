"""A meeting linked from the add-in by Exchange item id and synced by the daemon is one item.

Office.js gives no iCalendar UID, so the pane names a meeting by its Exchange
item id; whichever side stores it first, the API answers for both ids with
the same item and links.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.items import MeetingItem
from crm_store.models import Meeting, MeetingCopy
from crm_store.sync_writes import PageWrite, apply_page
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.factories import meeting_item
from tests.web.test_web_items import World

UID = "040000008200E00074C5B7101A82E00800000000D0A1@ourco.example"
EWS_ID = "AAMkAGI2-ews-meeting"


def snapshot(**extra: Any) -> dict[str, Any]:
    """The pane's meeting: no iCalUId, times in the user's zone, its own subject spacing."""
    return {
        "kind": "meeting",
        "itemId": EWS_ID,
        "subject": "Kick-off  Acme",
        "body": "Agenda from Outlook",
        "organizer": {"name": "Sam", "address": "Sam@OurCo.example"},
        "requiredAttendees": [{"name": "Jane", "address": "jane@acme.example"}],
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T10:00:00+01:00",
        **extra,
    }


def daemon_copy() -> MeetingItem:
    """The same meeting as Graph delivers it: UID, immutable id, UTC, a room."""
    return meeting_item(
        uid=UID,
        provider_item_id="AAMkEv-immutable-sam",
        folder="calendar",
        subject="Kick-off Acme",
        organizer="sam@ourco.example",
        attendees=["jane@acme.example"],
        start=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        location="Room 4",
        body_text=None,
    )


def link_by_item_id(client: TestClient, headers: dict[str, str], world: World, **snap: Any) -> Any:
    body = {
        "item": {"itemId": EWS_ID},
        "target": {"kind": "account", "id": world.account.id},
        "snapshot": snapshot(**snap),
    }
    return client.post("/api/v1/items/links", json=body, headers=headers)


def links_by(client: TestClient, headers: dict[str, str], **params: str) -> Any:
    answer = client.get("/api/v1/items/links", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["item"]["id"], [
        (lk["targetKind"], lk["targetId"], lk["originKind"], lk["actor"]) for lk in body["links"]
    ]


def meeting_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Meeting)) or 0


def test_linked_in_the_pane_first_then_synced_is_one_item(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    seller = world.headers["seller"]
    # GIVEN the seller links a meeting the daemon has not synced, by its Exchange item id
    created = link_by_item_id(client, seller, world)
    assert created.status_code == 201, created.text
    assert created.json()["storedNow"] is True
    # WHEN the daemon syncs the seller's calendar, which has it under its UID
    result = apply_page(session, world.mailbox.id, PageWrite("calendar", meetings=[daemon_copy()]))
    session.commit()
    # THEN one meeting, found by either id with the same person link
    assert result.meetings_merged == 1
    assert meeting_count(session) == 1
    expected = [("account", world.account.id, "person", world.seller.email)]
    by_uid = links_by(client, seller, iCalUId=UID)
    by_item_id = links_by(client, seller, itemId=EWS_ID)
    assert by_uid == by_item_id
    assert by_uid[0] == result.meeting_ids[UID]
    assert [lk for lk in by_uid[1] if lk[2] == "person"] == expected
    # AND tracking it again from the pane stays on that row (its add-in copy moved there)
    again = client.post("/api/v1/items/track", json=snapshot(), headers=seller)
    assert again.status_code == 200, again.text
    assert again.json()["item"]["id"] == by_uid[0]
    assert meeting_count(session) == 1
    merged = session.get(Meeting, by_uid[0])
    assert merged is not None
    assert (merged.location, merged.body_text) == ("Room 4", "Agenda from Outlook")


def test_synced_first_then_linked_in_the_pane_links_the_stored_meeting(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    seller = world.headers["seller"]
    # GIVEN the daemon synced the meeting from the seller's calendar
    stored_id = apply_page(
        session, world.mailbox.id, PageWrite("calendar", meetings=[daemon_copy()])
    ).meeting_ids[UID]
    session.commit()
    # WHEN the seller links it from the pane, which knows only its Exchange item id
    created = link_by_item_id(client, seller, world)
    # THEN the stored meeting is linked: no second row, nothing the daemon brought lost
    assert created.status_code == 201, created.text
    assert created.json()["storedNow"] is False
    assert created.json()["item"]["id"] == stored_id
    assert meeting_count(session) == 1
    meeting = session.get(Meeting, stored_id)
    assert meeting is not None
    assert (meeting.meeting_key, meeting.location) == (UID, "Room 4")
    folders = session.scalars(
        select(MeetingCopy.folder).where(MeetingCopy.meeting_id == stored_id)
    ).all()
    assert sorted(folders) == ["addin", "calendar"]
    # AND both ids answer with that item and link
    expected = [("account", world.account.id, "person", world.seller.email)]
    for params in ({"iCalUId": UID}, {"itemId": EWS_ID}):
        item_id, links = links_by(client, seller, **params)
        assert item_id == stored_id
        assert [lk for lk in links if lk[2] == "person"] == expected


def test_a_colleague_the_meeting_does_not_name_gets_their_own_row_not_its_links(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    # GIVEN the seller's synced meeting, which does not invite Olga
    stored_id = apply_page(
        session, world.mailbox.id, PageWrite("calendar", meetings=[daemon_copy()])
    ).meeting_ids[UID]
    session.commit()
    # WHEN Olga's pane sends a snapshot claiming the same organizer, times and subject
    created = link_by_item_id(client, world.headers["other"], world)
    # THEN her link goes on a row of her own; the seller's meeting is not hers to see
    assert created.status_code == 201, created.text
    assert created.json()["item"]["id"] != stored_id
    assert meeting_count(session) == 2
    # AND the daemon's next sync of the seller's calendar does not merge it either
    result = apply_page(session, world.mailbox.id, PageWrite("calendar", meetings=[daemon_copy()]))
    session.commit()
    assert result.meetings_merged == 0
    assert meeting_count(session) == 2
    denied = client.get(
        "/api/v1/items/links", params={"iCalUId": UID}, headers=world.headers["other"]
    )
    assert denied.status_code == 403
