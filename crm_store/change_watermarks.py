"""Positions of change-log consumers, advanced in the caller's transaction.

``claim_watermark`` locks the consumer's row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite serialises writers anyway), so two nodes running the same
job at once do not both apply the same changes: the second waits, then reads
the position the first committed.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_store.models import ChangeLogWatermark
from crm_store.upsert import insert_for, table_of


def claim_watermark(session: Session, consumer: str) -> int:
    """The consumer's last applied change id (0 the first time), its row locked."""
    table = table_of(ChangeLogWatermark)
    session.execute(
        insert_for(session, table)
        .values(consumer=consumer, last_change_id=0)
        .on_conflict_do_nothing(index_elements=[table.c.consumer])
    )
    found = session.scalar(
        select(ChangeLogWatermark.last_change_id)
        .where(ChangeLogWatermark.consumer == consumer)
        .with_for_update()
    )
    return int(found or 0)


def advance_watermark(session: Session, consumer: str, last_change_id: int) -> None:
    session.execute(
        update(ChangeLogWatermark)
        .where(ChangeLogWatermark.consumer == consumer)
        .values(last_change_id=last_change_id),
        execution_options={"synchronize_session": False},
    )
