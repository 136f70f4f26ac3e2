"""What the push tests share: the notification path, a clock the test moves, and which
mailboxes have a sync waiting on the cluster's queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from tests.conftest import MigratedDatabase

NOTIFY_PATH = "/api/v1/graph/notifications"


@dataclass
class Clock:
    """The "now" the subscription jobs and the ticker read, moved by the test: days of
    subscription life and poll intervals pass in seconds."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def waiting_syncs(db: MigratedDatabase) -> list[str]:
    """The addresses of the mailboxes whose sync job waits on the queue, sorted."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT m.address FROM procrastinate_jobs AS j JOIN mailboxes AS m"
                " ON j.queueing_lock = 'mailbox:' || m.id"
                " WHERE j.task_name LIKE '%sync_mailbox' AND j.status = 'todo'"
                " ORDER BY m.address"
            )
        )
        return [str(a) for (a,) in rows]
