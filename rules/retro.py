"""Retroactive linking: re-match stored-but-unmatched items when the CRM learns more.

The store keeps, for a bounded window (``RulesSettings.retro_window_days``),
only what the matchers need of an item that matched nothing: its ids,
participants' addresses with roles, subject, date and thread ids — never the
body. When contacts, addresses, domains or opportunities change, the store
asks ``affected_by`` which of those items could now match (it can pre-select
candidates in SQL by address, domain and subject code the same way), then
``relink`` returns the new links. The item's body is fetched on the next sync.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from crm_store.items import Address, Attendee, ItemKind, LinkSpec, MeetingItem, MessageItem
from rules.engine import RulesEngine
from rules.results import Linked, Suggestion
from rules.suppressions import TargetRef
from rules.tracking_code import CodeScanner


@dataclass(frozen=True, slots=True)
class UnmatchedItem:
    """The metadata the store keeps for an unmatched item (no body).

    ``participants`` are (role, address) with the roles of ``rules.roles``:
    from/to/cc/bcc for messages, organizer/attendee for meetings.
    """

    item_kind: ItemKind
    item_id: int
    item_key: str
    mailbox: str
    subject: str
    sent_at: datetime | None
    participants: tuple[tuple[str, str], ...]
    conversation_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CrmChange:
    """What changed in the CRM since the last retro pass (all keys normalised on entry)."""

    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    opportunity_codes: frozenset[str] = frozenset()
    account_ids: frozenset[int] = frozenset()

    @classmethod
    def of(
        cls,
        *,
        addresses: Iterable[str] = (),
        domains: Iterable[str] = (),
        opportunity_codes: Iterable[str] = (),
        account_ids: Iterable[int] = (),
    ) -> CrmChange:
        return cls(
            frozenset(a.strip().lower() for a in addresses),
            frozenset(d.strip().lower().lstrip("@") for d in domains),
            frozenset(c.strip().upper() for c in opportunity_codes),
            frozenset(account_ids),
        )


@dataclass(frozen=True, slots=True)
class RetroLinks:
    item_kind: ItemKind
    item_id: int
    links: tuple[LinkSpec, ...]
    suggestions: tuple[Suggestion, ...] = ()


@dataclass(slots=True)
class _Matcher:
    change: CrmChange
    scanner: CodeScanner
    _domain_suffixes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        self._domain_suffixes = tuple("." + d for d in self.change.domains)

    def touches(self, item: UnmatchedItem) -> bool:
        change = self.change
        for _role, address in item.participants:
            if address in change.addresses:
                return True
            domain = address.rpartition("@")[2]
            if domain in change.domains or domain.endswith(self._domain_suffixes):
                return True
        if change.opportunity_codes:
            for code in self.scanner.codes(item.subject):
                if code.upper() in change.opportunity_codes:
                    return True
        return False


def affected_by(
    change: CrmChange, items: Iterable[UnmatchedItem], engine: RulesEngine
) -> list[UnmatchedItem]:
    """The unmatched items whose addresses, domains or subject code the change concerns.

    A change of account ids alone (a new opportunity, a new owner) concerns
    nothing here: an unmatched item has no account to build on.
    """
    matcher = _Matcher(change, engine.code_scanner)
    return [item for item in items if matcher.touches(item)]


def as_item(meta: UnmatchedItem) -> MessageItem | MeetingItem:
    """Rebuild a body-less item from the kept metadata, for the ordinary matchers."""
    roles: dict[str, list[Address]] = {}
    for role, address in meta.participants:
        roles.setdefault(role, []).append(Address(address))
    if meta.item_kind is ItemKind.MEETING:
        organizer = roles.get("organizer", [None])[0]
        start = meta.sent_at or datetime.min
        return MeetingItem(
            provider_item_id=meta.item_key,
            folder="",
            uid=meta.item_key,
            subject=meta.subject,
            start=start,
            end=start,
            organizer=organizer,
            attendees=tuple(Attendee(a.address) for a in roles.get("attendee", [])),
        )
    sender = roles.get("from", [None])[0]
    return MessageItem(
        provider_item_id=meta.item_key,
        folder="",
        internet_message_id=meta.item_key,
        subject=meta.subject,
        sent_at=meta.sent_at,
        sender=sender,
        to=tuple(roles.get("to", [])),
        cc=tuple(roles.get("cc", [])),
        bcc=tuple(roles.get("bcc", [])),
        conversation_id=meta.conversation_id,
        in_reply_to=meta.in_reply_to,
        references=meta.references,
    )


def relink(
    engine: RulesEngine,
    items: Iterable[UnmatchedItem],
    suppressed: Mapping[tuple[ItemKind, int], Collection[TargetRef]] | None = None,
) -> list[RetroLinks]:
    """New links for items that now match; items still matching nothing are left out.

    Exclusions already ran when the item was first seen (an excluded item is
    never kept), so a result here is always a ``Linked``; an item a custom
    rule now ignores is left out too (the store may drop its metadata).
    """
    out: list[RetroLinks] = []
    for meta in items:
        item_suppressed = (suppressed or {}).get((meta.item_kind, meta.item_id), ())
        result = engine.link(as_item(meta), mailbox=meta.mailbox, suppressed=item_suppressed)
        if isinstance(result, Linked) and (result.links or result.suggestions):
            out.append(RetroLinks(meta.item_kind, meta.item_id, result.links, result.suggestions))
    return out
