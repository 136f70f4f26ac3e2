"""The add-in calls the same people colleagues as the daemon: configured domains plus our
users and mailboxes, including those created after the web service started."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store.items import Address, Direction
from mailsync.config import Settings
from mailsync.direction import message_direction
from mailsync.runtime import internal_parties
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.factories import make_account, make_mailbox, make_user, message_item
from tests.web.conftest import PUBLIC_URL, person, web_settings
from web.app import create_app

KIM = "kim@subsidiary.example"  # a user, in a domain [rules] internal_domains does not list
LEE = "lee@subsidiary.example"  # a colleague of Kim's who is no mailsync user
SHARED = "shared@branch.example"  # a synced mailbox in another unlisted domain
PRIVATE = "kim.private@gmail.com"  # a user's private address at a free-mail provider
CUSTOMER_ON_GMAIL = "buyer@gmail.com"
CUSTOMER = "jane@acme.example"


def how(client: TestClient, headers: dict[str, str], addresses: list[str]) -> dict[str, str]:
    response = client.get("/api/v1/lookup", params={"address": addresses}, headers=headers)
    assert response.status_code == 200, response.text
    return {match["address"]: match["how"] for match in response.json()["addresses"]}


def test_users_and_mailboxes_outside_the_configured_domains_are_internal_as_in_the_daemon(
    client: TestClient,
    session: Session,
    session_factory: sessionmaker[Session],
    idp: EntraIdentityProvider,
) -> None:
    # GIVEN the web service already running with internal_domains = ["ourco.example"]
    seller = person(session, idp, email="sam@ourco.example")
    # AND, created after it started: a user and a mailbox in unlisted domains, a user's
    # private gmail address, and a customer account
    make_user(session, email=KIM)
    make_user(session, email=PRIVATE)
    make_mailbox(session, address=SHARED)
    make_account(session, name="Acme", domains=["acme.example"])
    session.commit()
    addresses = [KIM, LEE, SHARED, "sales@branch.example", PRIVATE, CUSTOMER_ON_GMAIL, CUSTOMER]
    # WHEN the add-in looks the addresses up
    seen = how(client, seller.headers, addresses)
    # THEN our people, and anyone at their (non-free-mail) domains, are internal
    assert seen == {
        KIM: "internal",
        LEE: "internal",
        SHARED: "internal",
        "sales@branch.example": "internal",
        PRIVATE: "internal",
        CUSTOMER_ON_GMAIL: "unknown",
        CUSTOMER: "domain",
    }
    # AND the daemon, built over the same store and config, says exactly the same
    daemon = internal_parties(web_settings(idp), session_factory)
    assert {a: daemon.is_internal(Address(a)) for a in addresses} == {
        a: seen[a] == "internal" for a in addresses
    }
    # AND so Lee's mail to a customer is outbound, and the gmail buyer's mail inbound
    to_customer = message_item(sender=LEE, to=[CUSTOMER])
    assert message_direction(to_customer, daemon) is Direction.OUTBOUND
    from_buyer = message_item(sender=CUSTOMER_ON_GMAIL, to=[KIM])
    assert message_direction(from_buyer, daemon) is Direction.INBOUND


def test_a_user_added_while_the_service_runs_counts_at_the_next_lookup(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    # GIVEN a running service that calls an address at a new domain unknown
    seller = person(session, idp, email="sam@ourco.example")
    assert how(client, seller.headers, ["pat@acquired.example"]) == {
        "pat@acquired.example": "unknown"
    }
    # WHEN an admin adds a user at that domain (no restart)
    make_user(session, email="chris@acquired.example")
    session.commit()
    # THEN the next lookup calls the address internal
    assert how(client, seller.headers, ["pat@acquired.example"]) == {
        "pat@acquired.example": "internal"
    }


def test_a_configured_mailbox_not_yet_registered_is_internal_as_in_the_daemon(
    idp: EntraIdentityProvider, session: Session, session_factory: sessionmaker[Session]
) -> None:
    # GIVEN [[mailboxes]] naming one at remote.example that no daemon has registered yet
    base = web_settings(idp).model_dump(mode="python", exclude_none=True)
    settings = Settings.model_validate(
        {
            **base,
            "tenant": {
                "tenant_id": idp.tenant_id,
                "client_id": "66666666-7777-8888-9999-000000000000",
                "client_secret_env": "MAILSYNC_CLIENT_SECRET",
            },
            "mailboxes": [{"address": "Desk@Remote.example"}],
        }
    )
    seller = person(session, idp, email="sam@ourco.example")
    with TestClient(create_app(settings, session_factory), base_url=PUBLIC_URL) as client:
        # WHEN the add-in looks up the mailbox and a colleague at its domain
        seen = how(client, seller.headers, ["desk@remote.example", "ops@remote.example"])
    # THEN both are internal, as the daemon (which counts configured mailboxes) says
    daemon = internal_parties(settings, session_factory)
    assert seen == {"desk@remote.example": "internal", "ops@remote.example": "internal"}
    assert all(daemon.is_internal(Address(a)) for a in seen)
