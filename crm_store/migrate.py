"""Schema migrations as a library call: ``upgrade(url)`` and ``current_revision(url)``.

Alembic's configuration is built here rather than read from an alembic.ini so
that ``mailsync db upgrade`` works from an installed wheel in any directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from crm_store.database import make_engine, normalise_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

FOREIGN_PREFIXES = ("procrastinate_",)
"""Objects another library owns in the same database (cluster mode's job queue, issue 8)."""


def owned_by_store(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic ``include_name`` hook: compare and autogenerate only the store's own objects.

    procrastinate's tables live beside ours on PostgreSQL (revision 0003
    installs them); without this filter autogenerate would offer to drop them.
    """
    return not (type_ == "table" and name is not None and name.startswith(FOREIGN_PREFIXES))


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic ``Config`` pointing at the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # '%' must be doubled: Config values go through configparser interpolation.
        rendered = normalise_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str | URL | Engine, revision: str = "head") -> None:
    """Bring the database at ``url`` (or behind an engine) up to ``revision``."""
    if isinstance(url, Engine):
        with url.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest revision this code ships (what ``upgrade`` brings a database to)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(url: str | URL | Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if engine is not url:
            engine.dispose()
