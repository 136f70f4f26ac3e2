"""CRM records written by natural key: what ``mailsync import`` calls.

Accounts are keyed by name, contacts by their email addresses, opportunities
by code, users by email. Re-importing the same rows changes nothing. Each
``upsert_*`` has a ``*_problems`` twin that checks the rows against each other
and the store and returns every problem with the row's index, so the CLI can
report all bad rows by line and write nothing (or skip them). The upserts
refuse rows with problems rather than guess. Owners named by email that are
not users yet become salespeople, since salespeople are who own records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from crm_store.models import Account, AccountDomain, Contact, ContactEmail, Opportunity, User
from crm_store.upsert import chunks, execute_many, insert_for, table_of

ROLES = ("salesperson", "manager", "admin")
STATUSES = ("open", "won", "lost")


@dataclass(frozen=True, slots=True)
class UserRow:
    email: str
    display_name: str = ""
    role: str = "salesperson"
    team: str | None = None
    manager_email: str | None = None


@dataclass(frozen=True, slots=True)
class AccountRow:
    name: str
    domains: tuple[str, ...] = ()
    owner_email: str | None = None


@dataclass(frozen=True, slots=True)
class ContactRow:
    first_name: str
    last_name: str
    emails: tuple[str, ...]
    account: str | None = None
    title: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class OpportunityRow:
    code: str
    name: str
    account: str
    stage: str = ""
    status: str = "open"
    amount: Decimal | None = None
    currency: str | None = None
    close_date: date | None = None
    owner_email: str | None = None


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why row ``index`` (0-based position in the rows given) cannot be imported."""

    index: int
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    created: int
    updated: int


class RowsRejected(ValueError):
    """Rows with problems were passed to an upsert; nothing was written."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        lines = "; ".join(f"row {p.index}: {p.field}: {p.message}" for p in problems[:20])
        super().__init__(f"{len(problems)} problem(s), nothing written: {lines}")
        self.problems = list(problems)


def _email(value: str) -> str:
    return value.strip().lower()


def _domain(value: str) -> str:
    return value.strip().lower().lstrip("@").rstrip(".")


def _code(value: str) -> str:
    return value.strip().upper()


def _reject_if(problems: list[RowProblem]) -> None:
    if problems:
        raise RowsRejected(problems)


def _existing(session: Session, column: Any, values: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(sorted(set(values))):
        found.update(session.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def _ids_by(session: Session, key: Any, ident: Any, values: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(sorted(set(values))):
        rows = session.execute(select(key, ident).where(key.in_(chunk)))
        found.update({k: int(i) for k, i in rows})
    return found


def _touched(table: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` plus an ``updated_at`` that moves only when a value really changed.

    ON CONFLICT bypasses the ORM's onupdate; and re-importing an unchanged file
    must change nothing, including the timestamps retroactive matching reads.
    """
    differs = or_(*(table.c[name].is_distinct_from(value) for name, value in changes.items()))
    return {**changes, "updated_at": case((differs, func.now()), else_=table.c.updated_at)}


def _duplicates(values: Sequence[str]) -> set[str]:
    return {value for value, n in Counter(values).items() if n > 1}


def ensure_users(session: Session, emails: Iterable[str]) -> dict[str, int]:
    """Ids of the users with these emails, creating salespeople for unknown ones."""
    wanted = sorted({_email(e) for e in emails if e and e.strip()})
    if not wanted:
        return {}
    table = table_of(User)
    upsert = insert_for(session, table).on_conflict_do_nothing().returning(table.c.id)
    execute_many(
        session, upsert, [{"email": e, "display_name": "", "role": ROLES[0]} for e in wanted]
    )
    return _ids_by(session, User.email, User.id, wanted)


# --------------------------------------------------------------------------- users


def user_problems(session: Session, rows: Sequence[UserRow]) -> list[RowProblem]:
    problems: list[RowProblem] = []
    emails = [_email(r.email) for r in rows]
    repeated = _duplicates(emails)
    managers = {_email(r.manager_email) for r in rows if r.manager_email}
    known = set(emails) | _existing(session, User.email, managers)
    for index, row in enumerate(rows):
        if "@" not in emails[index]:
            problems.append(RowProblem(index, "email", f"{row.email!r} is not an email address"))
        if emails[index] in repeated:
            problems.append(RowProblem(index, "email", f"{emails[index]} appears more than once"))
        if row.role not in ROLES:
            problems.append(RowProblem(index, "role", f"{row.role!r} is not one of {ROLES}"))
        if row.manager_email and _email(row.manager_email) not in known:
            problems.append(RowProblem(index, "manager_email", f"no user {row.manager_email}"))
    return problems


