"""What one sync run of a mailbox came to, and how that is recorded on its row.

Every failure kind a driver can raise ends here as one ``SyncOutcome``; the
mailbox row then carries the state the daemon schedules from (``next_sync_at``)
so backoff survives a restart and no worker ever sleeps for a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session

from crm_store.models import Mailbox


class OutcomeKind(StrEnum):
    OK = "ok"
    THROTTLED = "throttled"
    TEMPORARY = "temporary"
    AUTH_FAILED = "auth_failed"
    FAILED = "failed"
    STOPPED = "stopped"  # asked to stop between pages; nothing is wrong


# The mailbox row's sync_status for each outcome (a CHECK constraint lists them).
MAILBOX_STATUS = {
    OutcomeKind.OK: "ok",
    OutcomeKind.THROTTLED: "throttled",
    OutcomeKind.TEMPORARY: "error",
    OutcomeKind.AUTH_FAILED: "auth_failed",
    OutcomeKind.FAILED: "error",
    OutcomeKind.STOPPED: "idle",
}


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    kind: OutcomeKind
    reason: str = ""
    retry_at: datetime | None = None
    pages: int = 0
    items: int = 0
    failures: int = 0

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.OK


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    interval_seconds: int = 300
    max_backoff_seconds: int = 3600

    def next_sync_at(
        self, outcome: SyncOutcome, consecutive_failures: int, now: datetime
    ) -> datetime | None:
        """When the daemon may try again; None means "on the normal schedule"."""
        if outcome.kind is OutcomeKind.THROTTLED:
            return outcome.retry_at
        if outcome.kind is OutcomeKind.AUTH_FAILED:
            return now + timedelta(seconds=self.max_backoff_seconds)
        if outcome.kind in (OutcomeKind.TEMPORARY, OutcomeKind.FAILED):
            exponent = min(max(consecutive_failures - 1, 0), 16)
            delay = min(self.interval_seconds * 2**exponent, self.max_backoff_seconds)
            return now + timedelta(seconds=delay)
        return None


def mark_syncing(session: Session, mailbox_id: int) -> None:
    session.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(sync_status="syncing"))


def record_outcome(
    session: Session,
    mailbox_id: int,
    outcome: SyncOutcome,
    policy: BackoffPolicy,
    now: datetime,
) -> None:
    """Write status, error, failure count and the next allowed run onto the mailbox."""
    mailbox = session.get(Mailbox, mailbox_id, with_for_update=True)
    if mailbox is None:
        raise LookupError(f"mailbox {mailbox_id} vanished during its sync")
    failed = outcome.kind in (OutcomeKind.TEMPORARY, OutcomeKind.FAILED, OutcomeKind.AUTH_FAILED)
    failures = mailbox.consecutive_failures + 1 if failed else 0
    if outcome.kind in (OutcomeKind.THROTTLED, OutcomeKind.STOPPED):
        failures = mailbox.consecutive_failures
    mailbox.sync_status = MAILBOX_STATUS[outcome.kind]
    mailbox.consecutive_failures = failures
    mailbox.last_error = outcome.reason[:2000] if outcome.kind is not OutcomeKind.OK else None
    if outcome.kind is OutcomeKind.OK:
        mailbox.last_sync_at = now
    mailbox.next_sync_at = policy.next_sync_at(outcome, failures, now)
