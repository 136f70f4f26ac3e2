"""The Graph budget and the tenant's sync cap, shared by every worker through PostgreSQL.

- **Concurrent requests per mailbox** and **concurrent syncs per tenant** are
  slots held as session advisory locks (``pg_try_advisory_lock``). A worker
  that dies — even by SIGKILL — loses its connection, and PostgreSQL releases
  its locks with it, so a crash never leaks a slot the way a counter would.
- **Requests per 10 minutes per mailbox** is a counter row per fixed window
  (``graph_request_windows``) bumped by one atomic ``INSERT … ON CONFLICT DO
  UPDATE … RETURNING``; the previous window is weighted in for a sliding
  estimate. Requests are reserved in small, growing chunks per process so an
  idle cycle costs one round trip, not one per request; a reserved request
  that goes unused is simply never spent (the error is on the safe side).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, select, text
from sqlalchemy.dialects.postgresql import insert

from crm_store.models import GraphRequestWindow
from mailsync.budget import (
    CONCURRENCY_RETRY_SECONDS,
    BudgetLimits,
    rotated,
    seconds_until_room,
    sliding_estimate,
)
from mailsync.providers.base import Throttled

FIRST_CHUNK = 4
LARGEST_CHUNK = 64


def advisory_key(kind: str, name: str, slot: int) -> int:
    """A stable signed 64-bit key per (kind, name, slot) for pg_advisory_lock."""
    digest = hashlib.blake2b(f"{kind}\0{name}\0{slot}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(slots=True)
class _Reservation:
    window: int
    remaining: int
    chunk: int


class PostgresBudget:
    """``RequestBudget`` and ``SyncSlots`` for cluster mode."""

    def __init__(
        self, engine: Engine, limits: BudgetLimits, *, clock: Callable[[], float] = time.time
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("the shared budget needs PostgreSQL")
        self.limits = limits
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._reserved: dict[str, _Reservation] = {}

    # ------------------------------------------------------------------ requests

    @contextmanager
    def request(self, mailbox: str) -> Iterator[None]:
        self._spend(mailbox)
        with self._slot("graph-request", mailbox, self.limits.max_concurrent_requests) as held:
            if not held:
                raise Throttled(
                    CONCURRENCY_RETRY_SECONDS,
                    f"(budget: {self.limits.max_concurrent_requests} requests to {mailbox} "
                    "in flight across the cluster)",
                )
            yield

    def _spend(self, mailbox: str) -> None:
        window = self.limits.window_seconds
        index = int(self._clock() // window)
        with self._lock:
            held = self._reserved.get(mailbox)
            if held is not None and held.window == index and held.remaining > 0:
                held.remaining -= 1
                return
            chunk = FIRST_CHUNK
            if held is not None and held.window == index:
                chunk = min(held.chunk * 2, LARGEST_CHUNK)
        chunk = min(chunk, self.limits.requests_per_window)
        self._reserve(mailbox, index, chunk)
        with self._lock:
            self._reserved[mailbox] = _Reservation(index, chunk - 1, chunk)

    def _reserve(self, mailbox: str, index: int, count: int) -> None:
        """Add ``count`` to the mailbox's window, or raise Throttled and add nothing."""
        window = self.limits.window_seconds
        limit = self.limits.requests_per_window
        table: Table = GraphRequestWindow.__table__  # type: ignore[assignment]
        upsert = (
            insert(table)
            .values(mailbox=mailbox, window_start=index, requests=count)
            .on_conflict_do_update(
                index_elements=[table.c.mailbox, table.c.window_start],
                set_={"requests": table.c.requests + count},
            )
            .returning(table.c.requests)
        )
        with self._engine.connect() as conn:
            current = int(conn.execute(upsert).scalar_one())
            previous = conn.execute(
                select(table.c.requests).where(
                    table.c.mailbox == mailbox, table.c.window_start == index - 1
                )
            ).scalar()
            previous_count = int(previous or 0)
            elapsed = self._clock() - index * window
            if sliding_estimate(previous_count, current, elapsed / window) > limit:
                conn.rollback()
                wait = seconds_until_room(
                    previous_count, current - count, elapsed, limit, window, count
                )
                raise Throttled(
                    wait, f"(budget: {limit} requests per {window:g}s to {mailbox}, cluster-wide)"
                )
            conn.execute(
                table.delete().where(table.c.mailbox == mailbox, table.c.window_start < index - 1)
            )
            conn.commit()

    # ------------------------------------------------------------------ syncs

    @contextmanager
    def sync_slot(self, tenant: str) -> Iterator[bool]:
        with self._slot("tenant-sync", tenant, self.limits.max_concurrent_syncs) as held:
            yield held

    # ------------------------------------------------------------------ advisory-lock slots

    @contextmanager
    def _slot(self, kind: str, name: str, slots: int) -> Iterator[bool]:
        """Hold one of ``slots`` advisory locks on a connection of its own, or yield False."""
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        key: int | None = None
        try:
            for slot in rotated(slots):
                candidate = advisory_key(kind, name, slot)
                if _try_lock(conn, candidate):
                    key = candidate
                    break
            yield key is not None
        finally:
            try:
                if key is not None and not _unlock(conn, key):
                    conn.invalidate()  # never hand a connection holding a lock back to the pool
            finally:
                conn.close()


def _try_lock(conn: Connection, key: int) -> bool:
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())


def _unlock(conn: Connection, key: int) -> bool:
    return bool(conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key}).scalar())
