"""The engine's link step, behind one small interface so the rules package plugs in.

A ``Linker`` answers with the rules' own result types (``Excluded`` or
``Linked``), a page at a time so it can read what the page needs from the
store once (``mailsync.rules_linker.RulesLinker``, the real one), and says
which unlinked items deserve a look at their body. ``ContactAddressLinker``
is the minimal fallback (exact contact addresses only), kept for tests that
want the sync path without the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.items import (
    CorrespondenceItem,
    LinkSpec,
    OriginKind,
    Sensitivity,
    TargetKind,
)
from crm_store.models import Contact, ContactEmail
from rules.results import Excluded, ExclusionReason, Linked, LinkResult

PRIVATE = frozenset({Sensitivity.PRIVATE, Sensitivity.CONFIDENTIAL})


class Linker(Protocol):
    def link(self, item: CorrespondenceItem, mailbox: str) -> LinkResult: ...

    def link_page(self, items: Sequence[CorrespondenceItem], mailbox: str) -> list[LinkResult]:
        """Results in the order of ``items``; reads what the page needs from the store once."""
        ...

    def relink_with_bodies(
        self, items: Sequence[CorrespondenceItem], mailbox: str
    ) -> list[LinkResult]:
        """The same page's items again, now with bodies (codes that only the body holds)."""
        ...

    def wants_body(self, item: CorrespondenceItem, result: LinkResult) -> bool:
        """Whether an item nothing linked should have its body read before giving up on it."""
        ...


@dataclass(frozen=True, slots=True)
class ContactTarget:
    contact_id: int
    account_id: int | None


class ContactAddressLinker:
    """Exact contact-address matching, loaded once per sync run from the store."""

    def __init__(self, by_address: dict[str, ContactTarget]) -> None:
        self._by_address = by_address

    @classmethod
    def load(cls, session: Session) -> ContactAddressLinker:
        rows = session.execute(
            select(ContactEmail.email, Contact.id, Contact.account_id).join(
                Contact, Contact.id == ContactEmail.contact_id
            )
        )
        return cls({email.lower(): ContactTarget(cid, aid) for email, cid, aid in rows})

    def link_page(self, items: Sequence[CorrespondenceItem], mailbox: str) -> list[LinkResult]:
        return [self.link(item, mailbox) for item in items]

    def relink_with_bodies(
        self, items: Sequence[CorrespondenceItem], mailbox: str
    ) -> list[LinkResult]:
        return self.link_page(items, mailbox)

    def wants_body(self, item: CorrespondenceItem, result: LinkResult) -> bool:
        return False

    def link(self, item: CorrespondenceItem, mailbox: str) -> LinkResult:
        if item.sensitivity in PRIVATE:
            return Excluded(ExclusionReason.PRIVATE, f"sensitivity {item.sensitivity.value}")
        links: dict[tuple[TargetKind, int], LinkSpec] = {}
        for address in item.participants:
            target = self._by_address.get(address.address)
            if target is None:
                continue
            evidence = f"participant: {address.address} → contact {target.contact_id}"
            links.setdefault(
                (TargetKind.CONTACT, target.contact_id),
                LinkSpec(
                    TargetKind.CONTACT, target.contact_id, OriginKind.RULE, "participant", evidence
                ),
            )
            if target.account_id is not None:
                links.setdefault(
                    (TargetKind.ACCOUNT, target.account_id),
                    LinkSpec(
                        TargetKind.ACCOUNT,
                        target.account_id,
                        OriginKind.RULE,
                        "participant",
                        evidence + f" of account {target.account_id}",
                    ),
                )
        found = tuple(links.values())
        return Linked(links=found, store_body=bool(found))
