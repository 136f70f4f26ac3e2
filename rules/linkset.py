"""The links one item collects while the matchers run, first finder wins.

Matchers run in precedence order, so the first matcher to reach a target
keeps its evidence; suppressed targets are refused at the door so no later
step (such as inference) builds on a link a person removed.
"""

from __future__ import annotations

from collections.abc import Collection

from crm_store.items import LinkSpec, TargetKind
from rules.index import AccountSlot
from rules.kinds import ACCOUNT, CONTACT, OPPORTUNITY
from rules.suppressions import TargetRef


class LinkSet:
    """The links so far, and which targets they hold, by kind.

    Targets are kept as one id set per kind, not as (kind, id) keys: with a
    million contacts a key tuple from the index is one more object to visit
    (a likely cache miss) per link, and building one per message costs too.
    """

    __slots__ = (
        "_accounts",
        "_contacts",
        "_opportunities",
        "_order",
        "account_ids",
        "account_slots",
        "covered_account_ids",
        "opportunity_ids",
        "suppressed",
    )

    def __init__(self, suppressed: Collection[TargetRef] = ()) -> None:
        self._accounts: set[int] = set()
        self._contacts: set[int] = set()
        self._opportunities: set[int] = set()
        self._order: list[LinkSpec] = []
        self.suppressed = suppressed
        # Kept as links arrive so inference and custom rules need no scan.
        self.account_ids: list[int] = []
        # Beside each account id, its index slot when the matcher had it in hand
        # (None otherwise): inference then reads the open deals without a probe.
        self.account_slots: list[AccountSlot | None] = []
        # Accounts one of whose opportunities is linked, when the linker had the
        # account in hand; opportunity_ids are the linked ones it did not (inference
        # looks their accounts up). Either way inference leaves those accounts alone.
        self.covered_account_ids: set[int] = set()
        self.opportunity_ids: set[int] = set()

    def _ids(self, kind: TargetKind) -> set[int]:
        if kind is CONTACT:
            return self._contacts
        return self._accounts if kind is ACCOUNT else self._opportunities

    def wants(self, kind: TargetKind, target_id: int) -> bool:
        """True when a link to this target would be new and is not suppressed.

        Matchers ask first so they only format evidence for links they keep.
        """
        return target_id not in self._ids(kind) and (kind, target_id) not in self.suppressed

    # The hot-path twins of ``wants`` + ``add``, one per kind (no dispatch, no key
    # tuple): the matcher builds a link only for a claimed target and hands it back
    # with the matching ``put_*``, which repeats no check.

    def claim_contact(self, contact_id: int) -> bool:
        return contact_id not in self._contacts and (
            not self.suppressed or (CONTACT, contact_id) not in self.suppressed
        )

    def claim_account(self, account_id: int) -> bool:
        return account_id not in self._accounts and (
            not self.suppressed or (ACCOUNT, account_id) not in self.suppressed
        )

    def claim_opportunity(self, opportunity_id: int) -> bool:
        return opportunity_id not in self._opportunities and (
            not self.suppressed or (OPPORTUNITY, opportunity_id) not in self.suppressed
        )

    def put_contact(self, link: LinkSpec) -> None:
        self._contacts.add(link.target_id)
        self._order.append(link)

    def put_account(self, link: LinkSpec, slot: AccountSlot) -> None:
        """``slot`` is the account's index slot: inference reads its deals from it."""
        self._accounts.add(link.target_id)
        self._order.append(link)
        self.account_ids.append(link.target_id)
        self.account_slots.append(slot)

    def put_opportunity(self, link: LinkSpec, account: AccountSlot) -> None:
        """``account`` is the slot of the opportunity's account (so inference skips it)."""
        self._opportunities.add(link.target_id)
        self._order.append(link)
        self.covered_account_ids.add(account.id)

    def add(self, link: LinkSpec) -> bool:
        kind, target_id = link.target_kind, link.target_id
        ids = self._ids(kind)
        if target_id in ids or (kind, target_id) in self.suppressed:
            return False
        ids.add(target_id)
        self._order.append(link)
        if kind is ACCOUNT:
            self.account_ids.append(target_id)
            self.account_slots.append(None)
        elif kind is OPPORTUNITY:
            self.opportunity_ids.add(target_id)
        return True

    def has(self, kind: TargetKind, target_id: int) -> bool:
        return target_id in self._ids(kind)

    def is_suppressed(self, kind: TargetKind, target_id: int) -> bool:
        return (kind, target_id) in self.suppressed

    def ids_of(self, kind: TargetKind) -> list[int]:
        return [link.target_id for link in self._order if link.target_kind is kind]

    def __len__(self) -> int:
        return len(self._order)

    def since(self, start: int) -> tuple[LinkSpec, ...]:
        return tuple(self._order[start:])

    def as_tuple(self) -> tuple[LinkSpec, ...]:
        return tuple(self._order)
