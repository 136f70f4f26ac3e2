"""sent message index: the add-in's messages stored at send, by sender and send time

The add-in stores a message at send, before Exchange has given it a Message-ID,
under the fallback key (``message_key`` ``hash:…``). Every synced page asks
whether such a row is one of the page's messages sent within minutes by the
same sender (``crm_store.message_merge``). This partial index holds only the
fallback-keyed rows (the add-in's, and the rare synced message without a
Message-ID), so that look reads a handful of rows, and the daemon's inserts of
messages with a Message-ID never maintain it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

FALLBACK_ROWS = sa.text("message_key LIKE 'hash:%'")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_fallback_sent",
            ["sender_address", "sent_at"],
            unique=False,
            sqlite_where=FALLBACK_ROWS,
            postgresql_where=FALLBACK_ROWS,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_fallback_sent")
