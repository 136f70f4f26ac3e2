"""Alembic owns the schema: the migrated database must equal the models exactly."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table

from crm_store.migrate import current_revision, head_revision, owned_by_store, upgrade
from crm_store.models import Base
from tests.conftest import MigratedDatabase


def _diffs(db: MigratedDatabase, metadata: MetaData) -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": owned_by_store}
        )
        return list(compare_metadata(context, metadata))


def test_migrated_schema_matches_the_models(db: MigratedDatabase) -> None:
    """GIVEN a database upgraded to head WHEN compared with models.py THEN there is no diff."""
    assert current_revision(db.url) == head_revision()
    assert _diffs(db, Base.metadata) == []


def test_the_comparison_would_notice_a_missing_table(db: MigratedDatabase) -> None:
    """GIVEN models with a table no migration creates THEN the comparison reports it.

    Guards the test above against passing vacuously.
    """
    extended = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(extended)
    Table("not_migrated", extended, Column("id", Integer, primary_key=True))
    assert any("not_migrated" in repr(diff) for diff in _diffs(db, extended))


def test_upgrade_is_idempotent_and_reports_revision(tmp_path: Path) -> None:
    """GIVEN a new SQLite file WHEN upgraded twice THEN it sits at head, the second run a no-op."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert current_revision(url) is None
    upgrade(url)
    upgrade(url)
    assert current_revision(url) == head_revision()
