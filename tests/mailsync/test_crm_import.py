"""CSV import of CRM records, on SQLite and PostgreSQL (the ``session`` fixture).

Bad input gets a clear report and loses nothing; good input lands exactly once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_store.models import (
    Account,
    AccountDomain,
    Base,
    Contact,
    ContactEmail,
    Opportunity,
    User,
)
from mailsync.crm_import import KINDS, CsvFileError, ImportReport, import_file
from tests.factories import make_account, make_contact, make_user

CRM_TABLES = [User, Account, AccountDomain, Contact, ContactEmail, Opportunity]


def csv_file(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def run(session: Session, kind: str, path: Path, **options: Any) -> ImportReport:
    return import_file(KINDS[kind], path, session, **options)


def counts(session: Session) -> dict[str, int]:
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
        for model in CRM_TABLES
    }


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    tables = [model.__table__ for model in CRM_TABLES]
    return {
        table.name: [tuple(row) for row in session.execute(select(table).order_by(table.c.id))]
        for table in Base.metadata.sorted_tables
        if table in tables
    }


def test_several_kinds_of_bad_rows_are_all_reported_and_nothing_is_written(
    session: Session, tmp_path: Path
) -> None:
    # GIVEN a store with one account and one user, and a file with one good row
    # and bad rows of every kind
    owner = make_user(session, email="owner@ourco.example")
    make_account(session, name="Acme", domains=["acme.example"], owner=owner)
    before = counts(session)
    path = csv_file(
        tmp_path,
        "code,name,account,stage,status,amount,currency,close_date,owner_email\n"
        "OPP-000001,Good,Acme,Proposal,open,1000.00,EUR,2026-06-30,owner@ourco.example\n"
        "OPP-000002,Unknown account,Initech,,open,,,,\n"
        "OPP-000003,Bad date,Acme,,open,,,2026-02-30,\n"
        "OPP-000004,Bad amount,Acme,,open,12k,EUR,,\n"
        "OPP-000005,Bad status,Acme,,pending,,,,\n"
        "OPP-000001,Duplicate code,Acme,,won,,,,\n"
        "OPP-000006,Bad owner email,Acme,,open,,,,owner@\n"
        "OPP-000007,Unknown owner,Acme,,open,,,,ghost@ourco.example\n",
    )
    # WHEN it is imported without --skip-bad-rows
    report = run(session, "opportunities", path)
    # THEN every bad row is reported by line with its reason, and nothing was written
    reasons = {bad.line: " ".join(bad.reasons) for bad in report.bad_rows}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert "unknown account 'Initech'" in reasons[3]
    assert "bad close_date '2026-02-30'" in reasons[4]
    assert "bad amount '12k'" in reasons[5]
    assert "bad status 'pending'" in reasons[6]
    assert "duplicate code 'OPP-000001' (first on line 2)" in reasons[7]
    assert "bad owner_email" in reasons[8]
    assert "ghost@ourco.example is not a known user" in reasons[9]
    assert report.written == 0
    assert "nothing was written" in report.summary()
    assert counts(session) == before


def test_skip_bad_rows_writes_the_good_rows_and_reports_the_same_bad_ones(
    session: Session, tmp_path: Path
) -> None:
    # GIVEN a contacts file with two good rows and two bad ones
    make_account(session, name="Acme", domains=["acme.example"])
    path = csv_file(
        tmp_path,
        "first_name,last_name,email,account,title,phone\n"
        "Jane,Doe,jane@acme.example;j.doe@acme.example,Acme,CTO,+1 555 0100\n"
        "Bob,Broken,bob@,Acme,,\n"
        "Carl,Nobody,carl@initech.example,Initech,,\n"
        "Lone,Wolf,lone@wolf.example,,,\n",
    )
    # WHEN imported with skip_bad_rows
    report = run(session, "contacts", path, skip_bad_rows=True)
    # THEN the good rows are stored, with all their addresses in order
    assert [bad.line for bad in report.bad_rows] == [3, 4]
    assert report.written == 2
    jane = session.scalars(
        select(Contact).join(ContactEmail).where(ContactEmail.email == "jane@acme.example")
    ).one()
    assert [e.email for e in jane.emails] == ["jane@acme.example", "j.doe@acme.example"]
    assert (jane.title, jane.phone, jane.account.name) == ("CTO", "+1 555 0100", "Acme")
    assert session.scalar(select(func.count()).select_from(Contact)) == 2


def test_reimporting_the_same_files_changes_nothing(session: Session, tmp_path: Path) -> None:
    # GIVEN a full CRM imported once
    files = {
        "users": "email,display_name,role,team,manager_email\n"
        "ann@ourco.example,Ann,salesperson,EMEA,boss@ourco.example\n"
        "boss@ourco.example,Boss,manager,EMEA,\n",
        "accounts": "name,domains,owner_email\nAcme,acme.example;acme.test,ann@ourco.example\n",
        "contacts": "first_name,last_name,email,account,title,phone\n"
        "Jane,Doe,jane@acme.example;jd@acme.test,Acme,CTO,\n",
        "opportunities": "code,name,account,stage,status,amount,currency,close_date,owner_email\n"
        "OPP-000123,Deal,Acme,Won,won,99.50,USD,2026-01-31,ann@ourco.example\n",
    }
    paths = {kind: csv_file(tmp_path, text, f"{kind}.csv") for kind, text in files.items()}
    for kind, path in paths.items():
        assert run(session, kind, path).ok
    # and every row's updated_at moved into the past, so any rewrite would show
    past = datetime(2020, 1, 1, tzinfo=UTC)
    for model in (User, Account, Contact, Opportunity):
        session.execute(update(model).values(updated_at=past))
    before = snapshot(session)
    # WHEN the same files are imported again
    for kind, path in paths.items():
        assert run(session, kind, path).ok
    session.expire_all()
    # THEN no row was added, removed or touched
    assert snapshot(session) == before
    ann = session.scalars(select(User).where(User.email == "ann@ourco.example")).one()
    assert ann.manager is not None and ann.manager.email == "boss@ourco.example"
    deal = session.scalars(select(Opportunity)).one()
    assert (deal.amount, deal.currency, deal.close_date) == (
        Decimal("99.50"),
        "USD",
        date(2026, 1, 31),
    )


def test_a_changed_row_updates_the_record_by_its_natural_key(
    session: Session, tmp_path: Path
) -> None:
    # GIVEN a contact already in the store with two addresses
    acme = make_account(session, name="Acme", domains=["acme.example"])
    contact = make_contact(
        session, account=acme, emails=["jane@acme.example", "old@acme.example"], title="CTO"
    )
    # WHEN a file names the contact by one address, with a new title and address list
    path = csv_file(
        tmp_path,
        "first_name,last_name,email,account,title,phone\n"
        "Jane,Doe,new@acme.example;jane@acme.example,Acme,CEO,\n",
    )
    assert run(session, "contacts", path).ok
    session.expire_all()
    # THEN the same contact is updated and its addresses are exactly the file's
    updated = session.get(Contact, contact.id)
    assert updated is not None and updated.title == "CEO"
    assert [e.email for e in updated.emails] == ["new@acme.example", "jane@acme.example"]
    assert session.scalar(select(func.count()).select_from(Contact)) == 1


def test_domain_owned_by_another_account_is_a_bad_row(session: Session, tmp_path: Path) -> None:
    # GIVEN acme.example belonging to Acme in the store
    make_account(session, name="Acme", domains=["acme.example"])
    path = csv_file(
        tmp_path, "name,domains,owner_email\nGlobex,globex.example;ACME.example,\nInitech,x,\n"
    )
    # WHEN another account claims it (and one row has a malformed domain)
    report = run(session, "accounts", path)
    # THEN both rows are refused with their reasons
    reasons = {bad.line: " ".join(bad.reasons) for bad in report.bad_rows}
    assert "domain acme.example already belongs to account 'Acme'" in reasons[2]
    assert "bad domains" in reasons[3]


def test_users_may_name_a_manager_further_down_but_not_a_refused_one(
    session: Session, tmp_path: Path
) -> None:
    # GIVEN users whose managers appear later in the file, one of them on a bad row
    path = csv_file(
        tmp_path,
        "email,display_name,role,team,manager_email\n"
        "ann@ourco.example,Ann,salesperson,,boss@ourco.example\n"
        "bob@ourco.example,Bob,salesperson,,bad@ourco.example\n"
        "boss@ourco.example,Boss,manager,,\n"
        "bad@ourco.example,Bad,emperor,,\n",
    )
    # WHEN imported skipping bad rows
    report = run(session, "users", path, skip_bad_rows=True)
    # THEN Bob is refused because his manager's row is, and Ann gets her manager
    reasons = {bad.line: " ".join(bad.reasons) for bad in report.bad_rows}
    assert "bad role 'emperor'" in reasons[5]
    assert "manager_email bad@ourco.example is on line 5, which is refused" in reasons[3]
    ann = session.scalars(select(User).where(User.email == "ann@ourco.example")).one()
    assert ann.manager is not None and ann.manager.email == "boss@ourco.example"
    assert session.scalar(select(func.count()).select_from(User)) == 2


def test_bom_crlf_blank_lines_and_padding_are_accepted(session: Session, tmp_path: Path) -> None:
    # GIVEN a spreadsheet-style file: BOM, CRLF, blank lines, padded cells, upper-case header
    path = tmp_path / "accounts.csv"
    path.write_bytes(
        b"\xef\xbb\xbfName , Domains,OWNER_EMAIL\r\n\r\n  Acme  , acme.example ; Acme.Test ,\r\n"
        b"\r\n,,\r\nGlobex,globex.example,\r\n"
    )
    # WHEN imported
    report = run(session, "accounts", path)
    # THEN both accounts are stored with normalised domains
    assert report.ok and report.written == 2
    domains = session.scalars(select(AccountDomain.domain).order_by(AccountDomain.domain)).all()
    assert domains == ["acme.example", "acme.test", "globex.example"]
    assert session.scalars(select(Account.name).order_by(Account.name)).all() == [
        "Acme",
        "Globex",
    ]


def test_line_numbers_count_physical_lines_including_quoted_newlines(
    session: Session, tmp_path: Path
) -> None:
    make_account(session, name="Acme", domains=["acme.example"])
    path = csv_file(
        tmp_path,
        "first_name,last_name,email,account,title,phone\n"
        'Jane,Doe,jane@acme.example,Acme,"Head of\nEverything",\n'
        "\n"
        "Bob,Bad,bob@@acme.example,Acme,,\n"
        "Too,Many,t@acme.example,Acme,,,extra\n",
    )
    report = run(session, "contacts", path)
    assert [bad.line for bad in report.bad_rows] == [5, 6]
    assert "7 values but the header has 6 columns" in str(report.bad_rows[1])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("name,owner_email", "missing column domains"),
        ("name,domains,owner_email,notes", "unknown column 'notes'"),
        ("name,domain,owner_email", "unknown column 'domain' (did you mean domains?)"),
        ("name;domains;owner_email", "looks separated by ';'"),
    ],
)
def test_header_problems_stop_the_import_naming_the_column(
    session: Session, tmp_path: Path, header: str, message: str
) -> None:
    path = csv_file(tmp_path, f"{header}\nAcme,acme.example,\n")
    with pytest.raises(CsvFileError) as caught:
        run(session, "accounts", path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert counts(session)["accounts"] == 0


def test_a_file_that_is_not_utf8_is_refused_with_the_fix(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,domains,owner_email\nMüller GmbH,mueller.example,\n".encode("latin-1"))
    with pytest.raises(CsvFileError) as caught:
        run(session, "accounts", path)
    assert "not UTF-8" in str(caught.value)
    assert "CSV UTF-8" in str(caught.value)


def test_the_sandbox_sample_crm_imports_cleanly(session: Session, tmp_path: Path) -> None:
    # GIVEN the sample CRM the sandbox writes for `make demo`
    from mailsync.sandbox import generate_company, write_crm_csv

    paths = write_crm_csv(generate_company(7, mailboxes=3), tmp_path)
    # WHEN its four files are imported in dependency order
    reports = [run(session, kind, paths[kind]) for kind in KINDS]
    # THEN no row is refused and every record is stored
    assert [bad for report in reports for bad in report.bad_rows] == []
    assert counts(session)["opportunities"] == reports[-1].written > 0
