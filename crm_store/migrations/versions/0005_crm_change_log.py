"""crm change log: triggers note every changed contact/account/opportunity/user id

A daemon keeps the whole CRM as an in-memory rules index. To stay current it
must learn cheaply, once per sync cycle, which records changed since it last
looked, whoever changed them (CSV import, the web API, a script, psql). A
trigger on each CRM table appends the id of the record a row belongs to
(``contact_emails`` rows belong to their contact, ``account_domains`` rows to
their account), so "anything new?" is one ``max(id)`` and "what?" one indexed
range read. Deletes are logged too, which updated_at columns cannot show.

PostgreSQL gets statement-level triggers with transition tables (one INSERT
per statement, so a million-row COPY logs in one set-based step); SQLite gets
row-level triggers, which run in C and are cheap.

Also ``messages.body_pending``: an item linked after it was stored
(retroactive linking) has no body yet; the flag asks the next sync of a
mailbox holding it to fetch the body.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

LOGGED = (
    # table, record kind logged, column holding the record's id, columns whose change counts
    ("contacts", "contact", "id", ("first_name", "last_name", "title", "phone", "account_id")),
    ("contact_emails", "contact", "contact_id", ("contact_id", "email", "position")),
    ("accounts", "account", "id", ("name", "owner_id")),
    ("account_domains", "account", "account_id", ("account_id", "domain")),
    (
        "opportunities",
        "opportunity",
        "id",
        (
            "code",
            "name",
            "account_id",
            "stage",
            "status",
            "amount",
            "currency",
            "close_date",
            "owner_id",
        ),
    ),
    (
        "users",
        "user",
        "id",
        ("email", "display_name", "role", "team", "manager_id", "entra_object_id"),
    ),
)
"""An UPDATE that rewrites a row with the same values (re-importing a file) logs nothing."""


def _postgresql_triggers() -> list[str]:
    statements: list[str] = []
    for table, kind, column, compared in LOGGED:
        new_values = ", ".join(f"n.{c}" for c in compared)
        old_values = ", ".join(f"o.{c}" for c in compared)
        changed_pairs = (
            f"FROM new_rows n JOIN old_rows o ON o.id = n.id "
            f"WHERE ROW({new_values}) IS DISTINCT FROM ROW({old_values})"
        )
        for operation, referencing, selects in (
            ("INSERT", "NEW TABLE AS new_rows", f"SELECT {column} FROM new_rows"),
            (
                "UPDATE",
                "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                f"SELECT n.{column} {changed_pairs} UNION SELECT o.{column} {changed_pairs}",
            ),
            ("DELETE", "OLD TABLE AS old_rows", f"SELECT {column} FROM old_rows"),
        ):
            name = f"crm_log_{table}_{operation.lower()}"
            statements.append(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"INSERT INTO crm_changes (record_kind, record_id) "
                f"SELECT '{kind}', changed.record_id FROM ({selects}) AS changed (record_id) "
                f"WHERE changed.record_id IS NOT NULL; RETURN NULL; END $$"
            )
            statements.append(
                f"CREATE TRIGGER {name} AFTER {operation} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
    return statements


def _sqlite_triggers() -> list[str]:
    statements: list[str] = []
    for table, kind, column, compared in LOGGED:
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in compared)
        log_new = (
            f"INSERT INTO crm_changes (record_kind, record_id) "
            f"SELECT '{kind}', NEW.{column} WHERE NEW.{column} IS NOT NULL;"
        )
        log_old_key = (
            f"INSERT INTO crm_changes (record_kind, record_id) "
            f"SELECT '{kind}', OLD.{column} WHERE OLD.{column} IS NOT NULL "
            f"AND OLD.{column} IS NOT NEW.{column};"
        )
        log_old = (
            f"INSERT INTO crm_changes (record_kind, record_id) "
            f"SELECT '{kind}', OLD.{column} WHERE OLD.{column} IS NOT NULL;"
        )
        statements += [
            f"CREATE TRIGGER crm_log_{table}_insert AFTER INSERT ON {table} BEGIN {log_new} END",
            f"CREATE TRIGGER crm_log_{table}_update AFTER UPDATE ON {table} "
            f"WHEN {changed} BEGIN {log_new} {log_old_key} END",
            f"CREATE TRIGGER crm_log_{table}_delete AFTER DELETE ON {table} BEGIN {log_old} END",
        ]
    return statements


def upgrade() -> None:
    op.create_table(
        "crm_changes",
        sa.Column("id", PK, nullable=False),
        sa.Column("record_kind", sa.String(length=12), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint(
            "record_kind IN ('contact','account','opportunity','user')",
            name=op.f("ck_crm_changes_record_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_changes")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("body_pending", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    dialect = op.get_bind().dialect.name
    statements = _postgresql_triggers() if dialect == "postgresql" else _sqlite_triggers()
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, _kind, _column, _compared in LOGGED:
        for operation in ("insert", "update", "delete"):
            name = f"crm_log_{table}_{operation}"
            op.execute(
                f"DROP TRIGGER IF EXISTS {name}"
                + (f" ON {table}" if dialect == "postgresql" else "")
            )
            if dialect == "postgresql":
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("body_pending")
    op.drop_table("crm_changes")
