"""CRM upserts by natural key (what the CSV import calls) and the records for the rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.crm_records import load_crm_records
from crm_store.crm_writes import (
    AccountRow,
    ContactRow,
    OpportunityRow,
    RowsRejected,
    UpsertCounts,
    UserRow,
    contact_problems,
    opportunity_problems,
    upsert_accounts,
    upsert_contacts,
    upsert_opportunities,
    upsert_users,
)
from crm_store.models import User
from tests.crm_store.snapshot import store_rows

ACCOUNTS = [
    AccountRow("Acme Corp", ("acme.example", "acme-group.example"), "ann@ourco.example"),
    AccountRow("Globex", ("globex.example",), None),
]
CONTACTS = [
    ContactRow(
        "Jane", "Doe", ("Jane@Acme.example", "j.doe@acme.example"), "Acme Corp", "CTO", "+1 555"
    ),
    ContactRow("Hank", "Scorpio", ("hank@globex.example",), "Globex"),
]
OPPORTUNITIES = [
    OpportunityRow(
        "opp-000123",
        "Renewal",
        "Acme Corp",
        "proposal",
        "open",
        Decimal("12000.50"),
        "eur",
        date(2026, 6, 30),
        "ann@ourco.example",
    ),
]


def import_all(session: Session) -> list[UpsertCounts]:
    return [
        upsert_accounts(session, ACCOUNTS),
        upsert_contacts(session, CONTACTS),
        upsert_opportunities(session, OPPORTUNITIES),
    ]


def test_importing_the_same_rows_twice_changes_nothing(session: Session) -> None:
    """GIVEN accounts, contacts and opportunities WHEN imported twice
    THEN the second import matches every row and the store is unchanged."""
    first = import_all(session)
    before = store_rows(session)
    second = import_all(session)

    assert first == [UpsertCounts(2, 0), UpsertCounts(2, 0), UpsertCounts(1, 0)]
    assert second == [UpsertCounts(0, 2), UpsertCounts(0, 2), UpsertCounts(0, 1)]
    assert store_rows(session) == before
    assert session.scalar(select(User.email)) == "ann@ourco.example"  # owner became a user


def test_a_reimport_replaces_domains_and_emails(session: Session) -> None:
    """GIVEN an imported CRM WHEN a row lists other domains / emails THEN those replace the old."""
    import_all(session)
    upsert_accounts(session, [AccountRow("Acme Corp", ("acme.example",), None)])
    upsert_contacts(
        session, [ContactRow("Jane", "Doe-Smith", ("j.doe@acme.example",), "Acme Corp")]
    )

    records = load_crm_records(session)
    acme = next(a for a in records.accounts if a.name == "Acme Corp")
    jane = next(c for c in records.contacts if c.name.startswith("Jane"))
    assert (acme.domains, acme.owner_email) == (("acme.example",), None)
    assert (jane.name, jane.emails, jane.account_id) == (
        "Jane Doe-Smith",
        ("j.doe@acme.example",),
        acme.id,
    )


def test_bad_rows_are_all_reported_and_nothing_is_written(session: Session) -> None:
    """GIVEN contact rows with an unknown account, a repeated email and a bad address
    WHEN checked THEN each problem names its row; the upsert refuses and writes nothing."""
    upsert_accounts(session, ACCOUNTS)
    rows = [
        ContactRow("A", "A", ("a@acme.example",), "Nobody Inc"),
        ContactRow("B", "B", ("dup@acme.example",), "Acme Corp"),
        ContactRow("C", "C", ("dup@acme.example",), "Acme Corp"),
        ContactRow("D", "D", ("not-an-address",), None),
    ]
    problems = contact_problems(session, rows)
    assert sorted((p.index, p.field) for p in problems) == [
        (0, "account"),
        (1, "email"),
        (2, "email"),
        (3, "email"),
    ]
    with pytest.raises(RowsRejected) as rejected:
        upsert_contacts(session, rows)
    assert len(rejected.value.problems) == 4
    assert load_crm_records(session).contacts == []


def test_opportunity_problems_name_code_account_and_status(session: Session) -> None:
    upsert_accounts(session, ACCOUNTS)
    rows = [
        OpportunityRow("OPP-1", "x", "Acme Corp"),
        OpportunityRow("opp-1", "y", "Acme Corp"),
        OpportunityRow("OPP-2", "z", "Initech", status="pending"),
    ]
    assert sorted((p.index, p.field) for p in opportunity_problems(session, rows)) == [
        (0, "code"),
        (1, "code"),
        (2, "account"),
        (2, "status"),
    ]


def test_users_with_managers(session: Session) -> None:
    """GIVEN a manager and a salesperson in one batch WHEN upserted THEN the relation is set."""
    counts = upsert_users(
        session,
        [
            UserRow("rep@ourco.example", "Rep", "salesperson", "north", "boss@ourco.example"),
            UserRow("boss@ourco.example", "Boss", "manager", "north"),
        ],
    )
    assert counts == UpsertCounts(2, 0)
    rep = session.execute(select(User).where(User.email == "rep@ourco.example")).scalar_one()
    assert rep.manager is not None and rep.manager.email == "boss@ourco.example"
    with pytest.raises(RowsRejected, match=r"no user ghost@ourco\.example"):
        upsert_users(session, [UserRow("x@ourco.example", manager_email="ghost@ourco.example")])


def test_crm_records_carry_what_the_rules_index_needs(session: Session) -> None:
    import_all(session)
    records = load_crm_records(session)
    [opportunity] = records.opportunities
    assert (opportunity.code, opportunity.status, opportunity.stage, opportunity.owner_email) == (
        "OPP-000123",
        "open",
        "proposal",
        "ann@ourco.example",
    )
    jane = next(c for c in records.contacts if c.name == "Jane Doe")
    assert jane.emails == ("jane@acme.example", "j.doe@acme.example")
    assert records.user_emails == ["ann@ourco.example"]
