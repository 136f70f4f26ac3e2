"""The CRM as plain records, read in a handful of queries to build the rules' index.

crm_store may not import ``rules`` (the rules stay pure and the store sits
below everything), so these records mirror ``rules.index.AccountRecord``,
``ContactRecord`` and ``OpportunityRecord`` field for field, in order: the
caller converts with ``AccountRecord(**dataclasses.asdict(record))`` or
positionally.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from crm_store.models import Account, AccountDomain, Contact, ContactEmail, Opportunity, User
from crm_store.upsert import chunks


@dataclass(frozen=True, slots=True)
class AccountData:
    id: int
    name: str
    domains: tuple[str, ...] = ()
    owner_email: str | None = None


@dataclass(frozen=True, slots=True)
class ContactData:
    id: int
    name: str
    emails: tuple[str, ...]
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class OpportunityData:
    id: int
    code: str
    name: str
    account_id: int
    status: str = "open"
    stage: str = ""
    owner_email: str | None = None


@dataclass(frozen=True, slots=True)
class CrmRecords:
    accounts: list[AccountData]
    contacts: list[ContactData]
    opportunities: list[OpportunityData]
    user_emails: list[str]


def load_crm_records(session: Session) -> CrmRecords:
    """Every account, contact, opportunity and user address, in five queries.

    Contacts' emails are in position order (the first is the primary one).
    """
    return CrmRecords(
        _accounts(session, None),
        _contacts(session, None),
        _opportunities(session, None),
        _user_emails(session),
    )


def load_crm_records_by_id(
    session: Session,
    *,
    account_ids: Collection[int] = (),
    contact_ids: Collection[int] = (),
    opportunity_ids: Collection[int] = (),
) -> CrmRecords:
    """The named records as they are now; ids no longer in the store are simply absent.

    What a daemon calls with the ids the change log names, so refreshing its
    index costs a few indexed reads per changed record, never a full load.
    ``user_emails`` is every user's address (users are few and have no index
    of their own to patch).
    """
    accounts: list[AccountData] = []
    for chunk in chunks(sorted(set(account_ids))):
        accounts.extend(_accounts(session, chunk))
    contacts: list[ContactData] = []
    for chunk in chunks(sorted(set(contact_ids))):
        contacts.extend(_contacts(session, chunk))
    opportunities: list[OpportunityData] = []
    for chunk in chunks(sorted(set(opportunity_ids))):
        opportunities.extend(_opportunities(session, chunk))
    return CrmRecords(accounts, contacts, opportunities, _user_emails(session))


# Each reader below serves both loads: ``ids`` None reads every record, a chunk of
# ids only those, so a full build and a patch can never read a record differently.


def _accounts(session: Session, ids: Sequence[int] | None) -> list[AccountData]:
    owner = aliased(User)
    domain_rows = select(AccountDomain.account_id, AccountDomain.domain).order_by(AccountDomain.id)
    account_rows = (
        select(Account.id, Account.name, owner.email)
        .outerjoin(owner, owner.id == Account.owner_id)
        .order_by(Account.id)
    )
    if ids is not None:
        domain_rows = domain_rows.where(AccountDomain.account_id.in_(ids))
        account_rows = account_rows.where(Account.id.in_(ids))
    domains: dict[int, list[str]] = {}
    for account_id, domain in session.execute(domain_rows):
        domains.setdefault(int(account_id), []).append(domain)
    return [
        AccountData(int(i), name, tuple(domains.get(int(i), ())), email)
        for i, name, email in session.execute(account_rows)
    ]


def _contacts(session: Session, ids: Sequence[int] | None) -> list[ContactData]:
    email_rows = select(ContactEmail.contact_id, ContactEmail.email).order_by(
        ContactEmail.contact_id, ContactEmail.position, ContactEmail.id
    )
    contact_rows = select(
        Contact.id, Contact.first_name, Contact.last_name, Contact.account_id
    ).order_by(Contact.id)
    if ids is not None:
        email_rows = email_rows.where(ContactEmail.contact_id.in_(ids))
        contact_rows = contact_rows.where(Contact.id.in_(ids))
    emails: dict[int, list[str]] = {}
    for contact_id, email in session.execute(email_rows):
        emails.setdefault(int(contact_id), []).append(email)
    return [
        ContactData(int(i), f"{first} {last}".strip(), tuple(emails.get(int(i), ())), account_id)
        for i, first, last, account_id in session.execute(contact_rows)
    ]


def _opportunities(session: Session, ids: Sequence[int] | None) -> list[OpportunityData]:
    owner = aliased(User)
    rows = (
        select(
            Opportunity.id,
            Opportunity.code,
            Opportunity.name,
            Opportunity.account_id,
            Opportunity.status,
            Opportunity.stage,
            owner.email,
        )
        .outerjoin(owner, owner.id == Opportunity.owner_id)
        .order_by(Opportunity.id)
    )
    if ids is not None:
        rows = rows.where(Opportunity.id.in_(ids))
    return [
        OpportunityData(int(i), code, name, int(account_id), status, stage, email)
        for i, code, name, account_id, status, stage, email in session.execute(rows)
    ]


def _user_emails(session: Session) -> list[str]:
    return list(session.execute(select(User.email).order_by(User.id)).scalars())
