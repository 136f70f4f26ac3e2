"""Our own company's addresses as the store knows them: every user's and every mailbox's.

Whether an address is a colleague's rather than a customer's is decided from
these and the configured ``[rules] internal_domains``, by one pure function
(``mailsync.direction.InternalParties.known``). The daemon reads them all
once at start (``our_addresses``). The web service cannot hold them from its
start: a user or mailbox added later must count at once, as a contact added
later does. So its one per-request statement (``crm_store.record_reach``)
also reads the ones at the domains of the item's addresses (by
``email_domain``): exactly the known addresses that can decide those
addresses, hence the same verdict as over all of them, always current.

That arm scans the users and mailboxes tables (an address's domain is a
suffix, which no plain index serves). They hold the company's own staff and
mailboxes, hundreds of rows, not the CRM's million contacts; at several
thousand the next step is an expression index on ``email_domain``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from crm_store.models import Mailbox, User


class email_domain(FunctionElement[str]):
    """The lower-cased part of an address after its '@' (addresses carry exactly one)."""

    type = String()
    inherit_cache = True


@compiles(email_domain, "postgresql")
def _email_domain_postgresql(element: email_domain, compiler: SQLCompiler, **kw: Any) -> str:
    address = compiler.process(next(iter(element.clauses)), **kw)
    return f"lower(substr({address}, strpos({address}, '@') + 1))"


@compiles(email_domain)
def _email_domain_sqlite(element: email_domain, compiler: SQLCompiler, **kw: Any) -> str:
    address = compiler.process(next(iter(element.clauses)), **kw)
    return f"lower(substr({address}, instr({address}, '@') + 1))"


def our_addresses(session: Session) -> list[str]:
    """Every user's and every mailbox's address (lower-cased, each once, sorted)."""
    rows = session.scalars(union_all(select(User.email), select(Mailbox.address)))
    return sorted({address.strip().lower() for address in rows})
