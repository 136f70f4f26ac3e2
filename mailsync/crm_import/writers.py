"""Hand checked records to crm_store's set-based upserts, keyed by natural key.

crm_store re-checks the rows it is given (``*_problems``) and refuses the
whole batch if any has a problem; ``store_problems`` runs those same checks
first so the importer can report them by line instead of failing mid-write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from crm_store import crm_writes
from crm_store.crm_writes import AccountRow, ContactRow, OpportunityRow, RowProblem, UserRow
from crm_store.models import User
from crm_store.upsert import chunks, execute_many, insert_for, table_of
from mailsync.crm_import.records import (
    AccountRecord,
    ContactRecord,
    OpportunityRecord,
    UserRecord,
)


def _user(record: UserRecord) -> UserRow:
    return UserRow(*astuple(record))


def _account(record: AccountRecord) -> AccountRow:
    return AccountRow(*astuple(record))


def _contact(record: ContactRecord) -> ContactRow:
    return ContactRow(*astuple(record))


def _opportunity(record: OpportunityRecord) -> OpportunityRow:
    return OpportunityRow(*astuple(record))


def write_users(session: Session, records: Sequence[UserRecord]) -> None:
    """Users, then their managers (a manager may be created by this same call).

    Not ``crm_writes.upsert_users`` yet: its manager UPDATE runs for every row
    and so moves ``updated_at`` on an unchanged re-import. Switch to it once the
    update is limited to rows whose manager differs.
    """
    rows = [
        {"email": r.email, "display_name": r.display_name, "role": r.role, "team": r.team}
        for r in records
    ]
    if not rows:
        return
    users = table_of(User)
    statement = insert_for(session, users)
    changed = or_(
        *(
            users.c[name].is_distinct_from(statement.excluded[name])
            for name in rows[0]
            if name != "email"
        )
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[users.c.email],
        set_={
            **{name: statement.excluded[name] for name in rows[0] if name != "email"},
            "updated_at": func.now(),
        },
        where=changed,
    ).returning(users.c.id)
    execute_many(session, upsert, rows)
    wanted = {r.email for r in records} | {r.manager_email for r in records if r.manager_email}
    ids: dict[str, int] = {}
    for chunk in chunks(sorted(wanted)):
        ids.update(
            (e, i)
            for e, i in session.execute(select(User.email, User.id).where(User.email.in_(chunk)))
        )
    session.connection().execute(
        update(users)
        .where(users.c.id == bindparam("user_id"))
        .where(users.c.manager_id.is_distinct_from(bindparam("manager")))
        .values(manager_id=bindparam("manager")),
        [
            {"user_id": ids[r.email], "manager": ids[r.manager_email] if r.manager_email else None}
            for r in records
        ],
    )


def write_accounts(session: Session, records: Sequence[AccountRecord]) -> None:
    crm_writes.upsert_accounts(session, [_account(r) for r in records])


def write_contacts(session: Session, records: Sequence[ContactRecord]) -> None:
    crm_writes.upsert_contacts(session, [_contact(r) for r in records])


def write_opportunities(session: Session, records: Sequence[OpportunityRecord]) -> None:
    crm_writes.upsert_opportunities(session, [_opportunity(r) for r in records])


_PROBLEMS: dict[type[Any], tuple[Callable[[Any], Any], Callable[..., list[RowProblem]]]] = {
    UserRecord: (_user, crm_writes.user_problems),
    AccountRecord: (_account, crm_writes.account_problems),
    ContactRecord: (_contact, crm_writes.contact_problems),
    OpportunityRecord: (_opportunity, crm_writes.opportunity_problems),
}


def store_problems(session: Session, records: Sequence[Any]) -> dict[int, list[str]]:
    """The store's own objections to ``records``, by position in the sequence."""
    if not records:
        return {}
    convert, problems_of = _PROBLEMS[type(records[0])]
    found: dict[int, list[str]] = {}
    for problem in problems_of(session, [convert(r) for r in records]):
        found.setdefault(problem.index, []).append(f"{problem.field}: {problem.message}")
    return found
