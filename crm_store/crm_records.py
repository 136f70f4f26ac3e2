"""The CRM as plain records, read in a handful of queries to build the rules' index.

crm_store may not import ``rules`` (the rules stay pure and the store sits
below everything), so these records mirror ``rules.index.AccountRecord``,
``ContactRecord`` and ``OpportunityRecord`` field for field, in order: the
caller converts with ``AccountRecord(**dataclasses.asdict(record))`` or
positionally.
"""

from __future__ import annotations

from collections.abc import Collection
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
    domains: dict[int, list[str]] = {}
    for account_id, domain in session.execute(
        select(AccountDomain.account_id, AccountDomain.domain).order_by(AccountDomain.id)
    ):
        domains.setdefault(int(account_id), []).append(domain)
    owner = aliased(User)
    accounts = [
        AccountData(int(i), name, tuple(domains.get(int(i), ())), email)
        for i, name, email in session.execute(
            select(Account.id, Account.name, owner.email)
            .outerjoin(owner, owner.id == Account.owner_id)
            .order_by(Account.id)
        )
    ]
    emails: dict[int, list[str]] = {}
    for contact_id, email in session.execute(
        select(ContactEmail.contact_id, ContactEmail.email).order_by(
            ContactEmail.contact_id, ContactEmail.position, ContactEmail.id
        )
    ):
        emails.setdefault(int(contact_id), []).append(email)
    contacts = [
        ContactData(int(i), f"{first} {last}".strip(), tuple(emails.get(int(i), ())), account_id)
        for i, first, last, account_id in session.execute(
            select(Contact.id, Contact.first_name, Contact.last_name, Contact.account_id).order_by(
                Contact.id
            )
        )
    ]
    opportunities = [
        OpportunityData(int(i), code, name, int(account_id), status, stage, email)
        for i, code, name, account_id, status, stage, email in session.execute(
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
    ]
    user_emails = list(session.execute(select(User.email).order_by(User.id)).scalars())
    return CrmRecords(accounts, contacts, opportunities, user_emails)


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
    owner = aliased(User)
    accounts: list[AccountData] = []
    for chunk in chunks(sorted(set(account_ids))):
        domains: dict[int, list[str]] = {}
        for account_id, domain in session.execute(
            select(AccountDomain.account_id, AccountDomain.domain)
            .where(AccountDomain.account_id.in_(chunk))
            .order_by(AccountDomain.id)
        ):
            domains.setdefault(int(account_id), []).append(domain)
        accounts.extend(
            AccountData(int(i), name, tuple(domains.get(int(i), ())), email)
            for i, name, email in session.execute(
                select(Account.id, Account.name, owner.email)
                .outerjoin(owner, owner.id == Account.owner_id)
                .where(Account.id.in_(chunk))
                .order_by(Account.id)
            )
        )
    contacts: list[ContactData] = []
    for chunk in chunks(sorted(set(contact_ids))):
        emails: dict[int, list[str]] = {}
        for contact_id, email in session.execute(
            select(ContactEmail.contact_id, ContactEmail.email)
            .where(ContactEmail.contact_id.in_(chunk))
            .order_by(ContactEmail.contact_id, ContactEmail.position, ContactEmail.id)
        ):
            emails.setdefault(int(contact_id), []).append(email)
        contacts.extend(
            ContactData(int(i), f"{first} {last}".strip(), tuple(emails.get(int(i), ())), acc)
            for i, first, last, acc in session.execute(
                select(Contact.id, Contact.first_name, Contact.last_name, Contact.account_id)
                .where(Contact.id.in_(chunk))
                .order_by(Contact.id)
            )
        )
    opportunities: list[OpportunityData] = []
    for chunk in chunks(sorted(set(opportunity_ids))):
        opportunities.extend(
            OpportunityData(int(i), code, name, int(account_id), status, stage, email)
            for i, code, name, account_id, status, stage, email in session.execute(
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
                .where(Opportunity.id.in_(chunk))
                .order_by(Opportunity.id)
            )
        )
    user_emails = list(session.execute(select(User.email).order_by(User.id)).scalars())
    return CrmRecords(accounts, contacts, opportunities, user_emails)
