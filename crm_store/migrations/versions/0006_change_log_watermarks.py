"""change log watermarks: how far each consumer of the CRM change log has got

Retroactive linking runs from the change log (revision 0005), whoever wrote
the CRM. Its position (the last log id whose changes it linked) must survive
restarts and be shared by every node, and it advances in the same transaction
as the links it wrote, so a crash neither loses nor repeats a change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_log_watermarks",
        sa.Column("consumer", sa.String(50), primary_key=True),
        sa.Column("last_change_id", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("change_log_watermarks")
