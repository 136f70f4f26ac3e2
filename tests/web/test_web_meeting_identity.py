"""The pane reads a meeting only the daemon stored: by its Exchange item id plus its identity.

Office.js has no iCalendar UID and its item id is not the Graph immutable id
the daemon stored the copies under, so the pane sends the meeting's organizer,
start, end and subject beside the id. The id answers first; when it names
nothing, the one meeting with that identity the user may work on answers, and
anyone else gets the same 404 as for a meeting never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.items import MeetingItem
from crm_store.models import Link, Meeting, Suppression
from crm_store.sync_writes import PageWrite, apply_page
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from rules import Linked
from tests.factories import make_mailbox, make_user, meeting_item
from tests.web.conftest import sign_in, web_settings
from tests.web.test_web_items import World
from web.rules_context import RulesContext, rules_settings_from

UID = "040000008200E00074C5B7101A82E00800000000BEEF@ourco.example"
UNKNOWN_ITEM_ID = "AAMkAGI2-pane-never-stored"
LINKS = "/api/v1/items/links"


def identity(**changes: str) -> dict[str, str]:
    """What the pane reads from Office.js: its own spacing, case and time zone."""
    return {
        "itemId": UNKNOWN_ITEM_ID,
        "organizer": "Sam@OurCo.example",
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T10:00:00+01:00",
        "subject": "Kick-off  ACME",
        **changes,
    }


def synced(uid: str = UID, attendees: tuple[str, ...] = ("jane@acme.example",)) -> MeetingItem:
    """The meeting as the daemon gets it from Graph: UID, immutable id, UTC."""
    return meeting_item(
        uid=uid,
        provider_item_id=f"AAMkEv-immutable-{uid[-12:]}",
        subject="Kick-off Acme",
        organizer="sam@ourco.example",
        attendees=attendees,
        start=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
    )


def store_by_daemon(
    session: Session, idp: EntraIdentityProvider, world: World, *items: MeetingItem
) -> dict[str, int]:
    """The daemon's write: the real rules link each meeting, then one page in the calendar."""
    settings = web_settings(idp)
    rules = RulesContext(rules_settings_from(settings.rules), settings.rules.internal_domains)
    links = {}
    for item in items:
        result, _ = rules.run(session, item, mailbox_owner=world.seller.email)
        assert isinstance(result, Linked)
        links[item.meeting_key] = result.links
    page = PageWrite("calendar", meetings=list(items), links=links)
    stored = apply_page(session, world.mailbox.id, page).meeting_ids
    session.commit()
    return stored


def read(client: TestClient, headers: dict[str, str], **params: str) -> Any:
    return client.get(LINKS, params=params, headers=headers)


def errors_of(answer: Any) -> dict[str, str]:
    assert answer.status_code == 422, answer.text
    return {e["field"]: e["message"] for e in answer.json()["errors"]}


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"start": "next tuesday"}, "start", "datetime"),
        ({"end": "2026-12-01T25:00:00Z"}, "end", "datetime"),
        ({"start": "2026-12-01T09:00:00"}, "start", "time zone"),
        ({"end": "2026-12-01T08:30:00+01:00"}, "end", "end before it starts"),
        ({"organizer": "not an address"}, "organizer", "not an email address"),
    ],
)
def test_a_malformed_identity_is_refused_naming_the_field(
    client: TestClient,
    session: Session,
    idp: EntraIdentityProvider,
    changes: dict[str, str],
    field: str,
    says: str,
) -> None:
    world = World(session, idp)
    # GIVEN the meeting the daemon stored
    store_by_daemon(session, idp, world, synced())
    # WHEN the pane reads its links with a malformed part of the identity
    errors = errors_of(read(client, world.headers["seller"], **identity(**changes)))
    # THEN 422 names the field and says what is wrong
    assert field in errors, errors
    assert says in errors[field]


