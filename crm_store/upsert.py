"""Dialect-neutral ``INSERT … ON CONFLICT`` and parameter-safe IN lists.

SQLite and PostgreSQL spell upserts the same way but SQLAlchemy exposes them
through two dialect modules; this picks the right one for the session so the
write modules read as one statement per table. Multi-row execution goes
through SQLAlchemy's "insertmanyvalues", which batches the rows into
multi-VALUES statements under each backend's bound-parameter limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_store.models import Base

T = TypeVar("T")

IN_LIST_CHUNK = 5_000
"""Most values bound in one IN (…) list: well under SQLite's 32,766 and
PostgreSQL's 65,535 parameters even with a few other parameters alongside."""

Insert = postgresql.Insert | sqlite.Insert


def table_of(model: type[Base]) -> Table:
    """The mapped ``Table`` of a model (typed as a generic FromClause by SQLAlchemy)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a single table")
    return table


def insert_for(session: Session, table: Table) -> Insert:
    """The dialect's INSERT construct (the one with ``on_conflict_*``) for ``table``."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"crm_store supports sqlite and postgresql, not {name}")


def execute_many(session: Session, statement: Any, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Run one batched statement for all rows and return its RETURNING rows.

    The statement must have RETURNING: that is what makes SQLAlchemy send
    multi-row VALUES batches on both backends instead of a driver-level loop.
    """
    if not rows:
        return []
    return list(session.execute(statement, list(rows)).all())


def chunks(values: Sequence[T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
