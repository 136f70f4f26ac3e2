"""scale out: Graph subscriptions, shared request budget, procrastinate's job queue

Cluster mode (issue 8) keeps its job queue in procrastinate's tables. Their
schema is installed here, inside an Alembic revision, rather than by a
separate step of ``mailsync db upgrade``, because:

- Alembic already serialises concurrent upgrades and records that the step
  ran, so a second ``db upgrade`` is a no-op instead of a failing
  ``CREATE TABLE`` (procrastinate's ``schema.sql`` is not idempotent);
- the queue's tables land in the same transaction as ours: a failed upgrade
  leaves neither half behind.

The step is PostgreSQL-only (procrastinate needs LISTEN/NOTIFY and PL/pgSQL);
on SQLite it does nothing, since cluster mode refuses SQLite at start-up. A
database that already has procrastinate's tables (installed by hand with
``procrastinate schema --apply``) is left as it is. When a later procrastinate
release ships migrations (``procrastinate/sql/migrations/*.sql``), a new
revision applies those files in order; pyproject pins the major version so
that never happens by surprise.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

PROCRASTINATE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


def upgrade() -> None:
    op.create_table(
        "graph_subscriptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mailbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("subscription_id", sa.String(length=200), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("client_state_sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_graph_subscriptions_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_subscriptions")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_graph_subscriptions_subscription_id")),
    )
    with op.batch_alter_table("graph_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_graph_subscriptions_mailbox_id"), ["mailbox_id"], unique=False
        )
    op.create_table(
        "graph_request_windows",
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "window_start", name=op.f("pk_graph_request_windows")),
    )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    installed = bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar()
    if installed is None:
        # The raw DB-API cursor with no parameters: schema.sql holds many
        # statements and literal '%' signs that a parameterised call would mangle.
        cursor = bind.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(SchemaManager.get_schema())
        finally:
            cursor.close()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in PROCRASTINATE_TABLES:
            op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        op.execute("DROP TYPE IF EXISTS procrastinate_job_status CASCADE")
        op.execute("DROP TYPE IF EXISTS procrastinate_job_event_type CASCADE")
        op.execute("DROP TYPE IF EXISTS procrastinate_job_to_defer_v1 CASCADE")
    op.drop_table("graph_request_windows")
    with op.batch_alter_table("graph_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_graph_subscriptions_mailbox_id"))
    op.drop_table("graph_subscriptions")
