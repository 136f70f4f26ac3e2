"""The few CRM records an item can reach, as the rules' index: one store read per item.

The add-in asks about one item at a time while the CRM may hold a million
contacts, so the web service never loads the CRM whole: it reads the records
an item's addresses, codes (and the custom rules' named records) can reach
in one statement (``crm_store.record_reach``) and builds a small
``CrmIndex`` from them. The same rows feed the API's answers, so nothing is
read twice.

That statement also brings our users' and mailboxes' addresses at the item's
domains (those the configuration has not made ours already: configured
domains and configured mailboxes' domains), so who is a colleague is decided
as the daemon decides it (``InternalParties.known``) and a user or mailbox
added a minute ago already counts, as a contact added a minute ago does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from crm_store.items import Address
from crm_store.record_reach import ReachableRecords, read_reachable_records
from mailsync.direction import InternalParties
from rules import AccountRecord, ContactRecord, CrmIndex, OpportunityRecord
from rules.index import OpportunityStatus


@dataclass(frozen=True, slots=True)
class CrmSlice:
    """The records reachable from an item: the rules' index, the rows it was built from,
    and who among the item's addresses is ours."""

    index: CrmIndex
    records: ReachableRecords
    internal: InternalParties

    def is_internal(self, address: str) -> bool:
        return self.internal.is_internal(Address(address))

    def contact_for(self, address: str) -> ContactRecord | None:
        return self.index.contact_for(address)


def load_slice(
    connection: Connection,
    addresses: Collection[str],
    codes: Collection[str] = (),
    internal_domains: Iterable[str] = (),
    account_names: Collection[str] = (),
    *,
    configured_addresses: Iterable[str] = (),
    free_mail_domains: AbstractSet[str] = frozenset(),
) -> CrmSlice:
    """``internal_domains`` and ``configured_addresses`` (mailboxes): from the config."""
    wanted = {a.strip().lower() for a in addresses if a and "@" in a}
    configured = tuple(internal_domains)
    mailboxes = tuple(configured_addresses)
    # Ours whoever is there: the configured domains, and a configured mailbox's domain
    # (unless free-mail), which is the company's own on nearly every item.
    settled = {*configured, *(a.strip().lower().rpartition("@")[2] for a in mailboxes)}
    records = read_reachable_records(
        connection,
        wanted,
        codes=codes,
        account_names=account_names,
        settled_domains=settled - free_mail_domains,
    )
    internal = InternalParties.known(
        configured, [*records.our_addresses, *mailboxes], free_mail_domains
    )
    index = CrmIndex.build(
        accounts=[
            AccountRecord(a.id, a.name, tuple(a.domains), a.owner_email)
            for a in records.accounts.values()
        ],
        contacts=[
            ContactRecord(c.id, c.name, tuple(c.emails), c.account_id)
            for c in records.contacts.values()
        ],
        opportunities=[
            OpportunityRecord(
                o.id,
                o.code,
                o.name,
                o.account_id,
                OpportunityStatus(o.status),
                o.stage,
                o.owner_email,
            )
            for o in records.opportunities.values()
        ],
        user_emails=records.user_emails,
        internal_domains=internal.domains,
    )
    return CrmSlice(index, records, internal)
