"""The links one item collects while the matchers run, first finder wins.

Matchers run in precedence order, so the first matcher to reach a target
keeps its evidence; suppressed targets are refused at the door so no later
step (such as inference) builds on a link a person removed.
"""

from __future__ import annotations

from collections.abc import Collection

from crm_store.items import LinkSpec, TargetKind
from rules.index import AccountSlot
from rules.kinds import ACCOUNT, OPPORTUNITY
from rules.suppressions import TargetRef


class LinkSet:
    __slots__ = (
        "_by_target",
        "_order",
        "account_ids",
        "account_slots",
        "covered_account_ids",
        "opportunity_ids",
        "suppressed",
    )

    def __init__(self, suppressed: Collection[TargetRef] = ()) -> None:
        self._by_target: dict[TargetRef, LinkSpec] = {}
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

    def wants(self, kind: TargetKind, target_id: int) -> bool:
        """True when a link to this target would be new and is not suppressed.

        Matchers ask first so they only format evidence for links they keep.
        """
        key = (kind, target_id)
        return key not in self._by_target and key not in self.suppressed

    def claim(self, kind: TargetKind, target_id: int) -> TargetRef | None:
        """The target's key when a link to it would be new and is not suppressed.

        The hot-path twin of ``wants`` + ``add``: the matcher formats evidence
        only for a claimed key and hands it back with ``put``.
        """
        key = (kind, target_id)
        if key in self._by_target or key in self.suppressed:
            return None
        return key

    def claim_key(self, key: TargetRef) -> bool:
        """``claim`` for a key the index built in advance (no tuple per message)."""
        return key not in self._by_target and key not in self.suppressed

    def put(self, key: TargetRef, link: LinkSpec, slot: AccountSlot | None = None) -> None:
        """Store a link for a key ``claim`` just returned (no checks repeated);
        ``slot`` is the account's index slot (for an opportunity: its account's)
        when the caller has it."""
        self._by_target[key] = link
        self._order.append(link)
        kind = key[0]
        if kind is ACCOUNT:
            self.account_ids.append(key[1])
            self.account_slots.append(slot)
        elif kind is OPPORTUNITY:
            if slot is None:
                self.opportunity_ids.add(key[1])
            else:
                self.covered_account_ids.add(slot.id)

    def add(self, link: LinkSpec) -> bool:
        key = (link.target_kind, link.target_id)
        if key in self._by_target or key in self.suppressed:
            return False
        self._by_target[key] = link
        self._order.append(link)
        if link.target_kind is ACCOUNT:
            self.account_ids.append(link.target_id)
            self.account_slots.append(None)
        elif link.target_kind is OPPORTUNITY:
            self.opportunity_ids.add(link.target_id)
        return True

    def has(self, kind: TargetKind, target_id: int) -> bool:
        return (kind, target_id) in self._by_target

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
