"""The few CRM records an item's addresses and codes can reach, read in four queries.

The add-in asks about one item at a time while the CRM may hold a million
contacts, so the web service never loads the CRM whole: it reads the contacts
with these addresses (with all their emails), the accounts of those contacts
and of the addresses' domains (with all their domains), the open deals of
those accounts plus any deal whose code was mentioned, and which addresses
are our own users. Every query is driven by a unique or foreign-key index, so
the cost depends on the item, not on the size of the CRM. The same rows feed
the rules' index and the API's public views, so nothing is read twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, and_, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from crm_store.models import Account, AccountDomain, Contact, ContactEmail, Opportunity, User
from crm_store.upsert import chunks
from rules import AccountRecord, ContactRecord, CrmIndex, OpportunityRecord
from web.schemas.records import AccountPublic, ContactPublic, OpportunityPublic

MAX_SLICE_ADDRESSES = 5_000


@dataclass(frozen=True, slots=True)
class CrmSlice:
    """The records reachable from an item, as a rules index and as API views."""

    index: CrmIndex
    contacts: dict[int, ContactPublic] = field(default_factory=dict)
    accounts: dict[int, AccountPublic] = field(default_factory=dict)
    opportunities: dict[int, OpportunityPublic] = field(default_factory=dict)

    def contact_for(self, address: str) -> ContactRecord | None:
        return self.index.contact_for(address)


def load_slice(
    session: Session,
    addresses: Collection[str],
    codes: Sequence[str] = (),
    internal_domains: Iterable[str] = (),
) -> CrmSlice:
    wanted = sorted({a.strip().lower() for a in addresses if a and "@" in a})[:MAX_SLICE_ADDRESSES]
    domains = sorted({a.rpartition("@")[2] for a in wanted})
    contacts = _contacts(session, wanted)
    accounts = _accounts(
        session, domains, {c.account_id for c in contacts.values() if c.account_id}, codes
    )
    opportunities = _opportunities(session, sorted(accounts), codes)
    users = _users(session, wanted)
    index = CrmIndex.build(
        accounts=[
            AccountRecord(a.id, a.name, tuple(a.domains), a.owner_email) for a in accounts.values()
        ],
        contacts=[
            ContactRecord(c.id, c.name, tuple(c.emails), c.account_id) for c in contacts.values()
        ],
        opportunities=[
            OpportunityRecord(
                o.id,
                o.code,
                o.name,
                o.account_id,
                o.status,  # type: ignore[arg-type]
                o.stage,
                o.owner_email,
            )
            for o in opportunities.values()
        ],
        user_emails=users,
        internal_domains=internal_domains,
    )
    return CrmSlice(index, contacts, accounts, opportunities)


def _contacts(session: Session, emails: Sequence[str]) -> dict[int, ContactPublic]:
    """Contacts owning any of ``emails``, each with all its addresses (primary first)."""
    matched = aliased(ContactEmail)
    every = aliased(ContactEmail)
    found: dict[int, ContactPublic] = {}
    for chunk in chunks(emails):
        rows = session.execute(
            select(
                Contact.id,
                Contact.first_name,
                Contact.last_name,
                Contact.title,
                Contact.account_id,
                every.email,
            )
            .select_from(matched)
            .join(Contact, Contact.id == matched.contact_id)
            .join(every, every.contact_id == Contact.id)
            .where(matched.email.in_(chunk))
            .order_by(Contact.id, every.position, every.id)
        )
        for ident, first, last, title, account_id, email in rows:
            contact = found.get(int(ident))
            if contact is None:
                contact = ContactPublic(
                    id=int(ident),
                    name=f"{first} {last}".strip(),
                    first_name=first,
                    last_name=last,
                    title=title,
                    emails=[],
                    account_id=None if account_id is None else int(account_id),
                )
                found[contact.id] = contact
            if email not in contact.emails:
                contact.emails.append(email)
    return found


def _accounts(
    session: Session, domains: Sequence[str], ids: Collection[int], codes: Sequence[str]
) -> dict[int, AccountPublic]:
    """Accounts of these ids, of these domains, or with a deal of these codes.

    The ids are collected first (unique indexes on domain and code) and the
    accounts then read by primary key: an OR of IN-subqueries would make
    PostgreSQL scan every account.
    """
    reach: list[Select[int]] = []
    if domains:
        reach.append(select(AccountDomain.account_id).where(AccountDomain.domain.in_(domains)))
    if codes:
        reach.append(select(Opportunity.account_id).where(Opportunity.code.in_(codes)))
    wanted = set(ids)
    if reach:
        statement = reach[0] if len(reach) == 1 else union_all(*reach)
        wanted.update(int(i) for i in session.scalars(statement))
    if not wanted:
        return {}
    owner = aliased(User)
    domain = aliased(AccountDomain)
    rows = session.execute(
        select(Account.id, Account.name, owner.email, domain.domain)
        .outerjoin(owner, owner.id == Account.owner_id)
        .outerjoin(domain, domain.account_id == Account.id)
        .where(Account.id.in_(sorted(wanted)))
        .order_by(Account.id, domain.id)
    )
    found: dict[int, AccountPublic] = {}
    for ident, name, owner_email, account_domain in rows:
        account = found.get(int(ident))
        if account is None:
            account = AccountPublic(id=int(ident), name=name, domains=[], owner_email=owner_email)
            found[account.id] = account
        if account_domain is not None:
            account.domains.append(account_domain)
    return found


def _opportunities(
    session: Session, account_ids: Sequence[int], codes: Sequence[str]
) -> dict[int, OpportunityPublic]:
    """Open deals of these accounts, and any deal named by code."""
    reach = []
    if account_ids:
        reach.append(and_(Opportunity.account_id.in_(account_ids), Opportunity.status == "open"))
    if codes:
        reach.append(Opportunity.code.in_(codes))
    if not reach:
        return {}
    owner = aliased(User)
    rows = session.execute(
        select(
            Opportunity.id,
            Opportunity.code,
            Opportunity.name,
            Opportunity.account_id,
            Opportunity.stage,
            Opportunity.status,
            Opportunity.amount,
            Opportunity.currency,
            owner.email,
        )
        .outerjoin(owner, owner.id == Opportunity.owner_id)
        .where(or_(*reach))
        .order_by(Opportunity.code)
    )
    return {
        int(row.id): OpportunityPublic(
            id=int(row.id),
            code=row.code,
            name=row.name,
            account_id=int(row.account_id),
            stage=row.stage,
            status=row.status,
            amount=row.amount,
            currency=row.currency,
            owner_email=row.email,
        )
        for row in rows
    }


def _users(session: Session, emails: Sequence[str]) -> list[str]:
    """Which of these addresses are our own users (stored lower-case, as imported)."""
    found: list[str] = []
    for chunk in chunks(emails):
        found.extend(
            str(e) for e in session.scalars(select(User.email).where(User.email.in_(chunk)))
        )
    return found
