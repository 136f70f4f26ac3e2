"""One typed record per CSV row, parsed cell by cell with every problem collected.

A row is either a record or a list of reasons; collecting all reasons of a row
at once spares the user a fix-one-retry-find-the-next loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from mailsync.crm_import import fields

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UserRecord:
    email: str
    display_name: str
    role: str
    team: str | None
    manager_email: str | None


@dataclass(frozen=True, slots=True)
class AccountRecord:
    name: str
    domains: tuple[str, ...]
    owner_email: str | None


@dataclass(frozen=True, slots=True)
class ContactRecord:
    first_name: str
    last_name: str
    emails: tuple[str, ...]
    account: str | None
    title: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class OpportunityRecord:
    code: str
    name: str
    account: str
    stage: str
    status: str
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    owner_email: str | None


Record = UserRecord | AccountRecord | ContactRecord | OpportunityRecord


class Cells:
    """The cells of one row; each accessor records a reason instead of stopping."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.reasons: list[str] = []

    def text(self, column: str, *, required: bool = False, max_length: int = 300) -> str:
        value = self._values.get(column, "")
        if required and not value:
            self.reasons.append(f"{column} is empty")
        elif len(value) > max_length:
            self.reasons.append(f"{column} is longer than {max_length} characters")
        return value

    def parsed(
        self, column: str, parse: Callable[[str, str], T], *, required: bool = False
    ) -> T | None:
        value = self.text(column, required=required, max_length=10_000)
        if not value:
            return None
        try:
            return parse(value, column)
        except ValueError as exc:
            self.reasons.append(str(exc))
            return None


def parse_user(cells: Cells) -> UserRecord | None:
    email = cells.parsed("email", fields.email, required=True)
    display_name = cells.text("display_name", max_length=200)
    if not display_name:
        first = cells.text("first_name", max_length=100)
        last = cells.text("last_name", max_length=100)
        display_name = f"{first} {last}".strip()
    role = cells.parsed("role", lambda v, c: fields.choice(v, c, fields.ROLES))
    team = cells.text("team", max_length=100) or None
    manager = cells.parsed("manager_email", fields.email)
    if email is not None and manager == email:
        cells.reasons.append("manager_email is the user's own address")
    if cells.reasons or email is None:
        return None
    return UserRecord(email, display_name, role or "salesperson", team, manager)


def parse_account(cells: Cells) -> AccountRecord | None:
    name = cells.text("name", required=True)
    domains = cells.parsed("domains", fields.domain_list) or ()
    owner = cells.parsed("owner_email", fields.email)
    if cells.reasons:
        return None
    return AccountRecord(name, domains, owner)


def parse_contact(cells: Cells) -> ContactRecord | None:
    first = cells.text("first_name", max_length=200)
    last = cells.text("last_name", max_length=200)
    if not first and not last:
        cells.reasons.append("first_name and last_name are both empty")
    emails = cells.parsed("email", fields.email_list, required=True) or ()
    account = cells.text("account") or None
    title = cells.text("title", max_length=200) or None
    phone = cells.text("phone", max_length=64) or None
    if cells.reasons:
        return None
    return ContactRecord(first, last, emails, account, title, phone)


def parse_opportunity(cells: Cells) -> OpportunityRecord | None:
    code = cells.text("code", required=True, max_length=64)
    if code and any(ch.isspace() for ch in code):
        cells.reasons.append(f"code {code!r} contains spaces")
    name = cells.text("name", required=True)
    account = cells.text("account", required=True)
    stage = cells.text("stage", max_length=100)
    status = cells.parsed("status", lambda v, c: fields.choice(v, c, fields.STATUSES))
    amount = cells.parsed("amount", fields.amount)
    currency = cells.parsed("currency", fields.currency)
    if amount is not None and currency is None and not cells.text("currency"):
        cells.reasons.append("amount is given without a currency")
    close_date = cells.parsed("close_date", fields.iso_date)
    owner = cells.parsed("owner_email", fields.email)
    if cells.reasons:
        return None
    return OpportunityRecord(
        code, name, account, stage, status or "open", amount, currency, close_date, owner
    )