def upsert_users(session: Session, rows: Sequence[UserRow]) -> UpsertCounts:
    _reject_if(user_problems(session, rows))
    if not rows:
        return UpsertCounts(0, 0)
    emails = [_email(r.email) for r in rows]
    before = _existing(session, User.email, emails)
    table = table_of(User)
    statement = insert_for(session, table)
    new = statement.excluded
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.email],
        set_=_touched(
            table, {"display_name": new.display_name, "role": new.role, "team": new.team}
        ),
    ).returning(table.c.email, table.c.id)
    values = [
        {"email": e, "display_name": r.display_name, "role": r.role, "team": r.team}
        for e, r in zip(emails, rows, strict=True)
    ]
    ids = {email: int(i) for email, i in execute_many(session, upsert, values)}
    managers = {_email(r.manager_email) for r in rows if r.manager_email}
    ids.update(_ids_by(session, User.email, User.id, managers - set(ids)))
    assignments = [
        {"user_id": ids[e], "manager": ids[_email(r.manager_email)] if r.manager_email else None}
        for e, r in zip(emails, rows, strict=True)
    ]
    session.execute(
        update(table)
        .where(table.c.id == bindparam("user_id"))
        .where(table.c.manager_id.is_distinct_from(bindparam("manager")))
        .values(manager_id=bindparam("manager")),
        assignments,
    )
    return UpsertCounts(created=len(set(emails) - before), updated=len(set(emails) & before))


# --------------------------------------------------------------------------- accounts


def account_problems(session: Session, rows: Sequence[AccountRow]) -> list[RowProblem]:
    problems: list[RowProblem] = []
    names = [r.name.strip() for r in rows]
    repeated = _duplicates(names)
    domain_rows: dict[str, int] = {}
    for index, row in enumerate(rows):
        if not names[index]:
            problems.append(RowProblem(index, "name", "is empty"))
        elif names[index] in repeated:
            problems.append(RowProblem(index, "name", f"{names[index]!r} appears more than once"))
        if row.owner_email and "@" not in row.owner_email:
            problems.append(
                RowProblem(index, "owner_email", f"{row.owner_email!r} is not an email")
            )
        for raw in row.domains:
            domain = _domain(raw)
            if not domain or "." not in domain or "@" in domain:
                problems.append(RowProblem(index, "domains", f"{raw!r} is not a domain"))
            elif domain in domain_rows and domain_rows[domain] != index:
                problems.append(
                    RowProblem(index, "domains", f"{domain} is also on row {domain_rows[domain]}")
                )
            else:
                domain_rows[domain] = index
    held: dict[str, str] = {}
    for chunk in chunks(sorted(domain_rows)):
        rows_held = session.execute(
            select(AccountDomain.domain, Account.name)
            .join(Account, Account.id == AccountDomain.account_id)
            .where(AccountDomain.domain.in_(chunk))
        )
        held.update({d: n for d, n in rows_held})
    for domain, index in domain_rows.items():
        owner = held.get(domain)
        if owner is not None and owner != names[index]:
            problems.append(
                RowProblem(index, "domains", f"{domain} already belongs to account {owner!r}")
            )
    return problems


