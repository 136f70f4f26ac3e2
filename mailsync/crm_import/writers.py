"""Hand checked records to crm_store's set-based upserts, keyed by natural key.

crm_store re-checks the rows it is given (``*_problems``) and refuses the
whole batch if any has a problem; ``store_problems`` runs those same checks
first so the importer can report them by line instead of failing mid-write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import astuple
from typing import Any

from sqlalchemy.orm import Session

from crm_store import crm_writes
from crm_store.crm_writes import AccountRow, ContactRow, OpportunityRow, RowProblem, UserRow
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
    crm_writes.upsert_users(session, [_user(r) for r in records])


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
