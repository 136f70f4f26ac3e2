"""Connections for the add-in's hot reads: one statement, one round trip to the store.

The lookup route's read is a single statement, so it needs no transaction of
its own (one statement sees one snapshot). On PostgreSQL the ordinary
session path would wrap it in three more round trips: the pool's pre-ping,
BEGIN and COMMIT. This engine shares the store's URL but runs in autocommit
and skips the pre-ping; a connection the server dropped (a restart) is
noticed by the statement itself, invalidated by SQLAlchemy, and the read is
run once more on a fresh connection, which is safe because it only reads.

SQLite has no round trips to save and an in-memory database exists only in
its engine, so there the store's own engine is used as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_engine

T = TypeVar("T")


class HotReads:
    """Built per app; the PostgreSQL engine is made on first use and disposed with the app."""

    def __init__(self, store: Engine, connections: int) -> None:
        self._store = store
        self._connections = connections
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @classmethod
    def beside(cls, sessions: sessionmaker[Session], connections: int) -> HotReads:
        """Hot-read connections for the store ``sessions`` write to (``connections`` pooled)."""
        store = sessions.kw.get("bind")
        if not isinstance(store, Engine):
            raise TypeError("the session factory must be bound to an Engine")
        return cls(store, connections)

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._make_engine()
            return self._engine

    def _make_engine(self) -> Engine:
        if self._store.dialect.name == "sqlite":
            return self._store
        return make_engine(
            self._store.url,
            pool_pre_ping=False,
            pool_size=self._connections,
            max_overflow=self._connections,
            isolation_level="AUTOCOMMIT",
        )

    def run(self, read: Callable[[Connection], T]) -> T:
        """``read`` on a pooled connection; once more on a fresh one if the old one was dead."""
        engine = self.engine
        try:
            with engine.connect() as connection:
                return read(connection)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        with engine.connect() as connection:
            return read(connection)

    def dispose(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None and engine is not self._store:
            engine.dispose()
