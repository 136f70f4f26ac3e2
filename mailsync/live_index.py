"""The CRM as one in-memory rules index per process, kept current from the change log.

Built once from ``crm_store.crm_records.load_crm_records`` (a few queries, a
few seconds for a million contacts), then patched: ``refresh`` reads the
newest change-log id (one index read) and, only when it moved, the ids that
changed since and those records, and applies them with the index's own
``upsert_*`` / ``remove_*``. Syncs never rebuild it; only a change touching
most of the CRM (a full re-import) is cheaper as a rebuild, and gets one.

It also holds who is ours (``internal``: the configured domains and
mailboxes, and our users' and mailboxes' addresses in the store, by
``InternalConfig.parties``). The change log names users and mailboxes too
(revisions 0005 and 0012), so when a refresh sees one, it reads our
addresses again and swaps in the new verdict: a colleague added while the
daemon runs is ours from its next mailbox run on, in the rules' index and in
the engine's message direction alike, with no query of its own per page.

The daemon links on several threads while a refresh may patch the index, and
the matchers iterate dicts of it, so readers (a page of linking) and the
writer (a refresh) take a small readers-writer lock: once per page, never per
message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from crm_store.crm_changes import ChangedRecords, changes_after, last_change_id
from crm_store.crm_records import CrmRecords, load_crm_records, load_crm_records_by_id
from crm_store.our_addresses import our_addresses
from mailsync.direction import NOTHING_CONFIGURED, InternalConfig, InternalParties
from rules import AccountRecord, ContactRecord, CrmIndex, OpportunityRecord, OpportunityStatus

log = logging.getLogger(__name__)

REBUILD_SHARE = 0.5
"""Rebuild instead of patching when a change names more than this share of the index."""


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds off new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def index_from_records(records: CrmRecords, internal_domains: Iterable[str]) -> CrmIndex:
    return CrmIndex.build(
        accounts=(AccountRecord(a.id, a.name, a.domains, a.owner_email) for a in records.accounts),
        contacts=(ContactRecord(c.id, c.name, c.emails, c.account_id) for c in records.contacts),
        opportunities=(
            OpportunityRecord(
                o.id,
                o.code,
                o.name,
                o.account_id,
                OpportunityStatus(o.status),
                o.stage,
                o.owner_email,
            )
            for o in records.opportunities
        ),
        user_emails=records.user_emails,
        internal_domains=internal_domains,
    )


class LiveCrmIndex:
    """One process's CRM index, who is ours, and the change-log id they reflect."""

    def __init__(
        self,
        index: CrmIndex,
        applied_id: int,
        internal: InternalParties,
        config: InternalConfig = NOTHING_CONFIGURED,
    ) -> None:
        self.index = index
        self.applied_id = applied_id
        # Replaced whole, never mutated: a page reads one verdict from start to end.
        self.internal = internal
        self._config = config
        self.lock = ReadWriteLock()
        self._refreshing = threading.Lock()
        self.rebuilds = 0
        self.patches = 0

    @classmethod
    def load(cls, session: Session, config: InternalConfig = NOTHING_CONFIGURED) -> LiveCrmIndex:
        # The log id is read first: a change landing during the load is applied
        # again by the next refresh, which is harmless (upserts are idempotent).
        applied = last_change_id(session)
        internal = config.parties(our_addresses(session))
        index = index_from_records(load_crm_records(session), internal.domains)
        return cls(index, applied, internal, config)

    def refresh(self, session: Session) -> ChangedRecords:
        """Apply what changed since the last refresh; the cheap check when nothing did."""
        with self._refreshing:
            newest = last_change_id(session)
            if newest <= self.applied_id:
                return ChangedRecords(last_id=self.applied_id)
            changed = changes_after(session, self.applied_id, newest)
            internal = self.internal
            if changed.ours_changed:
                internal = self._config.parties(our_addresses(session))
            known = len(self.index.contacts) + len(self.index.accounts)
            if changed.size > max(1_000, REBUILD_SHARE * known):
                fresh = index_from_records(load_crm_records(session), internal.domains)
                with self.lock.writing():
                    _copy_into(self.index, fresh)
                self.rebuilds += 1
            else:
                records = load_crm_records_by_id(
                    session,
                    account_ids=changed.account_ids,
                    contact_ids=changed.contact_ids,
                    opportunity_ids=changed.opportunity_ids,
                )
                with self.lock.writing():
                    _patch(self.index, changed, records)
                    _set_internal_domains(self.index, internal.domains)
                self.patches += 1
            self.internal = internal
            self.applied_id = changed.last_id
            log.info(
                "CRM index: applied changes up to log id %s (%s records%s)",
                changed.last_id,
                changed.size,
                ", our users or mailboxes" if changed.ours_changed else "",
            )
            return changed


def _set_internal_domains(index: CrmIndex, domains: AbstractSet[str]) -> None:
    for gone in index.internal_domains - domains:
        index.remove_internal_domain(gone)
    for new in domains - index.internal_domains:
        index.add_internal_domain(new)


def _copy_into(target: CrmIndex, source: CrmIndex) -> None:
    """Swap a rebuilt index's contents into the shared object every engine holds."""
    for name in CrmIndex.__dataclass_fields__:
        setattr(target, name, getattr(source, name))


def _patch(index: CrmIndex, changed: ChangedRecords, records: CrmRecords) -> None:
    # Accounts before contacts and opportunities, as in a build.
    _upsert_or_remove(
        (AccountRecord(a.id, a.name, a.domains, a.owner_email) for a in records.accounts),
        changed.account_ids,
        index.upsert_account,
        index.remove_account,
    )
    _upsert_or_remove(
        (ContactRecord(c.id, c.name, c.emails, c.account_id) for c in records.contacts),
        changed.contact_ids,
        index.upsert_contact,
        index.remove_contact,
    )
    _upsert_or_remove(
        (
            OpportunityRecord(
                o.id,
                o.code,
                o.name,
                o.account_id,
                OpportunityStatus(o.status),
                o.stage,
                o.owner_email,
            )
            for o in records.opportunities
        ),
        changed.opportunity_ids,
        index.upsert_opportunity,
        index.remove_opportunity,
    )
    if changed.users_changed:
        index.replace_user_emails(records.user_emails)


class _Identified(Protocol):
    @property
    def id(self) -> int: ...


_Record = TypeVar("_Record", bound=_Identified)


def _upsert_or_remove(
    records: Iterable[_Record],
    changed_ids: AbstractSet[int],
    upsert: Callable[[_Record], None],
    remove: Callable[[int], None],
) -> None:
    """Upsert the changed records still in the store; remove the changed ids that are gone.

    A change-log id whose record was read back is an edit, one that was not is a delete:
    every record kind patches the same way.
    """
    present: set[int] = set()
    for record in records:
        upsert(record)
        present.add(record.id)
    for gone in changed_ids - present:
        remove(gone)
