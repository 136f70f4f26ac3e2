"""The lookup route's lean path, and the configured custom rules in the web service.

The lookup answer is built without pydantic, so these tests hold it to its
documented schema; the store is read in one statement; and the rules a
deployment configured (inline ``[[rules.rule]]`` and ``[rules] file``) decide
lookups and Track in CRM exactly as they do in the daemon.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from crm_store.models import User
from mailsync.config import Settings
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.factories import make_account, make_contact, make_mailbox, make_opportunity
from tests.web.conftest import PUBLIC_URL, person, web_settings
from web.app import create_app
from web.schemas.lookup import LookupResult


def test_the_lookup_answer_is_exactly_its_documented_schema(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    # GIVEN a contact at an account with an owner, and deals with and without amounts
    seller = person(session, idp, email="sam@ourco.example")
    owner = session.get_one(User, seller.id)
    acme = make_account(session, name="Acme", domains=["acme.example", "acme.test"], owner=owner)
    make_contact(session, account=acme, emails=["jane@acme.example", "j.roe@acme.test"])
    make_opportunity(session, account=acme, code="OPP-000001", amount=Decimal("12500.50"))
    make_opportunity(session, account=acme, code="OPP-000002", owner=owner, amount=None)
    session.commit()
    # WHEN the pane looks the sender and a colleague up
    response = client.get(
        "/api/v1/lookup",
        params={"address": ["jane@acme.example", "bob@acme.example"]},
        headers=seller.headers,
    )
    # THEN the body is what LookupResult would serialise, field for field
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == LookupResult.model_validate(body).model_dump(mode="json", by_alias=True)
    assert body["contacts"][0]["emails"] == ["jane@acme.example", "j.roe@acme.test"]
    assert body["accounts"][0]["domains"] == ["acme.example", "acme.test"]
    assert {o["code"]: o["amount"] for o in body["opportunities"]} == {
        "OPP-000001": "12500.50",
        "OPP-000002": None,
    }
    # AND the OpenAPI schema still documents it
    schema = client.get("/api/v1/openapi.json").json()
    answer = schema["paths"]["/api/v1/lookup"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/LookupResult")


def test_a_lookup_reads_the_store_in_one_statement(
    client: TestClient, session: Session, idp: EntraIdentityProvider, backend: str
) -> None:
    # GIVEN a signed-in seller (the first request binds their Entra object id, the second
    # signs the bound user in and is remembered)
    seller = person(session, idp)
    acme = make_account(session, name="Acme", domains=["acme.example"])
    make_contact(session, account=acme, emails=["jane@acme.example"])
    session.commit()
    params = {"address": ["jane@acme.example", "bob@acme.example"]}
    for _ in range(2):
        assert client.get("/api/v1/lookup", params=params, headers=seller.headers).is_success
    statements: list[str] = []
    engine = client.app.state.web.hot_reads.engine  # type: ignore[attr-defined]

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        # WHEN the pane looks the same people up again
        again = client.get("/api/v1/lookup", params=params, headers=seller.headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # THEN one statement answered it: no sign-in query, and on PostgreSQL not even a BEGIN
    # (SQLite's explicit BEGIN is a local call, not a round trip)
    assert again.status_code == 200
    executed = [s.split()[0] for s in statements]
    assert [s for s in executed if s != "BEGIN"] == ["WITH"]
    if backend == "postgresql":
        assert executed == ["WITH"]
    assert again.json()["addresses"][0]["how"] == "contact"


RULES_FILE = """
[[rule]]
name = "Partner mail is about the partner's contact"
[rule.when]
from_domain = ["partner.example"]
[rule.then]
link_contact = "pat@globex.example"
"""


@pytest.fixture
def custom_rules_client(
    idp: EntraIdentityProvider, session_factory: sessionmaker[Session], tmp_path: Path
) -> Iterator[TestClient]:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(RULES_FILE)
    base = web_settings(idp).model_dump(mode="python")
    base["rules"]["file"] = rules_file
    base["rules"]["rule"] = [
        {
            "name": "Partner deal",
            "when": {"from_domain": ["partner.example"]},
            "then": {"link_opportunity": "OPP-000777", "link_account": "Globex"},
        }
    ]
    settings = Settings.model_validate(base)
    with TestClient(create_app(settings, session_factory), base_url=PUBLIC_URL) as client:
        yield client


def test_configured_custom_rules_decide_lookups_and_tracking(
    custom_rules_client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    # GIVEN rules (inline and in the rules file) that file partner mail under Globex, whose
    # records share nothing with the partner's address
    seller = person(session, idp, email="sam@ourco.example")
    make_mailbox(session, address=seller.email, owner=session.get_one(User, seller.id))
    globex = make_account(session, name="Globex", domains=["globex.example"])
    pat = make_contact(session, account=globex, emails=["pat@globex.example"])
    deal = make_opportunity(session, account=globex, code="OPP-000777")
    session.commit()
    client = custom_rules_client
    # WHEN the pane looks up a sender from the partner
    looked_up = client.get(
        "/api/v1/lookup", params={"address": "max@partner.example"}, headers=seller.headers
    )
    # THEN the custom rules' links are suggested, as the daemon would link them
    assert looked_up.status_code == 200, looked_up.text
    suggested = {(s["targetKind"], s["targetId"]) for s in looked_up.json()["suggestedLinks"]}
    assert {("opportunity", deal.id), ("account", globex.id), ("contact", pat.id)} <= suggested
    # WHEN the seller tracks such a message
    snapshot = {
        "kind": "message",
        "itemId": "AAMk-partner",
        "subject": "Joint offer",
        "body": "Let us talk.",
        "internetMessageId": "<joint-offer@partner.example>",
        "from": {"name": "Max", "address": "max@partner.example"},
        "to": [{"name": "Sam", "address": seller.email}],
        "sentAt": "2026-11-20T09:30:00Z",
    }
    tracked = client.post("/api/v1/items/track", json=snapshot, headers=seller.headers)
    # THEN it is stored with the custom rules' links
    assert tracked.status_code == 200, tracked.text
    links = {(lk["targetType"], lk["targetId"]) for lk in tracked.json()["links"]}
    assert {("opportunity", deal.id), ("account", globex.id), ("contact", pat.id)} <= links
