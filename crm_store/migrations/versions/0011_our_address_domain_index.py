"""our address domain index: users and mailboxes by their address's domain

Every add-in lookup reads our users' and mailboxes' addresses at the item's
domains (``crm_store.record_reach``, by ``crm_store.our_addresses.email_domain``)
to decide who is a colleague. An address's domain is a suffix, which the
unique index on the address cannot serve, so without these the lookup scanned
both tables (about a millisecond per lookup at 5,000 users). Each index is on
the very expression the statement compares, so the planner of either backend
matches it: SQLite spells the '@' position ``instr``, PostgreSQL ``strpos``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

INDEXED = (("users", "email"), ("mailboxes", "address"))


def _domain_of(column: str) -> sa.TextClause:
    position = "strpos" if op.get_bind().dialect.name == "postgresql" else "instr"
    return sa.text(f"lower(substr({column}, {position}({column}, '@') + 1))")


def upgrade() -> None:
    for table, column in INDEXED:
        op.create_index(f"ix_{table}_{column}_domain", table, [_domain_of(column)], unique=False)


def downgrade() -> None:
    for table, column in INDEXED:
        op.drop_index(f"ix_{table}_{column}_domain", table_name=table)
