"""Reading the CRM change log the triggers of revision 0005 write.

Whoever changes a contact, account, opportunity or user (CSV import, the web
API, a script), a trigger appends the record's id; a mailbox's id too when
one is added, removed or readdressed (revision 0012), because who is ours
depends on it. A process holding the CRM
in memory remembers the last log id it applied; once per cycle it asks
``last_change_id`` (one index read) and, only when that moved, reads the ids
in between with ``changes_after`` and re-reads those records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from crm_store.models import CrmChange


@dataclass(frozen=True, slots=True)
class ChangedRecords:
    """The distinct records named in the log after one id, up to ``last_id``."""

    last_id: int
    contact_ids: frozenset[int] = frozenset()
    account_ids: frozenset[int] = frozenset()
    opportunity_ids: frozenset[int] = frozenset()
    users_changed: bool = False
    mailboxes_changed: bool = False

    @property
    def ours_changed(self) -> bool:
        """Whether our own addresses (users', mailboxes') may differ: who is a colleague."""
        return self.users_changed or self.mailboxes_changed

    @property
    def empty(self) -> bool:
        return not (
            self.contact_ids or self.account_ids or self.opportunity_ids or self.ours_changed
        )

    @property
    def size(self) -> int:
        return len(self.contact_ids) + len(self.account_ids) + len(self.opportunity_ids)


def last_change_id(session: Session) -> int:
    """The newest log id, 0 for an empty log: the cheap "did anything change?" check."""
    return int(session.scalar(select(func.coalesce(func.max(CrmChange.id), 0))) or 0)


def changes_after(session: Session, after_id: int, up_to_id: int | None = None) -> ChangedRecords:
    """The records changed after ``after_id`` (and up to ``up_to_id`` when given)."""
    last = up_to_id if up_to_id is not None else last_change_id(session)
    if last <= after_id:
        return ChangedRecords(last_id=after_id)
    rows = session.execute(
        select(CrmChange.record_kind, CrmChange.record_id)
        .where(CrmChange.id > after_id, CrmChange.id <= last)
        .distinct()
    )
    by_kind: dict[str, set[int]] = {"contact": set(), "account": set(), "opportunity": set()}
    users = mailboxes = False
    for kind, record_id in rows:
        if kind == "user":
            users = True
        elif kind == "mailbox":
            mailboxes = True
        else:
            by_kind[kind].add(int(record_id))
    return ChangedRecords(
        last_id=last,
        contact_ids=frozenset(by_kind["contact"]),
        account_ids=frozenset(by_kind["account"]),
        opportunity_ids=frozenset(by_kind["opportunity"]),
        users_changed=users,
        mailboxes_changed=mailboxes,
    )


def purge_change_log(session: Session, before: datetime) -> int:
    """Forget log rows older than ``before``; every live reader has long applied them."""
    result = session.execute(
        delete(CrmChange).where(CrmChange.changed_at < before),
        execution_options={"synchronize_session": False},
    )
    count = getattr(result, "rowcount", 0)
    return int(count) if count and count > 0 else 0
