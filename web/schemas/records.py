"""CRM records as the add-in shows them, and the contact it can create."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from crm_store.items import TargetKind
from web.schemas.common import ApiInput, ApiModel, EmailText, ShortText


class AccountPublic(ApiModel):
    id: int
    name: str
    domains: list[str]
    owner_email: str | None


class ContactPublic(ApiModel):
    id: int
    name: str
    first_name: str
    last_name: str
    title: str | None
    emails: list[str]
    account_id: int | None


class OpportunityPublic(ApiModel):
    id: int
    code: str
    name: str
    account_id: int
    stage: str
    status: str
    amount: Decimal | None
    currency: str | None
    owner_email: str | None


class ContactCreate(ApiInput):
    """A contact from an email's sender: the address, and the name as Outlook shows it."""

    email: EmailText
    display_name: ShortText = ""
    first_name: ShortText | None = None
    last_name: ShortText | None = None
    title: ShortText | None = None
    phone: str | None = Field(default=None, max_length=64)
    account_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class ContactCreated(ApiModel):
    contact: ContactPublic
    account: AccountPublic | None
    account_reason: str


class SearchHit(ApiModel):
    kind: TargetKind
    id: int
    label: str
    detail: str


class SearchResults(ApiModel):
    query: str
    hits: list[SearchHit]
