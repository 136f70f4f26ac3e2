"""lookup indexes: contact_emails.contact_id and account_domains.account_id

Reading a contact with all its addresses, or an account with all its
domains, walks these foreign keys. Without an index each read scans the
whole table: with a million contacts the add-in's lookup took seconds. The
indexes also make the cascading deletes from contacts and accounts cheap.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact_emails", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_emails_contact_id"), ["contact_id"], unique=False
        )
    with op.batch_alter_table("account_domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_domains_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("account_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_domains_account_id"))
    with op.batch_alter_table("contact_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_emails_contact_id"))
