"""pane meeting index: the add-in's meetings by start, for the sync's merge lookup

Every synced page asks whether a meeting the add-in stored by Exchange item id
(``meeting_key`` ``exchange-item:…``) has the identity of one of the page's
meetings. Through the (organizer, start) index that is a seek per organizer and
start of the page, some thousands per page, to find what is almost always
nothing. This partial index holds only the add-in's rows (a handful next to
the daemon's), so the page's starts are looked up in it at next to no cost,
and the daemon's own inserts never maintain it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

PANE_ROWS = sa.text("meeting_key LIKE 'exchange-item:%'")


def upgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meetings_pane_start",
            ["start_at"],
            unique=False,
            sqlite_where=PANE_ROWS,
            postgresql_where=PANE_ROWS,
        )


def downgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index("ix_meetings_pane_start")
