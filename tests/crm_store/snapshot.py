"""Compare whole-store states, for the idempotence tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.models import Base

TIMESTAMPS = {"created_at", "updated_at", "first_seen_at", "last_seen_at"}


def store_rows(session: Session, *, skip: frozenset[str] = frozenset()) -> dict[str, list[Any]]:
    """Every row of every table (timestamps left out), in primary-key order."""
    snapshot: dict[str, list[Any]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in skip:
            continue
        columns = [c for c in table.c if c.name not in TIMESTAMPS]
        order = list(table.primary_key.columns)
        rows = session.execute(select(*columns).order_by(*order)).all()
        snapshot[table.name] = [tuple(row) for row in rows]
    return snapshot
