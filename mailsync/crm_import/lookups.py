"""Set-based look-ups of the natural keys a CSV file refers to.

Only the keys that appear in the file are fetched, in chunks of IN (…), so
checking a 100k-row file against a store of millions costs a few queries, not
one per row and not a full table scan into memory.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.models import Account, AccountDomain, ContactEmail, Opportunity, User

CHUNK = 900  # below every SQLite build's limit on bound parameters


def _chunks(values: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _pairs(session: Session, key: Any, value: Any, keys: Collection[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for chunk in _chunks(keys):
        for k, v in session.execute(select(key, value).where(key.in_(chunk))):
            found[k] = v
    return found


def known_users(session: Session, emails: Collection[str]) -> set[str]:
    return set(_pairs(session, User.email, User.id, emails))


def known_accounts(session: Session, names: Collection[str]) -> set[str]:
    return set(_pairs(session, Account.name, Account.id, names))


def domain_owners(session: Session, domains: Collection[str]) -> dict[str, str]:
    """domain → name of the account that has it."""
    found: dict[str, str] = {}
    for chunk in _chunks(domains):
        query = (
            select(AccountDomain.domain, Account.name)
            .join(Account, Account.id == AccountDomain.account_id)
            .where(AccountDomain.domain.in_(chunk))
        )
        for domain, name in session.execute(query):
            found[domain] = name
    return found


def email_contacts(session: Session, emails: Collection[str]) -> dict[str, int]:
    """address → id of the contact that has it."""
    return _pairs(session, ContactEmail.email, ContactEmail.contact_id, emails)


def contact_primary_emails(session: Session, contact_ids: Collection[int]) -> dict[int, str]:
    """contact id → its first address, to name the contact in a message."""
    found: dict[int, str] = {}
    ordered = sorted(set(contact_ids))
    for start in range(0, len(ordered), CHUNK):
        query = (
            select(ContactEmail.contact_id, ContactEmail.email)
            .where(ContactEmail.contact_id.in_(ordered[start : start + CHUNK]))
            .order_by(ContactEmail.contact_id, ContactEmail.position.desc())
        )
        for contact_id, email in session.execute(query):
            found[contact_id] = email
    return found


def known_opportunity_codes(session: Session, codes: Collection[str]) -> set[str]:
    return set(_pairs(session, Opportunity.code, Opportunity.id, codes))
