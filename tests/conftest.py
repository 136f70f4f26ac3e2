"""Shared database fixtures: every store test runs on SQLite and on PostgreSQL.

Each backend is migrated once per test session with the real Alembic
revisions (so the tests exercise the schema users get, not ``create_all``):
SQLite as a temporary file, PostgreSQL as a uniquely named schema in the
``test`` database, dropped at the end. Tests are isolated by emptying every
table after each one, which also works for code that commits or opens its own
connections (engine, daemon, subprocesses via ``db_url``).

Fixtures, from the most to the least used:

- ``session``: an open ``Session`` on the parametrized backend; the test owns
  the transaction (commit if the code under test expects committed data).
- ``engine`` / ``session_factory`` / ``db_url``: for code that makes its own
  sessions or runs in another process. ``db`` is the ``MigratedDatabase``.
- ``backend``: "sqlite" or "postgresql".

Without a reachable PostgreSQL the postgresql half is skipped, except under
``CI=true`` where it fails: CI must never pass by silently testing half.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_engine, make_session_factory
from crm_store.migrate import upgrade
from crm_store.models import Base

PG_TEST_URL = os.environ.get(
    "MAILSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCHEMA_PREFIX = "mailsync_test_"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@dataclass(frozen=True)
class MigratedDatabase:
    """A database at the head revision, shared by the tests of one session."""

    backend: str
    url: str
    engine: Engine


def _postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL at {PG_TEST_URL} is not reachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            message + ". Under CI=true store tests must run on PostgreSQL: start it "
            "(.ci/run does) or set MAILSYNC_TEST_PG_URL.",
            pytrace=False,
        )
    pytest.skip(message)


def _libpq_conninfo(url: str) -> str:
    parsed = make_url(url)
    return (
        f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} "
        f"user={parsed.username or 'postgres'} dbname={parsed.database or 'test'}"
        + (f" password={parsed.password}" if parsed.password else "")
    )


def _drop_orphan_schemas(conn: psycopg.Connection[tuple[str]]) -> None:
    """Drop schemas left by test sessions that were killed before their teardown."""
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (SCHEMA_PREFIX + "%",)
    ).fetchall()
    for (name,) in rows:
        pid_text = name.removeprefix(SCHEMA_PREFIX).split("_", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedDatabase]:
    path: Path = tmp_path_factory.mktemp("store") / "mailsync-test.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    yield MigratedDatabase("sqlite", url, engine)
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_database() -> Iterator[MigratedDatabase]:
    try:
        admin = psycopg.connect(_libpq_conninfo(PG_TEST_URL), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _postgres_unavailable(str(exc).strip())
        raise  # unreachable: _postgres_unavailable always raises
    schema = f"{SCHEMA_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        _drop_orphan_schemas(admin)
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = (
        make_url(PG_TEST_URL)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        upgrade(url)
        engine = make_engine(url)
        yield MigratedDatabase("postgresql", url, engine)
        engine.dispose()
    finally:
        with psycopg.connect(_libpq_conninfo(PG_TEST_URL), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def empty_all_tables(engine: Engine) -> None:
    """Delete every row of every model table (not alembic_version).

    DELETE, not TRUNCATE: on PostgreSQL, TRUNCATE of some twenty near-empty
    tables swaps their files and costs ~0.8 s per test, DELETE ~10 ms. Tests
    must therefore not assume ids restart at 1.
    """
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # A test that leaked an open transaction must fail loudly, not hang.
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        for table in tables:
            conn.execute(table.delete())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def db(backend: str, request: pytest.FixtureRequest) -> Iterator[MigratedDatabase]:
    database: MigratedDatabase = request.getfixturevalue(f"{backend}_database")
    yield database
    empty_all_tables(database.engine)


@pytest.fixture
def engine(db: MigratedDatabase) -> Engine:
    return db.engine


@pytest.fixture
def db_url(db: MigratedDatabase) -> str:
    return db.url


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as open_session:
        yield open_session
        open_session.rollback()