def test_an_incomplete_or_misplaced_identity_is_refused_and_nothing_changes(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    seller = world.headers["seller"]
    stored = store_by_daemon(session, idp, world, synced())[UID]
    links_before = session.scalar(select(func.count()).select_from(Link))
    # WHEN part of the identity is missing THEN 422 names the (first) missing field
    partial = {k: v for k, v in identity().items() if k not in ("end", "subject")}
    answer = read(client, seller, **partial)
    assert list(errors_of(answer)) == ["end"]
    assert errors_of(answer)["end"].startswith("give all of organizer, start, end and subject")
    assert answer.json()["detail"].startswith("end: give all of organizer, start, end and subject")
    # AND the same selector in a JSON body names the field inside ``item``
    answer = client.post(
        LINKS,
        json={"item": partial, "target": {"kind": "opportunity", "id": world.deal.id}},
        headers=seller,
    )
    assert list(errors_of(answer)) == ["item.end"]
    # WHEN the identity comes with an iCalendar UID instead of an item id THEN refused too,
    # naming the first identity field sent
    with_uid = {**{k: v for k, v in identity().items() if k != "itemId"}, "iCalUId": UID}
    answer = read(client, seller, **with_uid)
    assert errors_of(answer) == {"organizer": "a meeting's identity goes with itemId only"}
    # WHEN a selector names the item twice, or a recurrence without its UID
    # THEN the field to drop is named (the later id, as the message lists them), in the
    # query and in a body alike
    twice = {"itemId": UNKNOWN_ITEM_ID, "iCalUId": UID}
    assert list(errors_of(read(client, seller, **twice))) == ["itemId"]
    # AND a selector naming nothing is wrong as a whole: the query, or the body's ``item``
    assert list(errors_of(read(client, seller))) == ["query"]
    nothing = {"item": {}, "target": {"kind": "opportunity", "id": world.deal.id}}
    assert list(errors_of(client.post(LINKS, json=nothing, headers=seller))) == ["item"]
    answer = client.post(
        LINKS,
        json={
            "item": {"itemId": UNKNOWN_ITEM_ID, "recurrenceId": "2026-12-01"},
            "target": {"kind": "opportunity", "id": world.deal.id},
        },
        headers=seller,
    )
    assert errors_of(answer) == {"item.recurrenceId": "only with iCalUId"}
    # WHEN the unlink names the meeting with a bad identity THEN refused, nothing removed
    answer = client.delete(
        LINKS,
        params={**identity(start="soon"), "targetKind": "account", "targetId": world.account.id},
        headers=seller,
    )
    assert "start" in errors_of(answer)
    # WHEN a link names it with an end before its start THEN the body's field is named
    answer = client.post(
        LINKS,
        json={
            "item": identity(end="2026-12-01T07:00:00Z"),
            "target": {"kind": "opportunity", "id": world.deal.id},
        },
        headers=seller,
    )
    assert "item.end" in errors_of(answer)
    # AND the stored meeting and its links are as the daemon left them
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Link)) == links_before
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0
    assert session.scalar(select(func.count()).select_from(Meeting)) == 1
    assert session.get(Meeting, stored) is not None


def test_a_meeting_only_the_daemon_stored_shows_its_rule_links_by_identity(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    seller = world.headers["seller"]
    # GIVEN a meeting only the daemon stored (UID key), linked by the rules
    stored = store_by_daemon(session, idp, world, synced())[UID]
    by_uid = read(client, seller, iCalUId=UID).json()
    assert by_uid["links"], "the rules should link a meeting with a known contact"
    assert {lk["originKind"] for lk in by_uid["links"]} <= {"rule", "inferred"}
    # WHEN the pane reads by an Exchange item id nothing is stored under, without identity
    # THEN 404, as before
    assert read(client, seller, itemId=UNKNOWN_ITEM_ID).status_code == 404
    # WHEN it sends the meeting's identity too
    answer = read(client, seller, **identity())
    # THEN the daemon's meeting answers with its rule links, each with its reason
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["item"]["id"] == stored
    assert body["links"] == by_uid["links"]
    reasons = {(lk["targetKind"], lk["targetId"]): lk["reason"] for lk in body["links"]}
    assert "jane@acme.example" in reasons[("contact", world.contact.id)]
    assert all(reasons.values())
    # AND the seller's manager (in reach) reads them the same way
    assert read(client, world.headers["manager"], **identity()).json()["links"] == body["links"]
    # WHEN the seller unlinks the account through the same selector
    removed = client.delete(
        LINKS,
        params={**identity(), "targetKind": "account", "targetId": world.account.id},
        headers=seller,
    )
    # THEN it is gone from the daemon's meeting, and no second meeting row appeared
    assert removed.status_code == 200, removed.text
    assert removed.json()["item"]["id"] == stored
    left = read(client, seller, iCalUId=UID).json()["links"]
    assert ("account", world.account.id) not in {(lk["targetKind"], lk["targetId"]) for lk in left}
    # AND a link through that selector (no snapshot) goes on the daemon's meeting
    created = client.post(
        LINKS,
        json={"item": identity(), "target": {"kind": "opportunity", "id": world.deal.id}},
        headers=seller,
    )
    assert created.status_code == 201, created.text
    assert created.json()["item"]["id"] == stored
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Meeting)) == 1


