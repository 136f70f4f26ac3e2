"""Lookup of addresses, record search, and creating a contact from a sender."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.models import Account, Contact, ContactEmail, User
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.factories import make_account, make_contact, make_opportunity
from tests.web.conftest import Person, person


def test_lookup_returns_contacts_accounts_open_deals_and_suggestions(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    # GIVEN a seller, an account they sell to with a contact, and two open deals (one theirs)
    seller = person(session, idp, email="sam@ourco.example")
    acme = make_account(session, name="Acme", domains=["acme.example"])
    jane = make_contact(session, account=acme, emails=["jane@acme.example"])
    ours = make_opportunity(
        session, account=acme, code="OPP-000001", owner=session.get_one(User, seller.id)
    )
    other = make_opportunity(session, account=acme, code="OPP-000002")
    make_opportunity(session, account=acme, code="OPP-000003", status="won")
    session.commit()
    # WHEN the pane looks up the sender, an unknown colleague of hers and a gmail address
    response = client.get(
        "/api/v1/lookup",
        params={
            "address": ["Jane@Acme.example", "bob@acme.example", "someone@gmail.com", seller.email]
        },
        headers=seller.headers,
    )
    # THEN each address says how it matched
    assert response.status_code == 200, response.text
    body = response.json()
    how = {a["address"]: (a["how"], a["contactId"], a["accountId"]) for a in body["addresses"]}
    assert how == {
        "jane@acme.example": ("contact", jane.id, acme.id),
        "bob@acme.example": ("domain", None, acme.id),
        "someone@gmail.com": ("unknown", None, None),
        "sam@ourco.example": ("internal", None, None),
    }
    assert [c["id"] for c in body["contacts"]] == [jane.id]
    assert [a["name"] for a in body["accounts"]] == ["Acme"]
    # AND open deals only, the suggested one (the seller's) first
    assert [o["code"] for o in body["opportunities"]] == ["OPP-000001", "OPP-000002"]
    suggested = {(s["targetKind"], s["targetId"]): s for s in body["suggestedLinks"]}
    assert suggested[("opportunity", ours.id)]["certain"] is True
    assert suggested[("contact", jane.id)]["reason"]
    assert ("opportunity", other.id) not in suggested


def test_lookup_names_the_bad_address(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    seller = person(session, idp)
    response = client.get(
        "/api/v1/lookup",
        params={"address": ["ok@acme.example", "not an address"]},
        headers=seller.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "address[1]"


def test_search_finds_by_name_code_email_and_domain_literally(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    # GIVEN a few records, one with a LIKE wildcard in its name
    seller = person(session, idp)
    acme = make_account(session, name="Acme 100% Steel", domains=["acme.example"])
    make_account(session, name="Acmeister", domains=["other.example"])
    jane = make_contact(session, account=acme, emails=["jane.doe@acme.example"], first_name="Jane")
    deal = make_opportunity(session, account=acme, code="OPP-004242", name="Rollout")
    session.commit()

    def hits(q: str, *kinds: str) -> set[tuple[str, int]]:
        params: dict[str, object] = {"q": q}
        if kinds:
            params["kind"] = list(kinds)
        response = client.get("/api/v1/records/search", params=params, headers=seller.headers)
        assert response.status_code == 200, response.text
        return {(h["kind"], h["id"]) for h in response.json()["hits"]}

    # THEN code, email prefix, contact name and domain all find the record
    assert ("opportunity", deal.id) in hits("opp-0042")
    assert ("contact", jane.id) in hits("jane.doe@", "contact")
    assert ("contact", jane.id) in hits("Jane", "contact")
    assert ("account", acme.id) in hits("acme.exa", "account")
    # AND wildcards are searched literally: "100%" matches one account, "%" alone nothing extra
    assert hits("100%", "account") == {("account", acme.id)}
    assert hits("_%", "account") == set()
    # AND SQL-looking text is just text
    assert hits("'; DROP TABLE accounts; --") == set()
    assert session.scalar(select(Account.id).where(Account.id == acme.id)) == acme.id


def _create(client: TestClient, who: Person, **body: object) -> object:
    return client.post("/api/v1/contacts", json=body, headers=who.headers)


def test_create_contact_from_sender_infers_the_account_from_the_domain(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    seller = person(session, idp)
    acme = make_account(session, name="Acme", domains=["acme.example"])
    session.commit()
    # WHEN the pane creates a contact for an unknown sender at acme.example
    response = client.post(
        "/api/v1/contacts",
        json={"email": "Bob.Builder@ACME.example", "displayName": "Builder, Bob"},
        headers=seller.headers,
    )
    # THEN the contact exists with the address, the name and Acme as its account
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["contact"]["emails"] == ["bob.builder@acme.example"]
    assert (body["contact"]["firstName"], body["contact"]["lastName"]) == ("Bob", "Builder")
    assert body["account"]["id"] == acme.id
    assert "acme.example" in body["accountReason"]
    session.expire_all()
    stored = session.scalar(
        select(Contact).join(ContactEmail).where(ContactEmail.email == "bob.builder@acme.example")
    )
    assert stored is not None and stored.account_id == acme.id
    # AND the same address again is a 409, not a second contact
    again = client.post(
        "/api/v1/contacts", json={"email": "bob.builder@acme.example"}, headers=seller.headers
    )
    assert again.status_code == 409
    # AND a free-mail sender gets no account
    free = client.post("/api/v1/contacts", json={"email": "bob@gmail.com"}, headers=seller.headers)
    assert free.status_code == 201
    assert free.json()["account"] is None


def test_validation_errors_name_the_field(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    seller = person(session, idp)
    cases = [
        ("/api/v1/contacts", {"email": "nope"}, "email"),
        ("/api/v1/contacts", {"email": "a@acme.example", "colour": "red"}, "colour"),
        ("/api/v1/contacts", {"email": "a@acme.example", "accountId": "x"}, "accountId"),
        ("/api/v1/items/links", {"item": {}, "target": {"kind": "account", "id": 1}}, "item"),
        (
            "/api/v1/items/links",
            {"item": {"itemId": "x"}, "target": {"kind": "planet", "id": 1}},
            "target.kind",
        ),
        (
            "/api/v1/items/track",
            {"kind": "message", "itemId": "x", "to": [{"name": "a", "address": "bad"}]},
            "to[0].address",
        ),
        ("/api/v1/items/track", {"kind": "meeting", "itemId": "x"}, "start"),
    ]
    for path, body, field in cases:
        response = client.post(path, json=body, headers=seller.headers)
        assert response.status_code == 422, (path, body, response.text)
        detail = response.json()
        assert any(field in e["field"] or field in e["message"] for e in detail["errors"]), (
            field,
            detail,
        )
        assert field in detail["detail"]
