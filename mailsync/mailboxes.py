"""Keep the store's mailbox rows in step with the ``[[mailboxes]]`` of the config.

The config says which mailboxes exist and whether they are enabled; the row
keeps the sync state (status, backoff, cursors) that must survive restarts.
A mailbox removed from the config is disabled, never deleted: its stored
correspondence stays.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.models import Mailbox, User
from mailsync.config.sections import MailboxSettings


def register_mailboxes(session: Session, configured: Sequence[MailboxSettings]) -> list[Mailbox]:
    """Create or update a row per configured mailbox; disable rows no longer configured."""
    existing = {m.address: m for m in session.scalars(select(Mailbox))}
    owners = {u.email: u.id for u in session.scalars(select(User))}
    rows: list[Mailbox] = []
    for entry in configured:
        row = existing.pop(entry.address, None)
        if row is None:
            row = Mailbox(address=entry.address, sync_status="idle", consecutive_failures=0)
            session.add(row)
        row.provider = entry.provider
        row.enabled = entry.enabled
        row.tracking_policy = entry.tracking_policy
        owner_email = entry.owner_email or entry.address
        row.owner_id = owners.get(owner_email, row.owner_id)
        rows.append(row)
    for leftover in existing.values():
        leftover.enabled = False
    session.flush()
    return rows
