"""mailbox change log: a mailbox added, removed or readdressed is logged in crm_changes

Who is a colleague is decided from our users' and mailboxes' addresses
(``mailsync.direction.InternalParties.known``). A daemon learns of CRM
changes from the trigger-written change log (revision 0005), which already
names changed users; with mailboxes logged too, a mailbox registered after a
daemon started counts as ours in its message direction at its next run, as
it does in the add-in at once.

Only the address matters here: the daemon rewrites a mailbox's sync status
and schedule on every run, and those updates must log nothing. Row-level
triggers on both backends (PostgreSQL refuses transition tables on a trigger
limited to a column, and a company has few mailboxes).

SQLite cannot alter a CHECK constraint, so ``crm_changes`` is rebuilt; the
triggers of 0005 name it in their bodies, and SQLite's rename (the last step
of a rebuild) refuses to rewrite a schema whose triggers name a table that is
momentarily gone, unless ``legacy_alter_table`` leaves trigger bodies alone,
which is what is wanted: they keep naming ``crm_changes``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 21:10:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

KINDS = "'contact','account','opportunity','user'"
LOG = "INSERT INTO crm_changes (record_kind, record_id) VALUES ('mailbox', {row}.id)"
EVENTS = (
    ("insert", "INSERT", "", "NEW"),
    ("update", "UPDATE OF address", "OLD.address IS DISTINCT FROM NEW.address", "NEW"),
    ("delete", "DELETE", "", "OLD"),
)


def _set_kinds(kinds: str) -> None:
    check = f"record_kind IN ({kinds})"
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_crm_changes_record_kind"), "crm_changes", type_="check")
        op.create_check_constraint(op.f("ck_crm_changes_record_kind"), "crm_changes", check)
        return
    op.execute("PRAGMA legacy_alter_table = ON")
    with op.batch_alter_table("crm_changes", recreate="always") as batch_op:
        batch_op.drop_constraint(op.f("ck_crm_changes_record_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_crm_changes_record_kind"), check)
    op.execute("PRAGMA legacy_alter_table = OFF")


def upgrade() -> None:
    _set_kinds(f"{KINDS},'mailbox'")
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, event, when, row in EVENTS:
        trigger = f"crm_log_mailboxes_{name}"
        if postgresql:
            op.execute(
                f"CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"{LOG.format(row=row)}; RETURN NULL; END $$"
            )
            condition = f"WHEN ({when}) " if when else ""
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER {event} ON mailboxes FOR EACH ROW "
                f"{condition}EXECUTE FUNCTION {trigger}()"
            )
        else:
            condition = f"WHEN {when.replace('IS DISTINCT FROM', 'IS NOT')} " if when else ""
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER {event} ON mailboxes "
                f"{condition}BEGIN {LOG.format(row=row)}; END"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, _event, _when, _row in EVENTS:
        trigger = f"crm_log_mailboxes_{name}"
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (" ON mailboxes" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS {trigger}()")
    op.execute("DELETE FROM crm_changes WHERE record_kind = 'mailbox'")
    _set_kinds(KINDS)
