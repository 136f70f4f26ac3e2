"""Our users' and mailboxes' addresses, and the SQL domain of an address, on both backends."""

from __future__ import annotations

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from crm_store.models import Mailbox, User
from crm_store.our_addresses import email_domain, our_addresses
from tests.factories import make_mailbox, make_user


def test_our_addresses_are_every_user_and_mailbox_once_lower_cased(session: Session) -> None:
    # GIVEN users and mailboxes, one address being both a user's and a mailbox
    make_user(session, email="Kim@Subsidiary.example")
    make_user(session, email="sam@ourco.example")
    make_mailbox(session, address="sam@ourco.example")
    make_mailbox(session, address="shared@branch.example")
    session.flush()
    # WHEN read, THEN each address once, lower-cased
    assert our_addresses(session) == [
        "kim@subsidiary.example",
        "sam@ourco.example",
        "shared@branch.example",
    ]


def test_email_domain_selects_by_domain_whatever_the_stored_case(session: Session) -> None:
    # GIVEN addresses at several domains, one stored with capitals
    make_user(session, email="Kim@Subsidiary.EXAMPLE")
    make_user(session, email="sam@ourco.example")
    make_mailbox(session, address="shared@branch.example")
    session.flush()
    # WHEN selecting the users' and mailboxes' addresses at two domains (as record_reach does)
    wanted = ["subsidiary.example", "branch.example"]
    found = session.scalars(
        union_all(
            select(User.email).where(email_domain(User.email).in_(wanted)),
            select(Mailbox.address).where(email_domain(Mailbox.address).in_(wanted)),
        )
    )
    # THEN exactly those at the two domains, and the domain reads as Python's would
    assert sorted(found) == ["Kim@Subsidiary.EXAMPLE", "shared@branch.example"]
    assert session.scalar(select(email_domain(User.email)).where(User.email.like("sam@%"))) == (
        "ourco.example"
    )
