"""The few CRM records an item's addresses, codes and names can reach, in ONE statement.

The add-in asks about one item at a time while the CRM may hold a million
contacts, and it asks while the salesperson waits, so this read is one round
trip: a single ``UNION ALL`` of the contacts with these addresses (with all
their emails), the accounts they reach (by contact, by domain, by deal code,
by name; with all their domains), the open deals of those accounts plus any
deal named by code, which addresses are our own users, and our users' and
mailboxes' addresses at the addresses' domains that configuration has not
already made ours (``crm_store.our_addresses``: what decides whether an
address is a colleague's). Each CRM arm is a unique- or foreign-key index
probe, so the cost depends on the item, not on the size of the CRM; the last
arms probe the domain indexes of users and mailboxes (revision 0011).
Rows of every kind share one column layout (``kind`` says which record a row
describes) and are folded back into records here.

The statements are built once per shape (whether codes or names are asked
for: an empty ``IN`` arm would otherwise still be planned, and on PostgreSQL
may scan) and reused, so a request pays neither SQLAlchemy's construction
nor its compilation (compiled forms are cached per statement).

It runs on a plain ``Connection``, not a ``Session``: the ORM adds nothing to
a read of columns, and the web service's hot path runs this on an
autocommit connection so the single statement is the single round trip.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Integer,
    Numeric,
    String,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from crm_store.email_domain import email_domain
from crm_store.models import (
    Account,
    AccountDomain,
    Contact,
    ContactEmail,
    Mailbox,
    Opportunity,
    User,
)

MAX_REACH_ADDRESSES = 5_000
"""More addresses than any real item carries; bounds the statement's parameter count."""

_CONTACT, _ACCOUNT, _OPPORTUNITY, _USER, _OURS = 1, 2, 3, 4, 5


@dataclass(slots=True)
class ContactRow:
    id: int
    first_name: str
    last_name: str
    title: str | None
    account_id: int | None
    emails: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(slots=True)
class AccountRow:
    id: int
    name: str
    owner_email: str | None
    domains: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OpportunityRow:
    id: int
    code: str
    name: str
    account_id: int
    stage: str
    status: str
    amount: Decimal | None
    currency: str | None
    owner_email: str | None


@dataclass(frozen=True, slots=True)
class ReachableRecords:
    """Contacts, accounts and deals by id (in the store's order), and our users' addresses.

    ``user_emails``: the asked-for addresses that are users'; ``our_addresses``: every
    user's and mailbox's address at the asked-for addresses' domains.
    """

    contacts: dict[int, ContactRow]
    accounts: dict[int, AccountRow]
    opportunities: dict[int, OpportunityRow]
    user_emails: list[str]
    our_addresses: list[str] = field(default_factory=list)


def read_reachable_records(
    connection: Connection,
    emails: Collection[str],
    *,
    codes: Collection[str] = (),
    account_names: Collection[str] = (),
    settled_domains: Collection[str] = (),
) -> ReachableRecords:
    """Records reachable from these (lower-case) addresses, deal codes and account names.

    ``settled_domains``: domains ours whoever is there (the configured internal
    domains). Our addresses there decide nothing, and the company's own domain is
    on nearly every item (its mailbox owner), so they are not read: otherwise every
    lookup would bring back every colleague, index or not.
    """
    wanted = sorted({e for e in emails if "@" in e})[:MAX_REACH_ADDRESSES]
    domains = sorted({e.rpartition("@")[2] for e in wanted})
    codes = sorted({c.upper() for c in codes})
    names = sorted({n.casefold() for n in account_names})
    settled = {d.strip().lower() for d in settled_domains}
    parameters: dict[str, Any] = {
        "emails": wanted,
        "domains": domains,
        "our_domains": [d for d in domains if d not in settled],
    }
    if codes:
        parameters["codes"] = codes
    if names:
        parameters["names"] = names
    rows = connection.execute(_statement(bool(codes), bool(names)), parameters)
    contacts: dict[int, ContactRow] = {}
    accounts: dict[int, AccountRow] = {}
    opportunities: dict[int, OpportunityRow] = {}
    users: list[str] = []
    ours: list[str] = []
    for kind, ident, t1, t2, t3, t4, t5, t6, ref, _, amount in rows:
        if kind == _CONTACT:
            contact = contacts.get(ident)
            if contact is None:
                contact = contacts[ident] = ContactRow(ident, t1, t2, t3, ref)
            if t4 not in contact.emails:
                contact.emails.append(t4)
        elif kind == _ACCOUNT:
            account = accounts.get(ident)
            if account is None:
                account = accounts[ident] = AccountRow(ident, t1, t2)
            if t4 is not None:
                account.domains.append(t4)
        elif kind == _OPPORTUNITY:
            opportunities[ident] = OpportunityRow(ident, t1, t2, ref, t3, t4, amount, t5, t6)
        elif kind == _USER:
            users.append(t1)
        else:
            ours.append(t1)
    return ReachableRecords(contacts, accounts, opportunities, users, ours)


