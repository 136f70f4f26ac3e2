"""The actions of a custom rule, applied in the order the rule lists them."""

from __future__ import annotations

from dataclasses import dataclass

from crm_store.items import TargetKind


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """Link a named record: an opportunity by code, an account by name, a contact by address."""

    kind: TargetKind
    key: str


@dataclass(frozen=True, slots=True)
class LinkOpenOpportunityInStage:
    """Link the matched account's one open opportunity in this stage (several → suggestions)."""

    stage: str


@dataclass(frozen=True, slots=True)
class Ignore:
    """Do not store the item at all (counted as excluded by this rule)."""


@dataclass(frozen=True, slots=True)
class StoreWithoutBody:
    """Store metadata and links, never the body."""


@dataclass(frozen=True, slots=True)
class AddCategory:
    """Set these Outlook categories on the mailbox's copy."""

    names: tuple[str, ...]


Action = LinkRecord | LinkOpenOpportunityInStage | Ignore | StoreWithoutBody | AddCategory
