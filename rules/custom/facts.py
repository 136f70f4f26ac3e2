"""What a custom rule's conditions read about one item, computed once per item."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_store.items import CorrespondenceItem, Direction, MessageItem, TargetKind
from rules.index import AccountRecord, CrmIndex
from rules.linkset import LinkSet
from rules.roles import Role


@dataclass(slots=True)
class ItemFacts:
    item: CorrespondenceItem
    roles: list[Role]
    direction: Direction
    index: CrmIndex
    links: LinkSet
    _headers: dict[str, str] | None = field(default=None, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """Header names lower-cased, built on first use (most rules never read headers)."""
        if self._headers is None:
            raw = self.item.headers if isinstance(self.item, MessageItem) else {}
            self._headers = {k.lower(): v for k, v in raw.items()}
        return self._headers

    @property
    def has_attachments(self) -> bool:
        return isinstance(self.item, MessageItem) and (
            self.item.has_attachments or bool(self.item.attachments)
        )

    def matched_accounts(self) -> list[AccountRecord]:
        accounts = self.index.accounts
        return [accounts[i] for i in self.links.ids_of(TargetKind.ACCOUNT) if i in accounts]
