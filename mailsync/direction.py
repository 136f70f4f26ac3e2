"""Whether an email came in, went out, or stayed inside the company.

Decided from our own domains and users' addresses (config ``[rules]
internal_domains`` plus every mailbox and user we know), not from the folder:
a message a colleague sent to a customer lands in our Inbox via cc and is
still outbound from the company's point of view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crm_store.items import Address, Direction, MessageItem


@dataclass(frozen=True, slots=True)
class InternalParties:
    domains: frozenset[str]
    addresses: frozenset[str]

    @classmethod
    def of(cls, domains: Iterable[str], addresses: Iterable[str]) -> InternalParties:
        return cls(
            frozenset(d.strip().lower() for d in domains),
            frozenset(a.strip().lower() for a in addresses),
        )

    def is_internal(self, address: Address) -> bool:
        return address.address in self.addresses or address.domain in self.domains


def message_direction(item: MessageItem, internal: InternalParties) -> Direction:
    if item.sender is None:
        return Direction.UNKNOWN
    recipients = (*item.to, *item.cc, *item.bcc)
    sender_internal = internal.is_internal(item.sender)
    if sender_internal:
        if recipients and all(internal.is_internal(r) for r in recipients):
            return Direction.INTERNAL
        return Direction.OUTBOUND
    return Direction.INBOUND
