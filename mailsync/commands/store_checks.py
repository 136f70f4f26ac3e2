"""Refuse to touch a store whose schema is not the one this code was written for.

Without this a fresh database fails deep inside an import with "no such table";
with it the user is told the one command that fixes it.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from crm_store.migrate import current_revision, head_revision
from mailsync.commands.context import AppContext
from mailsync.commands.errors import StoreNotReady


def require_current_schema(app: AppContext) -> None:
    try:
        current = current_revision(app.engine)
    except OperationalError as exc:
        raise StoreNotReady(f"cannot open the store at {app.database_label}: {exc.orig}") from None
    head = head_revision()
    if current is None:
        raise StoreNotReady(
            f"the store at {app.database_label} has no tables yet; "
            "run `mailsync init` or `mailsync db upgrade`"
        )
    if current != head:
        raise StoreNotReady(
            f"the store at {app.database_label} is at schema revision {current}, "
            f"this mailsync needs {head}; run `mailsync db upgrade`"
        )
