"""People outrank rules (invariant 3): filters the store applies around the engine.

A suppression is a link a person removed; a person-made link is one whose
origin kind is ``person``. Rules never return a suppressed target (the engine
takes the item's suppressions), and re-running rules on an item may only
remove links that rules made.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from crm_store.items import LinkSpec, OriginKind, TargetKind

TargetRef = tuple[TargetKind, int]


def target_of(link: LinkSpec) -> TargetRef:
    return (link.target_kind, link.target_id)


def drop_suppressed(links: Iterable[LinkSpec], suppressed: Collection[TargetRef]) -> list[LinkSpec]:
    """The links whose target a person has not removed from this item."""
    if not suppressed:
        return list(links)
    return [link for link in links if (link.target_kind, link.target_id) not in suppressed]


@dataclass(frozen=True, slots=True)
class RelinkPlan:
    """What re-running the rules on a stored item changes.

    ``add`` are new rule links; ``remove`` are rule or inferred links the rules
    no longer produce. Person-made links are never in ``remove``, and a target
    a person already linked is never added again by a rule.
    """

    add: tuple[LinkSpec, ...]
    remove: tuple[LinkSpec, ...]


def plan_relink(
    existing: Iterable[LinkSpec],
    proposed: Iterable[LinkSpec],
    suppressed: Collection[TargetRef] = (),
) -> RelinkPlan:
    current = {target_of(link): link for link in existing}
    wanted = {target_of(link): link for link in drop_suppressed(proposed, suppressed)}
    add = tuple(link for key, link in wanted.items() if key not in current)
    remove = tuple(
        link
        for key, link in current.items()
        if link.origin_kind != OriginKind.PERSON and (key not in wanted or key in suppressed)
    )
    return RelinkPlan(add=add, remove=remove)
