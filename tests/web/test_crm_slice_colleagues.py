"""The lookup's slice reads none of our colleagues at a domain the configuration makes ours,
and still calls them colleagues (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import session_scope
from rules.settings import RulesSettings
from tests.factories import make_mailbox, make_user
from web.crm_slice import load_slice
from web.rules_context import RulesContext

FREE_MAIL = frozenset({"gmail.com"})


def test_a_configured_mailboxs_domain_is_ours_without_reading_who_is_there(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    # GIVEN no configured internal domain, a configured mailbox at ourco.example, users there,
    # and a user at a subsidiary's domain
    with session_scope(session_factory, write=True) as session:
        for n in range(3):
            make_user(session, email=f"rep{n}@ourco.example")
        make_mailbox(session, address="sales@ourco.example")
        make_user(session, email="kim@subsidiary.example")
    # WHEN an item among a colleague, the subsidiary and a gmail.com customer is looked up
    with engine.connect() as connection:
        crm = load_slice(
            connection,
            ["rep0@ourco.example", "lee@subsidiary.example", "buyer@gmail.com"],
            configured_addresses=["Sales@OurCo.example", "kim.private@gmail.com"],
            free_mail_domains=FREE_MAIL,
        )
    # THEN only the subsidiary's people are read ...
    assert crm.records.our_addresses == ["kim@subsidiary.example"]
    # ... and the verdict is the one over all of them: both domains ours, gmail.com not
    assert crm.is_internal("rep0@ourco.example")
    assert crm.is_internal("anyone@ourco.example")
    assert crm.is_internal("lee@subsidiary.example")
    assert crm.is_internal("kim.private@gmail.com")
    assert not crm.is_internal("buyer@gmail.com")


def test_the_signed_in_users_domain_is_ours_without_reading_who_is_there(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    # GIVEN nothing configured (no internal domain, no [[mailboxes]]) and colleagues at ourco
    with session_scope(session_factory, write=True) as session:
        for n in range(3):
            make_user(session, email=f"rep{n}@ourco.example")
    rules = RulesContext(RulesSettings(), internal_domains=())
    addresses = ["rep1@ourco.example", "buyer@customer.example"]
    with engine.connect() as connection:
        # WHEN the lookup knows nobody as ours, every colleague at the domain is read
        anonymous = rules.load_slice(connection, addresses)
        # ... but when rep0 is the one signed in, their domain is settled
        signed_in = rules.load_slice(connection, addresses, ours="rep0@ourco.example")
    assert len(anonymous.records.our_addresses) == 3
    # THEN no colleague is read, and the verdict is the same
    assert signed_in.records.our_addresses == []
    for crm in (anonymous, signed_in):
        assert crm.is_internal("rep1@ourco.example")
        assert crm.is_internal("someone.new@ourco.example")
        assert not crm.is_internal("buyer@customer.example")
