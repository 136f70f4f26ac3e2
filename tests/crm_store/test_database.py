"""Engine set-up: the SQLite pragmas the store relies on, and URL normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_store.database import (
    UnsupportedDatabaseURL,
    make_engine,
    make_session_factory,
    normalise_url,
    session_scope,
)
from crm_store.models import Contact
from tests.factories import make_account, make_contact


def test_sqlite_file_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    """GIVEN a fresh SQLite file WHEN connected THEN WAL, FKs and a busy timeout are on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000
    engine.dispose()


def test_foreign_keys_are_enforced_on_both_backends(session: Session) -> None:
    """GIVEN the migrated store WHEN a contact points at a missing account THEN it is refused."""
    session.add(Contact(first_name="Ghost", account_id=999_999))
    with pytest.raises(IntegrityError):
        session.flush()


def test_deleting_a_contact_cascades_to_its_emails(session: Session) -> None:
    """GIVEN a contact with emails WHEN it is deleted THEN its emails go too (ON DELETE CASCADE)."""
    contact = make_contact(session, account=make_account(session), emails=["a@x.example"])
    session.execute(text("DELETE FROM contacts WHERE id = :id"), {"id": contact.id})
    remaining = session.execute(text("SELECT count(*) FROM contact_emails")).scalar()
    assert remaining == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://postgres@127.0.0.1/test", "postgresql+psycopg://postgres@127.0.0.1/test"),
        ("postgres://u@db.example/crm", "postgresql+psycopg://u@db.example/crm"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///mailsync.db", "sqlite:///mailsync.db"),
    ],
)
def test_urls_are_normalised_to_the_shipped_drivers(given: str, expected: str) -> None:
    assert normalise_url(given).render_as_string() == expected


@pytest.mark.parametrize(
    "url", ["mysql://u@h/d", "postgresql+psycopg2://u@h/d", "sqlite+aiosqlite:///x"]
)
def test_unsupported_urls_name_what_to_use(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseURL, match="use "):
        normalise_url(url)


def test_session_scope_commits_on_success_and_rolls_back_on_error(engine: Engine) -> None:
    """GIVEN session_scope WHEN the block raises THEN nothing it wrote is kept."""
    factory = make_session_factory(engine)
    with session_scope(factory, write=True) as session:
        make_account(session, name="Kept")
    with pytest.raises(RuntimeError), session_scope(factory, write=True) as session:
        make_account(session, name="Lost")
        raise RuntimeError("boom")
    with session_scope(factory) as session:
        names = session.execute(text("SELECT name FROM accounts")).scalars().all()
    assert names == ["Kept"]
