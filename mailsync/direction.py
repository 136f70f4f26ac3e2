"""Whether an email came in, went out, or stayed inside the company.

Decided from our own domains and users' addresses (config ``[rules]
internal_domains`` plus every mailbox and user we know), not from the folder:
a message a colleague sent to a customer lands in our Inbox via cc and is
still outbound from the company's point of view.

``InternalParties.known`` is the one definition of "ours": the daemon applies
it to every known address (``InternalConfig.parties``, again whenever the
change log names a user or mailbox: ``mailsync.live_index``), the web service
to the known addresses at an item's domains on each request
(``crm_store.our_addresses``), so the add-in and the daemon call the same
people colleagues.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
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

    @classmethod
    def known(
        cls,
        configured_domains: Iterable[str],
        our_addresses: Iterable[str],
        free_mail_domains: AbstractSet[str],
    ) -> InternalParties:
        """The configured domains, our users' and mailboxes' addresses, and their domains.

        A known address's domain is ours too (a colleague who is no user yet
        writes from it), unless it is a free-mail provider's: one user's
        private gmail.com address must not make every gmail.com customer a
        colleague, whose mail would then be dropped as internal-only.
        """
        addresses = {a.strip().lower() for a in our_addresses}
        derived = {a.rpartition("@")[2] for a in addresses} - free_mail_domains
        return cls.of((*configured_domains, *derived), addresses)

    def is_internal(self, address: Address) -> bool:
        return address.address in self.addresses or address.domain in self.domains


@dataclass(frozen=True, slots=True)
class InternalConfig:
    """The configured half of who is ours, fixed for a process.

    The other half, our users' and mailboxes' addresses in the store, changes
    while a daemon runs; ``parties`` joins the two whenever it is read again.
    ``addresses``: the configured ``[[mailboxes]]``, ours before any is registered.
    """

    domains: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    free_mail: frozenset[str] = frozenset()

    def parties(self, stored_addresses: Iterable[str]) -> InternalParties:
        return InternalParties.known(
            self.domains, (*stored_addresses, *self.addresses), self.free_mail
        )


NOTHING_CONFIGURED = InternalConfig()
"""Only the store's users and mailboxes are ours (tests, and tools without a config)."""


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
