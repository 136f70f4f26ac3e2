"""Set-based upserts of checked CRM records, keyed by their natural keys.

One statement per table per call (``INSERT … ON CONFLICT DO UPDATE … WHERE``
something differs), so importing the same file twice updates no row and
leaves ``updated_at`` alone: re-import changes nothing. For the records in
the file, the file is the truth: an account's domains and a contact's
addresses become exactly those listed. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from crm_store.models import Account, AccountDomain, Contact, ContactEmail, Opportunity, User
from crm_store.upsert import chunks, execute_many, insert_for
from mailsync.crm_import.records import (
    AccountRecord,
    ContactRecord,
    OpportunityRecord,
    UserRecord,
)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _changed(table: Table, excluded: Any, columns: Iterable[str]) -> ColumnElement[bool]:
    return or_(*(table.c[name].is_distinct_from(excluded[name]) for name in columns))


def _upsert(
    session: Session, model: Any, key: str, rows: Sequence[dict[str, Any]], *, touch: bool = True
) -> None:
    """INSERT rows; on a key conflict update only the rows whose values differ."""
    if not rows:
        return
    table = _table(model)
    columns = [name for name in rows[0] if name != key]
    statement = insert_for(session, table)
    assignments: dict[str, Any] = {name: statement.excluded[name] for name in columns}
    if touch:
        assignments["updated_at"] = func.now()
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_=assignments,
        where=_changed(table, statement.excluded, columns),
    ).returning(table.c.id)  # RETURNING is what batches the rows into multi-row VALUES
    execute_many(session, upsert, rows)


def _ids_by(session: Session, key: Any, value: Any, wanted: Collection[Any]) -> dict[Any, Any]:
    found: dict[Any, Any] = {}
    for chunk in chunks(sorted(set(wanted))):
        found.update((k, v) for k, v in session.execute(select(key, value).where(key.in_(chunk))))
    return found


def _user_ids(session: Session, emails: Iterable[str | None]) -> dict[str, int]:
    return _ids_by(session, User.email, User.id, {e for e in emails if e})


def _account_ids(session: Session, names: Iterable[str | None]) -> dict[str, int]:
    return _ids_by(session, Account.name, Account.id, {n for n in names if n})


# --------------------------------------------------------------------------- users


def write_users(session: Session, records: Sequence[UserRecord]) -> None:
    rows = [
        {"email": r.email, "display_name": r.display_name, "role": r.role, "team": r.team}
        for r in records
    ]
    _upsert(session, User, "email", rows)
    # Managers second: a manager may be a user created by this same call.
    ids = _user_ids(session, [r.email for r in records] + [r.manager_email for r in records])
    users = _table(User)
    statement = (
        update(users)
        .where(users.c.id == bindparam("user_id"))
        .where(users.c.manager_id.is_distinct_from(bindparam("new_manager_id")))
        .values(manager_id=bindparam("new_manager_id"))
    )
    params = [
        {
            "user_id": ids[r.email],
            "new_manager_id": ids[r.manager_email] if r.manager_email else None,
        }
        for r in records
    ]
    if params:
        session.connection().execute(statement, params)


# --------------------------------------------------------------------------- accounts


def write_accounts(session: Session, records: Sequence[AccountRecord]) -> None:
    owners = _user_ids(session, (r.owner_email for r in records))
    rows = [
        {"name": r.name, "owner_id": owners[r.owner_email] if r.owner_email else None}
        for r in records
    ]
    _upsert(session, Account, "name", rows)
    ids = _account_ids(session, (r.name for r in records))
    wanted = {(ids[r.name], domain) for r in records for domain in r.domains}
    _replace_children(
        session,
        AccountDomain,
        parent_column="account_id",
        value_column="domain",
        parent_ids=set(ids.values()),
        wanted=[{"account_id": a, "domain": d} for a, d in sorted(wanted)],
    )


# --------------------------------------------------------------------------- contacts


def write_contacts(session: Session, records: Sequence[ContactRecord]) -> None:
    accounts = _account_ids(session, (r.account for r in records))
    owner_of = _ids_by(
        session, ContactEmail.email, ContactEmail.contact_id, {e for r in records for e in r.emails}
    )

    def values(record: ContactRecord) -> dict[str, Any]:
        return {
            "first_name": record.first_name,
            "last_name": record.last_name,
            "title": record.title,
            "phone": record.phone,
            "account_id": accounts[record.account] if record.account else None,
        }

    existing: list[tuple[int, ContactRecord]] = []
    new: list[ContactRecord] = []
    for record in records:
        known = next((owner_of[e] for e in record.emails if e in owner_of), None)
        if known is None:
            new.append(record)
        else:
            existing.append((known, record))

    contacts = _table(Contact)
    new_ids: list[int] = []
    if new:
        returning = insert_for(session, contacts).returning(
            contacts.c.id, sort_by_parameter_order=True
        )
        new_ids = [row[0] for row in execute_many(session, returning, [values(r) for r in new])]
    if existing:
        fields = ("first_name", "last_name", "title", "phone", "account_id")
        statement = (
            update(contacts)
            .where(contacts.c.id == bindparam("contact_id"))
            .where(
                or_(
                    *(
                        contacts.c[name].is_distinct_from(bindparam(f"new_{name}"))
                        for name in fields
                    )
                )
            )
            .values({name: bindparam(f"new_{name}") for name in fields})
        )
        params = [
            {"contact_id": contact_id, **{f"new_{k}": v for k, v in values(record).items()}}
            for contact_id, record in existing
        ]
        session.connection().execute(statement, params)

    with_ids = [*existing, *zip(new_ids, new, strict=True)]
    _replace_children(
        session,
        ContactEmail,
        parent_column="contact_id",
        value_column="email",
        parent_ids={contact_id for contact_id, _ in with_ids},
        wanted=[
            {"contact_id": contact_id, "email": email, "position": position}
            for contact_id, record in with_ids
            for position, email in enumerate(record.emails)
        ],
    )


# --------------------------------------------------------------------------- opportunities


def write_opportunities(session: Session, records: Sequence[OpportunityRecord]) -> None:
    accounts = _account_ids(session, (r.account for r in records))
    owners = _user_ids(session, (r.owner_email for r in records))
    rows = [
        {
            "code": r.code,
            "name": r.name,
            "account_id": accounts[r.account],
            "stage": r.stage,
            "status": r.status,
            "amount": r.amount,
            "currency": r.currency,
            "close_date": r.close_date,
            "owner_id": owners[r.owner_email] if r.owner_email else None,
        }
        for r in records
    ]
    _upsert(session, Opportunity, "code", rows)


# --------------------------------------------------------------------------- children


def _replace_children(
    session: Session,
    model: Any,
    *,
    parent_column: str,
    value_column: str,
    parent_ids: Collection[int],
    wanted: Sequence[dict[str, Any]],
) -> None:
    """Make the parents' children exactly ``wanted`` (unique on ``value_column``)."""
    table = _table(model)
    keep = {row[value_column] for row in wanted}
    stale: list[int] = []
    for chunk in chunks(sorted(parent_ids)):
        query = select(table.c.id, table.c[value_column]).where(table.c[parent_column].in_(chunk))
        stale.extend(row_id for row_id, value in session.execute(query) if value not in keep)
    for chunk in chunks(stale):
        session.execute(delete(table).where(table.c.id.in_(chunk)))
    _upsert(session, model, value_column, list(wanted), touch=False)
