"""graph subscriptions per resource: one row per (mailbox, resource kind), creation backoff

Push covered only a mailbox's messages; a meeting change waited for the
safety poll. Each mailbox now has one subscription per resource kind
(``messages``, ``events``); rows made before this revision are the messages
subscriptions. A subscription Graph refuses to create is retried later with
backoff: ``graph_subscription_attempts`` remembers the failures per (mailbox,
kind), so a failing mailbox neither hammers Graph nor holds up the others.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # One subscription per mailbox was the rule; should a race ever have left
    # two, keep the newest (the other expires at Graph on its own).
    op.execute(
        "DELETE FROM graph_subscriptions WHERE id NOT IN "
        "(SELECT max(id) FROM graph_subscriptions GROUP BY mailbox_id)"
    )
    with op.batch_alter_table("graph_subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "resource_kind", sa.String(length=20), nullable=False, server_default="messages"
            )
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_graph_subscriptions_mailbox_id"), ["mailbox_id", "resource_kind"]
        )
    op.create_table(
        "graph_subscription_attempts",
        sa.Column("mailbox_id", ID, nullable=False),
        sa.Column("resource_kind", sa.String(length=20), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_graph_subscription_attempts_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "mailbox_id", "resource_kind", name=op.f("pk_graph_subscription_attempts")
        ),
    )


def downgrade() -> None:
    op.drop_table("graph_subscription_attempts")
    op.execute("DELETE FROM graph_subscriptions WHERE resource_kind <> 'messages'")
    with op.batch_alter_table("graph_subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_graph_subscriptions_mailbox_id"), type_="unique")
        batch_op.drop_column("resource_kind")
