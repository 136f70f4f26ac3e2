"""Our own company's addresses as the store knows them: every user's and every mailbox's.

Whether an address is a colleague's rather than a customer's is decided from
these and the configured ``[rules] internal_domains``, by one pure function
(``mailsync.direction.InternalParties.known``). The daemon reads them all
(``our_addresses``) at start and again whenever the CRM change log names a
user or mailbox (``mailsync.live_index``). The web service cannot hold them from its
start: a user or mailbox added later must count at once, as a contact added
later does. So its one per-request statement (``crm_store.record_reach``)
also reads the ones at the domains of the item's addresses (by
``email_domain``): exactly the known addresses that can decide those
addresses, hence the same verdict as over all of them, always current.

That arm is an index probe: both tables carry an index on ``email_domain``
of their address (revision 0011), so a lookup at a customer's domain reads
no row of them however many users the company has; the configured internal
domains are left out of it (whoever is there is ours anyway).
"""

from __future__ import annotations

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from crm_store.email_domain import email_domain
from crm_store.models import Mailbox, User

__all__ = ["email_domain", "our_addresses"]


def our_addresses(session: Session) -> list[str]:
    """Every user's and every mailbox's address (lower-cased, each once, sorted)."""
    rows = session.scalars(union_all(select(User.email), select(Mailbox.address)))
    return sorted({address.strip().lower() for address in rows})
