"""What the rules say about one item: excluded (and why), or links and actions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from crm_store.items import DeferredEvidence, LinkSpec, TargetKind, render_evidence


class ExclusionReason(StrEnum):
    """Why an item is not stored; the store counts items per reason."""

    PRIVATE = "private"
    BLOCKED = "blocked"
    INTERNAL_ONLY = "internal_only"
    BULK = "bulk"
    AUTOMATIC = "automatic"
    IGNORED_BY_RULE = "ignored_by_rule"


@dataclass(frozen=True, slots=True)
class Excluded:
    """Do not store this item. ``detail`` names the header, address or rule."""

    reason: ExclusionReason
    detail: str
    rule: str | None = None

    @property
    def counter_key(self) -> str:
        """Key for the excluded counter: custom rules are counted per rule name."""
        if self.rule is not None:
            return f"rule:{self.rule}"
        return self.reason.value


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A link the rules could not decide alone; a person confirms it in the add-in.

    Like ``LinkSpec.evidence``, ``reason`` is held as text or as a
    ``DeferredEvidence`` (inference names the account and each deal without
    reading their names per message) and rendered on each read. Two suggestions
    are equal when their words are.
    """

    target_kind: TargetKind
    target_id: int
    reason_source: str | DeferredEvidence

    @property
    def reason(self) -> str:
        return render_evidence(self.reason_source)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Suggestion):
            return NotImplemented
        return (self.target_kind, self.target_id, self.reason) == (
            other.target_kind,
            other.target_id,
            other.reason,
        )

    def __hash__(self) -> int:
        return hash((self.target_kind, self.target_id, self.reason))


@dataclass(frozen=True, slots=True)
class Linked:
    """Store this item with these links.

    ``store_body`` is False when nothing links the item (invariant 4: bodies
    only for tracked items) or a custom rule asked to store it without body.
    ``add_categories`` are Outlook categories a rule wants set on the copy.
    """

    links: tuple[LinkSpec, ...]
    suggestions: tuple[Suggestion, ...] = ()
    store_body: bool = False
    add_categories: tuple[str, ...] = ()
    fired_rules: tuple[str, ...] = ()

    @property
    def is_unmatched(self) -> bool:
        """Nothing linked: the store keeps only retro-matching metadata for it."""
        return not self.links


LinkResult = Excluded | Linked