def test_an_identity_of_someone_elses_meeting_reveals_nothing(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    # GIVEN the seller's meeting, which neither names Olga nor is in her reach
    store_by_daemon(session, idp, world, synced())
    olga = world.headers["other"]
    # WHEN Olga guesses its identity exactly
    guessed = read(client, olga, **identity())
    # THEN 404, word for word the answer for an identity nobody has
    unknown = read(client, olga, **identity(subject="No such meeting"))
    assert guessed.status_code == unknown.status_code == 404
    assert guessed.json() == unknown.json()
    # AND she cannot unlink through it either (same 404)
    unlink = client.delete(
        LINKS,
        params={**identity(), "targetKind": "contact", "targetId": world.contact.id},
        headers=olga,
    )
    assert unlink.status_code == 404
    # AND by its UID she gets the 403 every other route gives her
    assert read(client, olga, iCalUId=UID).status_code == 403


def test_an_invitee_outside_reach_is_told_not_stored_and_linking_adds_their_copy(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    ivy = make_user(session, email="ivy@ourco.example")
    make_mailbox(session, address=ivy.email, owner=ivy)
    session.commit()
    ivy_headers = sign_in(idp, ivy)
    # GIVEN the seller's synced meeting invites Ivy, whose mailbox the daemon has not synced
    stored = store_by_daemon(
        session, idp, world, synced(attendees=("jane@acme.example", ivy.email))
    )[UID]
    # WHEN Ivy's pane reads it by item id and identity
    # THEN 404: invited is not in reach, so nothing about the seller's links shows
    assert read(client, ivy_headers, **identity()).status_code == 404
    # WHEN she links it with the snapshot the pane sends on a 404
    snapshot = {
        "kind": "meeting",
        "itemId": UNKNOWN_ITEM_ID,
        "subject": "Kick-off  ACME",
        "organizer": {"address": "sam@ourco.example"},
        "requiredAttendees": [{"address": "jane@acme.example"}, {"address": ivy.email}],
        "start": "2026-12-01T09:00:00+01:00",
        "end": "2026-12-01T10:00:00+01:00",
        "mailbox": ivy.email,
    }
    created = client.post(
        LINKS,
        json={
            "item": identity(),
            "target": {"kind": "contact", "id": world.contact.id},
            "snapshot": snapshot,
        },
        headers=ivy_headers,
    )
    # THEN it lands on the daemon's meeting (her copy now there), which she then reads
    assert created.status_code == 201, created.text
    assert created.json()["item"]["id"] == stored
    assert read(client, ivy_headers, **identity()).json()["item"]["id"] == stored


def test_an_ambiguous_identity_is_not_guessed(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    seller = world.headers["seller"]
    # GIVEN two meetings in the seller's calendar with one organizer, start, end and subject
    # (an invitation sent twice), both linked by the rules
    twin = UID.replace("BEEF", "F00D")
    stored = store_by_daemon(session, idp, world, synced(), synced(twin))
    assert len(set(stored.values())) == 2
    # WHEN the pane reads by an unknown item id and that identity
    answer = read(client, seller, **identity())
    # THEN 404 (not stored yet): neither is picked, and the answer is the one for no meeting
    assert answer.status_code == 404
    assert answer.json() == read(client, seller, **identity(subject="Nothing")).json()
    # AND each still answers by its own UID
    for uid, meeting_id in stored.items():
        assert read(client, seller, iCalUId=uid).json()["item"]["id"] == meeting_id


def test_the_item_id_answers_before_the_identity(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    world = World(session, idp)
    seller = world.headers["seller"]
    # GIVEN the daemon's meeting, and another meeting the seller linked in the pane by item id
    stored = store_by_daemon(session, idp, world, synced())[UID]
    other = {
        "kind": "meeting",
        "itemId": "AAMk-pane-other",
        "subject": "Another meeting",
        "organizer": {"address": "sam@ourco.example"},
        "start": "2026-12-02T09:00:00Z",
        "end": "2026-12-02T10:00:00Z",
    }
    created = client.post(
        LINKS,
        json={
            "item": {"itemId": "AAMk-pane-other"},
            "target": {"kind": "account", "id": world.account.id},
            "snapshot": other,
        },
        headers=seller,
    )
    assert created.status_code == 201, created.text
    # WHEN a read names that item id with the daemon meeting's identity
    answer = read(client, seller, **identity(itemId="AAMk-pane-other"))
    # THEN the item id decides
    assert answer.json()["item"]["id"] == created.json()["item"]["id"] != stored


def test_the_identity_parameters_are_documented(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    for method in ("get", "delete"):
        parameters = {
            p["name"]: p for p in schema["paths"]["/api/v1/items/links"][method]["parameters"]
        }
        for name in ("organizer", "start", "end", "subject"):
            assert name in parameters, (method, name)
            assert "identity" in parameters[name]["description"]
        assert parameters["start"]["schema"]["anyOf"][0]["format"] == "date-time"
