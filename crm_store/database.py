"""Engines and sessions for the two supported backends.

SQLite is the embedded default and PostgreSQL (psycopg 3) the team deployment.
Everything backend-specific about *connecting* lives here so the rest of the
store only ever sees an ``Engine`` and a ``Session``. Transactions belong to
the caller (a sync page, a web request, a CLI command): nothing in crm_store
commits on its own, which is what lets a page, its links and its cursor land
together or not at all (invariant 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another writer before failing.

The daemon runs one job per mailbox in threads and the web service writes links;
they take turns on the single SQLite write lock rather than erroring."""

SQLITE_BEGIN_OPTION = "sqlite_begin"
"""Connection execution option naming the BEGIN flavour (``DEFERRED``/``IMMEDIATE``)."""


class UnsupportedDatabaseURL(ValueError):
    """The URL names a backend mailsync does not run on."""


def normalise_url(url: str | URL) -> URL:
    """Map the URL spellings people paste to the driver we ship.

    ``postgresql://`` and ``postgres://`` (what hosting providers hand out)
    become ``postgresql+psycopg://`` because psycopg 3 is the only PostgreSQL
    driver in our dependencies; SQLite stays on the standard-library driver.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend == "postgres":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "postgresql":
        if "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.drivername != "postgresql+psycopg":
            raise UnsupportedDatabaseURL(
                f"database URL driver {parsed.drivername!r} is not installed; "
                "use postgresql+psycopg://user@host/db (or plain postgresql://)"
            )
    elif backend == "sqlite":
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise UnsupportedDatabaseURL(
                f"database URL driver {parsed.drivername!r} is not supported; use sqlite:///PATH"
            )
    else:
        raise UnsupportedDatabaseURL(
            f"database URL backend {backend!r} is not supported; "
            "use sqlite:///PATH or postgresql://user@host/db"
        )
    return parsed


def is_sqlite(url: str | URL) -> bool:
    return normalise_url(url).get_backend_name() == "sqlite"


def make_engine(url: str | URL, *, echo: bool = False, **kwargs: Any) -> Engine:
    """Create the engine for ``url`` with the settings the store relies on.

    SQLite: WAL so readers (web pages) never block the writer (the daemon);
    foreign keys ON because SQLite ignores them otherwise; a busy timeout so
    concurrent writers queue instead of failing; and the driver's own implicit
    transaction handling is replaced by explicit BEGINs so SAVEPOINTs and
    read-then-write transactions behave as on PostgreSQL.

    PostgreSQL: a pre-ping so a restarted server does not fail the first query
    of a long-running daemon.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, echo=echo, **kwargs)
        _configure_sqlite(engine, in_memory=_is_memory_sqlite(parsed))
        return engine
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
    options.update(kwargs)
    return create_engine(parsed, echo=echo, **options)


def _is_memory_sqlite(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in str(url)


def _configure_sqlite(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (see the "begin" hook below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                # NORMAL is durable across application crashes in WAL mode; only
                # an OS crash can lose the last commits, never corrupt the file.
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        flavour = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if flavour not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"{SQLITE_BEGIN_OPTION} must be DEFERRED or IMMEDIATE, not {flavour}")
        connection.exec_driver_sql(f"BEGIN {flavour}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after the caller commits."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session], *, write: bool = False) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back if it raises.

    This is the place a caller (job, request, command) owns the transaction.
    ``write=True`` takes SQLite's write lock at BEGIN: a transaction that reads
    first and writes later would otherwise fail with "database is locked" the
    moment another writer committed in between, instead of waiting its turn.
    """
    session = factory()
    try:
        if write and session.get_bind().dialect.name == "sqlite":
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
