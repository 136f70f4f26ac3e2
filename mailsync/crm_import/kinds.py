"""The four importable record kinds: their columns, row parser, checks and writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from mailsync.crm_import import checks, records, writers
from mailsync.crm_import.records import Cells

R = TypeVar("R")


@dataclass(frozen=True)
class ImportKind(Generic[R]):
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    parse: Callable[[Cells], R | None]
    check: Callable[[Sequence[tuple[int, R]], Session, checks.Refused], checks.Reasons]
    write: Callable[[Session, Sequence[R]], None]
    key_column: str
    """The natural key: what other rows of the same file may refer to."""

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


USERS = ImportKind(
    "users",
    required=("email",),
    optional=("display_name", "first_name", "last_name", "role", "team", "manager_email"),
    parse=records.parse_user,
    check=checks.check_users,
    write=writers.write_users,
    key_column="email",
)
ACCOUNTS = ImportKind(
    "accounts",
    required=("name", "domains"),
    optional=("owner_email",),
    parse=records.parse_account,
    check=checks.check_accounts,
    write=writers.write_accounts,
    key_column="name",
)
CONTACTS = ImportKind(
    "contacts",
    required=("first_name", "last_name", "email", "account"),
    optional=("title", "phone"),
    parse=records.parse_contact,
    check=checks.check_contacts,
    write=writers.write_contacts,
    key_column="email",
)
OPPORTUNITIES = ImportKind(
    "opportunities",
    required=("code", "name", "account", "status"),
    optional=("stage", "amount", "currency", "close_date", "owner_email"),
    parse=records.parse_opportunity,
    check=checks.check_opportunities,
    write=writers.write_opportunities,
    key_column="code",
)

KINDS: dict[str, ImportKind[Any]] = {
    kind.name: kind for kind in (USERS, ACCOUNTS, CONTACTS, OPPORTUNITIES)
}
