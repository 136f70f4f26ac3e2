"""Parsers for one CSV cell each: return the typed value or raise ValueError with the reason.

The reason is shown to the person who fixes the spreadsheet, next to the line
number, so it quotes the offending value and says what is expected.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from mailsync.addresses import normalise_domain, normalise_email

LIST_SEPARATOR = ";"
STATUSES = ("open", "won", "lost")
ROLES = ("salesperson", "manager", "admin")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_AMOUNT_LIMIT = Decimal("1e16")  # Numeric(18, 2) in the store


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(LIST_SEPARATOR) if part.strip()]


def email_list(text: str, column: str) -> tuple[str, ...]:
    """Addresses in order, lower-cased, duplicates within the cell dropped."""
    addresses: list[str] = []
    for part in split_list(text):
        address = email(part, column)
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def email(text: str, column: str) -> str:
    try:
        return normalise_email(text)
    except ValueError as exc:
        raise ValueError(f"bad {column}: {exc}") from None


def domain_list(text: str, column: str) -> tuple[str, ...]:
    domains: list[str] = []
    for part in split_list(text):
        try:
            domain = normalise_domain(part.lstrip("@"))
        except ValueError as exc:
            raise ValueError(f"bad {column}: {exc}") from None
        if domain not in domains:
            domains.append(domain)
    return tuple(domains)


def iso_date(text: str, column: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad {column} {text!r}: expected a date as YYYY-MM-DD") from None


def amount(text: str, column: str) -> Decimal:
    cleaned = text.replace("_", "").replace(" ", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(
            f"bad {column} {text!r}: expected a number like 12500.00 (no currency sign, "
            "no thousands separator)"
        ) from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"bad {column} {text!r}: expected a number of 0 or more")
    if value >= _AMOUNT_LIMIT:
        raise ValueError(f"bad {column} {text!r}: too large")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"bad {column} {text!r}: at most 2 decimal places")
    return value.quantize(Decimal("0.01"))


def currency(text: str, column: str) -> str:
    code = text.upper()
    if not _CURRENCY.match(code):
        raise ValueError(f"bad {column} {text!r}: expected a 3-letter ISO 4217 code like EUR")
    return code


def choice(text: str, column: str, allowed: tuple[str, ...]) -> str:
    value = text.lower()
    if value not in allowed:
        raise ValueError(f"bad {column} {text!r}: expected one of {', '.join(allowed)}")
    return value