@lru_cache(maxsize=4)
def _statement(with_codes: bool, with_names: bool) -> CompoundSelect[Any]:
    """The one statement for this shape of question (see the module docstring)."""
    emails = bindparam("emails", type_=String(), expanding=True)
    domains = bindparam("domains", type_=String(), expanding=True)
    our_domains = bindparam("our_domains", type_=String(), expanding=True)
    codes = bindparam("codes", type_=String(), expanding=True)
    names = bindparam("names", type_=String(), expanding=True)
    text, number = String(), BigInteger()

    matched = select(ContactEmail.contact_id).where(ContactEmail.email.in_(emails)).cte("matched")
    reach_arms = [
        select(Contact.account_id.label("account_id")).where(
            Contact.id.in_(select(matched.c.contact_id)), Contact.account_id.is_not(None)
        ),
        select(AccountDomain.account_id).where(AccountDomain.domain.in_(domains)),
    ]
    if with_codes:
        reach_arms.append(select(Opportunity.account_id).where(Opportunity.code.in_(codes)))
    if with_names:
        reach_arms.append(select(Account.id).where(func.lower(Account.name).in_(names)))
    reach = union(*reach_arms).cte("reach")

    def nothing(kind: Any) -> Any:
        # A typed NULL: PostgreSQL resolves UNION column types pair by pair, and two bare
        # NULLs would make a text column that a later numeric arm cannot join.
        return cast(null(), kind)

    every = aliased(ContactEmail)
    contact_rows = (
        select(
            literal(_CONTACT, Integer()).label("kind"),
            Contact.id.label("id"),
            Contact.first_name.label("t1"),
            Contact.last_name.label("t2"),
            Contact.title.label("t3"),
            every.email.label("t4"),
            nothing(text).label("t5"),
            nothing(text).label("t6"),
            Contact.account_id.label("ref"),
            every.position.label("seq"),
            nothing(Numeric(18, 2)).label("amount"),
        )
        .join(every, every.contact_id == Contact.id)
        .where(Contact.id.in_(select(matched.c.contact_id)))
    )
    owner = aliased(User)
    domain = aliased(AccountDomain)
    account_rows = (
        select(
            literal(_ACCOUNT, Integer()),
            Account.id,
            Account.name,
            owner.email,
            nothing(text),
            domain.domain,
            nothing(text),
            nothing(text),
            nothing(number),
            domain.id,
            nothing(Numeric(18, 2)),
        )
        .outerjoin(owner, owner.id == Account.owner_id)
        .outerjoin(domain, domain.account_id == Account.id)
        .where(Account.id.in_(select(reach.c.account_id)))
    )
    deal_owner = aliased(User)

    def deal_rows(condition: Any) -> Any:
        return (
            select(
                literal(_OPPORTUNITY, Integer()),
                Opportunity.id,
                Opportunity.code,
                Opportunity.name,
                Opportunity.stage,
                Opportunity.status,
                Opportunity.currency,
                deal_owner.email,
                Opportunity.account_id,
                nothing(number),
                Opportunity.amount,
            )
            .outerjoin(deal_owner, deal_owner.id == Opportunity.owner_id)
            .where(condition)
        )

    arms = [
        contact_rows,
        account_rows,
        deal_rows(
            Opportunity.account_id.in_(select(reach.c.account_id)) & (Opportunity.status == "open")
        ),
    ]
    if with_codes:
        # A deal named by code is reached whatever its status; one also open at a reached
        # account comes twice and is folded by id.
        arms.append(deal_rows(Opportunity.code.in_(codes)))
    arms.append(
        select(
            literal(_USER, Integer()),
            User.id,
            User.email,
            *(nothing(text) for _ in range(5)),
            nothing(number),
            nothing(number),
            nothing(Numeric(18, 2)),
        ).where(User.email.in_(emails))
    )
    arms.extend(
        select(
            literal(_OURS, Integer()),
            ident,
            address,
            *(nothing(text) for _ in range(5)),
            nothing(number),
            nothing(number),
            nothing(Numeric(18, 2)),
        ).where(email_domain(address).in_(our_domains))
        for ident, address in ((User.id, User.email), (Mailbox.id, Mailbox.address))
    )
    return union_all(*arms).order_by("kind", "id", "seq")
