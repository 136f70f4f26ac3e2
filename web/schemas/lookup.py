"""What the add-in shows for the people on an item: who they are in the CRM."""

from __future__ import annotations

from crm_store.items import TargetKind
from web.schemas.common import ApiModel
from web.schemas.records import AccountPublic, ContactPublic, OpportunityPublic


class AddressMatch(ApiModel):
    address: str
    contact_id: int | None
    account_id: int | None
    how: str


class SuggestedLink(ApiModel):
    target_kind: TargetKind
    target_id: int
    target_name: str
    reason: str
    certain: bool


class LookupResult(ApiModel):
    addresses: list[AddressMatch]
    contacts: list[ContactPublic]
    accounts: list[AccountPublic]
    opportunities: list[OpportunityPublic]
    suggested_links: list[SuggestedLink]
