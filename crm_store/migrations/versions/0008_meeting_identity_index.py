"""meeting identity index: find a meeting by organizer and start instant

A meeting the Outlook add-in stored before the daemon saw it is keyed by its
Exchange item id (Office.js gives no iCalendar UID), the daemon's copy by its
UID. They are merged by their natural identity (organizer, start, end,
subject; crm_store.meeting_merge), looked up once per synced page and once
per add-in link. Without this index the lookup probes ``start_at`` alone and
reads every meeting of the company that starts at that instant (9:00 on a
Monday is thousands); with it, the organizer's few.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 20:10:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meetings_identity", ["organizer_address", "start_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index("ix_meetings_identity")
