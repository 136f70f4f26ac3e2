"""The lookup's read of our colleagues at an item's domains: an index probe on both backends,
and nothing at all at a configured domain.

Asked on the statement the lookup really sends (captured from the driver), so
a change to ``email_domain``'s spelling that no longer matches the indexes of
revision 0011 shows here, not as a slow add-in in production.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from crm_store.database import session_scope
from crm_store.models import Mailbox, User
from crm_store.record_reach import read_reachable_records
from tests.factories import make_contact, make_mailbox, make_user

STAFF = 3_000
DOMAINS = 300


def _seed_a_company(session: Session) -> None:
    """Thousands of users and mailboxes over hundreds of domains (subsidiaries): enough that
    PostgreSQL's planner, which reads a table of a few pages whole, weighs an index."""
    session.execute(
        insert(User),
        [{"email": f"seller{n}@branch{n % DOMAINS}.example"} for n in range(STAFF)],
    )
    session.execute(
        insert(Mailbox),
        [{"address": f"box{n}@branch{n % DOMAINS}.example"} for n in range(STAFF)],
    )
    make_user(session, email="kim@ourco.example")
    make_mailbox(session, address="sales@ourco.example")
    make_contact(session, emails=["buyer@customer.example"])


@contextmanager
def _captured(connection: Connection) -> Iterator[list[tuple[str, Any]]]:
    sent: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(connection, "before_cursor_execute", note)


def _plan(connection: Connection, statement: str, parameters: Any) -> str:
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(row[0] for row in rows)
    rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
    return "\n".join(row[-1] for row in rows)


def test_the_lookup_reads_our_users_and_mailboxes_by_domain_index(
    engine: Engine, session_factory: Any
) -> None:
    # GIVEN a company with thousands of users and mailboxes, planner statistics fresh
    with session_scope(session_factory, write=True) as session:
        _seed_a_company(session)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ANALYZE users"))
            connection.execute(text("ANALYZE mailboxes"))
        connection.commit()
        # WHEN the add-in looks up an item between a customer and a colleague
        with _captured(connection) as sent:
            records = read_reachable_records(
                connection, ["buyer@customer.example", "kim@ourco.example"]
            )
        (statement, parameters) = sent[-1]
        plan = _plan(connection, statement, parameters)
    # THEN the answer holds our colleagues at those domains (the statement is the real one) ...
    assert sorted(records.our_addresses) == ["kim@ourco.example", "sales@ourco.example"]
    # ... and the plan probes both domain indexes and scans neither table
    assert "ix_users_email_domain" in plan, plan
    assert "ix_mailboxes_address_domain" in plan, plan
    scans = re.compile(r"(Seq Scan on|SCAN) (users|mailboxes)\b")
    assert not scans.search(plan), plan


def test_the_lookup_reads_no_colleague_at_a_domain_the_configuration_makes_ours(
    engine: Engine, session_factory: Any
) -> None:
    # GIVEN users and a mailbox at the configured domain, and a user at a subsidiary's
    with session_scope(session_factory, write=True) as session:
        for n in range(3):
            make_user(session, email=f"rep{n}@ourco.example")
        make_mailbox(session, address="sales@ourco.example")
        make_user(session, email="kim@subsidiary.example")
    # WHEN an item between a colleague at each is looked up, ourco.example being configured
    with engine.connect() as connection:
        records = read_reachable_records(
            connection,
            ["rep0@ourco.example", "lee@subsidiary.example"],
            settled_domains=["OurCo.example"],
        )
    # THEN only the subsidiary's people are read (the configured domain is ours whoever is
    # there), while which asked-for addresses are users' is still known
    assert records.our_addresses == ["kim@subsidiary.example"]
    assert records.user_emails == ["rep0@ourco.example"]
