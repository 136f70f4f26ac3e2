"""Which database the store uses, decided once so every command agrees.

SQLite paths written in a config file are taken relative to that file (a
daemon started from another directory must find the same store). Driver
spelling (``postgresql://`` → psycopg 3) is crm_store's ``normalise_url``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from crm_store.database import normalise_url

DEFAULT_DATABASE_FILE = "mailsync.db"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_DATABASE_FILE}"


def normalise_database_url(text: str, base_dir: Path, *, allow_password: bool) -> str:
    """Return the URL SQLAlchemy should open, or raise ValueError saying what to write."""
    try:
        url = normalise_url(text.strip())
    except ArgumentError:
        raise ValueError(
            f"{text!r} is not a database URL; write sqlite:///mailsync.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from None
    if url.get_backend_name() == "sqlite":
        return _sqlite_url(url, base_dir)
    if url.password is not None and not allow_password:
        raise ValueError(
            "the URL contains a password, and secrets never go in the config file; "
            "remove it from the URL and name the environment variable that holds it "
            'with password_env = "MAILSYNC_DATABASE_PASSWORD" (or set MAILSYNC_DATABASE_URL)'
        )
    if not url.database:
        raise ValueError(f"{text!r} names no database; end it with /dbname")
    return url.render_as_string(hide_password=False)


def _sqlite_url(url: URL, base_dir: Path) -> str:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return url.set(drivername="sqlite").render_as_string(hide_password=False)
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return url.set(drivername="sqlite", database=str(path)).render_as_string(hide_password=False)


def with_password(url_text: str, password: str) -> str:
    """The same URL carrying a password read from the environment at connect time."""
    return make_url(url_text).set(password=password).render_as_string(hide_password=False)