def upsert_accounts(session: Session, rows: Sequence[AccountRow]) -> UpsertCounts:
    """Accounts by name; each row's domains become the account's whole domain list."""
    _reject_if(account_problems(session, rows))
    if not rows:
        return UpsertCounts(0, 0)
    names = [r.name.strip() for r in rows]
    before = _existing(session, Account.name, names)
    owners = ensure_users(session, (r.owner_email for r in rows if r.owner_email))
    table = table_of(Account)
    statement = insert_for(session, table)
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.name],
        set_=_touched(table, {"owner_id": statement.excluded.owner_id}),
    ).returning(table.c.name, table.c.id)
    values = [
        {"name": n, "owner_id": owners.get(_email(r.owner_email)) if r.owner_email else None}
        for n, r in zip(names, rows, strict=True)
    ]
    ids = {name: int(i) for name, i in execute_many(session, upsert, values)}
    pairs = sorted(
        {(ids[n], _domain(d)) for n, r in zip(names, rows, strict=True) for d in r.domains}
    )
    domains = table_of(AccountDomain)
    for account_chunk in chunks(sorted(set(ids.values()))):
        members = set(account_chunk)
        condition: ColumnElement[bool] = domains.c.account_id.in_(account_chunk)
        keep = [p for p in pairs if p[0] in members]
        if keep:
            condition = and_(condition, tuple_(domains.c.account_id, domains.c.domain).not_in(keep))
        session.execute(domains.delete().where(condition))
    statement = insert_for(session, domains)
    domain_upsert = statement.on_conflict_do_update(
        index_elements=[domains.c.domain], set_={"account_id": statement.excluded.account_id}
    ).returning(domains.c.id)
    execute_many(session, domain_upsert, [{"account_id": a, "domain": d} for a, d in pairs])
    return UpsertCounts(created=len(set(names) - before), updated=len(set(names) & before))


# --------------------------------------------------------------------------- contacts


def contact_problems(session: Session, rows: Sequence[ContactRow]) -> list[RowProblem]:
    problems: list[RowProblem] = []
    accounts = _existing(session, Account.name, (r.account.strip() for r in rows if r.account))
    all_emails = [_email(e) for r in rows for e in r.emails]
    repeated = _duplicates(all_emails)
    owners: dict[str, int] = {}
    for chunk in chunks(sorted(set(all_emails))):
        found = session.execute(
            select(ContactEmail.email, ContactEmail.contact_id).where(ContactEmail.email.in_(chunk))
        )
        owners.update({e: int(c) for e, c in found})
    for index, row in enumerate(rows):
        emails = [_email(e) for e in row.emails]
        if not emails:
            problems.append(RowProblem(index, "email", "a contact needs at least one email"))
        for email in emails:
            if "@" not in email or email.startswith("@") or email.endswith("@"):
                problems.append(RowProblem(index, "email", f"{email!r} is not an email address"))
            elif email in repeated:
                problems.append(RowProblem(index, "email", f"{email} appears on several rows"))
        matched = {owners[e] for e in emails if e in owners}
        if len(matched) > 1:
            problems.append(
                RowProblem(index, "email", "the emails belong to different existing contacts")
            )
        if row.account and row.account.strip() not in accounts:
            problems.append(RowProblem(index, "account", f"no account named {row.account!r}"))
    return problems


def upsert_contacts(session: Session, rows: Sequence[ContactRow]) -> UpsertCounts:
    """Contacts matched by any of their emails; each row's emails become the contact's list."""
    _reject_if(contact_problems(session, rows))
    if not rows:
        return UpsertCounts(0, 0)
    accounts = _ids_by(
        session, Account.name, Account.id, (r.account.strip() for r in rows if r.account)
    )
    emails_of = [[_email(e) for e in r.emails] for r in rows]
    owners: dict[str, int] = {}
    for chunk in chunks(sorted({e for emails in emails_of for e in emails})):
        found = session.execute(
            select(ContactEmail.email, ContactEmail.contact_id).where(ContactEmail.email.in_(chunk))
        )
        owners.update({e: int(c) for e, c in found})

    def fields(row: ContactRow) -> dict[str, Any]:
        return {
            "first_name": row.first_name.strip(),
            "last_name": row.last_name.strip(),
            "title": row.title or None,
            "phone": row.phone or None,
            "account_id": accounts[row.account.strip()] if row.account else None,
        }

    contact_ids: list[int | None] = [
        next((owners[e] for e in emails if e in owners), None) for emails in emails_of
    ]
    existing = [(i, r) for i, r in enumerate(rows) if contact_ids[i] is not None]
    fresh = [(i, r) for i, r in enumerate(rows) if contact_ids[i] is None]
    table = table_of(Contact)
    if existing:
        changes: dict[str, Any] = {
            name: bindparam(f"new_{name}") for name in fields(existing[0][1])
        }
        session.execute(
            update(table)
            .where(table.c.id == bindparam("contact_id"))
            .values(_touched(table, changes)),
            [
                {"contact_id": contact_ids[i], **{f"new_{k}": v for k, v in fields(r).items()}}
                for i, r in existing
            ],
        )
    if fresh:
        inserted = session.execute(
            table.insert().returning(table.c.id, sort_by_parameter_order=True),
            [fields(r) for _, r in fresh],
        ).scalars()
        for (index, _), new_id in zip(fresh, inserted, strict=True):
            contact_ids[index] = int(new_id)
    final = [int(c) for c in contact_ids if c is not None]
    pairs = [
        (final[index], email, position)
        for index, emails in enumerate(emails_of)
        for position, email in enumerate(dict.fromkeys(emails))
    ]
    emails_table = table_of(ContactEmail)
    for contact_chunk in chunks(sorted(set(final))):
        members = set(contact_chunk)
        keep = [(c, e) for c, e, _ in pairs if c in members]
        condition = and_(
            emails_table.c.contact_id.in_(contact_chunk),
            tuple_(emails_table.c.contact_id, emails_table.c.email).not_in(keep),
        )
        session.execute(emails_table.delete().where(condition))
    statement = insert_for(session, emails_table)
    new = statement.excluded
    email_upsert = statement.on_conflict_do_update(
        index_elements=[emails_table.c.email],
        set_={"contact_id": new.contact_id, "position": new.position},
    ).returning(emails_table.c.id)
    execute_many(
        session,
        email_upsert,
        [{"contact_id": c, "email": e, "position": p} for c, e, p in pairs],
    )
    return UpsertCounts(created=len(fresh), updated=len(existing))


