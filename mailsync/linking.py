"""The engine's link step, behind one small interface so the rules package plugs in.

``Linker.link(item, mailbox)`` answers with the rules' own result types
(``Excluded`` or ``Linked``). ``ContactAddressLinker`` is the built-in fallback
used until a full rules engine is configured: it excludes private items and
links exact contact addresses to the contact and the contact's account.
"""

from __future__ import annotations

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
