"""Alembic environment: run migrations on the connection or URL crm_store.migrate hands in.

The configuration is built in code (crm_store.migrate.alembic_config), so an
installed package can migrate its database without an alembic.ini on disk.
SQLite cannot ALTER most things in place; batch mode makes Alembic copy the
table instead, so the same revisions run on both backends.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from crm_store.database import make_engine
from crm_store.migrate import owned_by_store
from crm_store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=owned_by_store,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: call crm_store.migrate.upgrade(url)")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