# --------------------------------------------------------------------------- opportunities


def opportunity_problems(session: Session, rows: Sequence[OpportunityRow]) -> list[RowProblem]:
    problems: list[RowProblem] = []
    codes = [_code(r.code) for r in rows]
    repeated = _duplicates(codes)
    accounts = _existing(session, Account.name, (r.account.strip() for r in rows))
    for index, row in enumerate(rows):
        if not codes[index]:
            problems.append(RowProblem(index, "code", "is empty"))
        elif codes[index] in repeated:
            problems.append(RowProblem(index, "code", f"{codes[index]} appears more than once"))
        if row.account.strip() not in accounts:
            problems.append(RowProblem(index, "account", f"no account named {row.account!r}"))
        if row.status not in STATUSES:
            problems.append(RowProblem(index, "status", f"{row.status!r} is not one of {STATUSES}"))
        if row.currency is not None and len(row.currency.strip()) != 3:
            problems.append(RowProblem(index, "currency", f"{row.currency!r} is not ISO 4217"))
        if row.owner_email and "@" not in row.owner_email:
            problems.append(
                RowProblem(index, "owner_email", f"{row.owner_email!r} is not an email")
            )
    return problems


def upsert_opportunities(session: Session, rows: Sequence[OpportunityRow]) -> UpsertCounts:
    _reject_if(opportunity_problems(session, rows))
    if not rows:
        return UpsertCounts(0, 0)
    codes = [_code(r.code) for r in rows]
    before = _existing(session, Opportunity.code, codes)
    accounts = _ids_by(session, Account.name, Account.id, (r.account.strip() for r in rows))
    owners = ensure_users(session, (r.owner_email for r in rows if r.owner_email))
    values = [
        {
            "code": code,
            "name": r.name.strip(),
            "account_id": accounts[r.account.strip()],
            "stage": r.stage.strip(),
            "status": r.status,
            "amount": r.amount,
            "currency": r.currency.strip().upper() if r.currency else None,
            "close_date": r.close_date,
            "owner_id": owners.get(_email(r.owner_email)) if r.owner_email else None,
        }
        for code, r in zip(codes, rows, strict=True)
    ]
    table = table_of(Opportunity)
    statement = insert_for(session, table)
    new = statement.excluded
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.code],
        set_=_touched(
            table,
            {
                column: getattr(new, column)
                for column in (
                    "name",
                    "account_id",
                    "stage",
                    "status",
                    "amount",
                    "currency",
                    "close_date",
                    "owner_id",
                )
            },
        ),
    ).returning(table.c.id)
    execute_many(session, upsert, values)
    return UpsertCounts(created=len(set(codes) - before), updated=len(set(codes) & before))
