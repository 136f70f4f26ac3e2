"""A seeded, believable company: our salespeople and the customers they sell to.

The CRM side (users, accounts, contacts, opportunities) is small and held in
memory; the mailboxes' contents are planned elsewhere (``mailplan``) and drawn
lazily from this company so a 200k-message mailbox costs a few arrays, not a
graph of objects. The same seed always yields the same company, which is what
lets tests and benches compare a sync against ground truth.
"""

from __future__ import annotations

import csv
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from mailsync.sandbox import names


@dataclass(frozen=True, slots=True)
class User:
    """One of our own people; the first ``mailboxes`` users own a mailbox."""

    index: int
    email: str
    first_name: str
    last_name: str
    role: str  # salesperson | manager
    team: str
    manager_email: str | None
    object_id: str
    has_mailbox: bool

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class Account:
    index: int
    name: str
    domains: tuple[str, ...]
    owner_email: str


@dataclass(frozen=True, slots=True)
class Contact:
    index: int
    first_name: str
    last_name: str
    emails: tuple[str, ...]
    account_index: int
    title: str
    phone: str

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class Opportunity:
    index: int
    code: str
    name: str
    account_index: int
    stage: str
    status: str  # open | won | lost
    amount: Decimal
    currency: str
    close_date: date
    owner_email: str


@dataclass(frozen=True, slots=True)
class Company:
    """Everything the CRM knows, plus our own domain; indexes are list positions."""

    seed: int
    name: str
    domain: str
    users: tuple[User, ...]
    accounts: tuple[Account, ...]
    contacts: tuple[Contact, ...]
    opportunities: tuple[Opportunity, ...]
    contacts_by_account: tuple[tuple[int, ...], ...] = field(repr=False)
    opportunities_by_account: tuple[tuple[int, ...], ...] = field(repr=False)

    @property
    def mailbox_users(self) -> tuple[User, ...]:
        return tuple(u for u in self.users if u.has_mailbox)

    def user_by_email(self, email: str) -> User | None:
        email = email.lower()
        return next((u for u in self.users if u.email == email), None)

    def contact_by_email(self) -> dict[str, Contact]:
        return {e: c for c in self.contacts for e in c.emails}

    def account_by_domain(self) -> dict[str, Account]:
        return {d: a for a in self.accounts for d in a.domains}

    def open_opportunities(self, account_index: int, owner_email: str) -> list[Opportunity]:
        """The open opportunities of an account owned by one salesperson, in code order."""
        return [
            self.opportunities[i]
            for i in self.opportunities_by_account[account_index]
            if self.opportunities[i].status == "open"
            and self.opportunities[i].owner_email == owner_email
        ]


MAX_ACCOUNTS = 1800
"""Six accounts per mailbox up to here: there are 2,160 distinct account names, and
drawing the last few of them at random would take for ever (a fleet bench runs
thousands of mailboxes; past 300 of them, mailboxes share the accounts)."""


def generate_company(seed: int, *, mailboxes: int = 3, accounts: int | None = None) -> Company:
    """Build the company for ``seed``: ``mailboxes`` salespeople own a mailbox.

    A few extra colleagues without a mailbox exist so that internal mail also
    reaches people the sync never sees.
    """
    if mailboxes < 1:
        raise ValueError(f"mailboxes must be at least 1, got {mailboxes}")
    rng = random.Random(seed)
    our_name, our_domain = names.OUR_COMPANIES[seed % len(names.OUR_COMPANIES)]
    used_local_parts: set[str] = set()
    users = _make_users(rng, our_domain, mailboxes, used_local_parts)
    salespeople = [u for u in users if u.role == "salesperson"]
    n_accounts = accounts if accounts is not None else min(max(12, 6 * mailboxes), MAX_ACCOUNTS)
    account_list = _make_accounts(rng, n_accounts, salespeople, mailboxes)
    contact_list, by_account_c = _make_contacts(rng, account_list)
    opp_list, by_account_o = _make_opportunities(rng, account_list, salespeople)
    return Company(
        seed=seed,
        name=our_name,
        domain=our_domain,
        users=tuple(users),
        accounts=tuple(account_list),
        contacts=tuple(contact_list),
        opportunities=tuple(opp_list),
        contacts_by_account=by_account_c,
        opportunities_by_account=by_account_o,
    )


def _make_users(rng: random.Random, domain: str, mailboxes: int, used: set[str]) -> list[User]:
    n_managers = max(1, (mailboxes + 4) // 5)
    n_sales = mailboxes + 2  # colleagues without a mailbox receive internal mail too
    people: list[tuple[str, str, str]] = []
    for _ in range(n_managers + n_sales):
        first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
        local = _unique(f"{first}.{last}".lower(), used)
        people.append((first, last, f"{local}@{domain}"))
    managers = people[:n_managers]
    sales = people[n_managers:]
    users: list[User] = []
    for i, (first, last, email) in enumerate(sales):
        team_no = i % n_managers
        users.append(
            User(
                index=len(users),
                email=email,
                first_name=first,
                last_name=last,
                role="salesperson",
                team=names.TEAMS[team_no % len(names.TEAMS)],
                manager_email=managers[team_no][2],
                object_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                has_mailbox=i < mailboxes,
            )
        )
    for j, (first, last, email) in enumerate(managers):
        users.append(
            User(
                index=len(users),
                email=email,
                first_name=first,
                last_name=last,
                role="manager",
                team=names.TEAMS[j % len(names.TEAMS)],
                manager_email=None,
                object_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                has_mailbox=False,
            )
        )
    return users


def _unique(base: str, used: set[str]) -> str:
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}{n}"
    used.add(candidate)
    return candidate


def _make_accounts(
    rng: random.Random, n: int, salespeople: list[User], mailboxes: int
) -> list[Account]:
    used_names: set[str] = set()
    accounts: list[Account] = []
    for i in range(n):
        while True:
            prefix = rng.choice(names.COMPANY_PREFIXES)
            suffix, slug = rng.choice(names.COMPANY_SUFFIXES)
            name, base = f"{prefix} {suffix}", f"{prefix}{slug}".lower()
            if name not in used_names:
                break
            extra = rng.choice(("Group", "International", "Holding", "Partners"))
            name, base = f"{name} {extra}", f"{base}-{extra}".lower()
            if name not in used_names:
                break
        used_names.add(name)
        domains = [f"{base}.com"]
        if rng.random() < 0.35:
            domains.append(f"{base}.{rng.choice(names.COUNTRY_TLDS)}")
        # Mailbox owners hold most accounts so their mail concerns their own deals.
        owner = salespeople[i % mailboxes] if rng.random() < 0.85 else rng.choice(salespeople)
        accounts.append(Account(i, name, tuple(domains), owner.email))
    return accounts


def _make_contacts(
    rng: random.Random, accounts: list[Account]
) -> tuple[list[Contact], tuple[tuple[int, ...], ...]]:
    contacts: list[Contact] = []
    by_account: list[tuple[int, ...]] = []
    used: set[str] = set()
    for account in accounts:
        mine: list[int] = []
        for _ in range(rng.randint(2, 6)):
            first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
            local = f"{first[0]}.{last}".lower()
            primary = _unique(f"{local}@{account.domains[0]}", used)
            emails = [primary]
            roll = rng.random()
            if roll < 0.15 and len(account.domains) > 1:
                emails.append(_unique(f"{local}@{account.domains[1]}", used))
            elif roll < 0.25:
                free = rng.choice(names.FREE_MAIL_DOMAINS)
                emails.append(_unique(f"{first}.{last}{rng.randint(1, 99)}@{free}".lower(), used))
            phone = f"+49 {rng.randint(30, 899)} {rng.randint(100000, 9999999)}"
            mine.append(len(contacts))
            contacts.append(
                Contact(
                    index=len(contacts),
                    first_name=first,
                    last_name=last,
                    emails=tuple(emails),
                    account_index=account.index,
                    title=rng.choice(names.TITLES),
                    phone=phone,
                )
            )
        by_account.append(tuple(mine))
    return contacts, tuple(by_account)


def _make_opportunities(
    rng: random.Random, accounts: list[Account], salespeople: list[User]
) -> tuple[list[Opportunity], tuple[tuple[int, ...], ...]]:
    opps: list[Opportunity] = []
    by_account: list[tuple[int, ...]] = []
    code_no = 100 + rng.randint(0, 800)
    today = date(2025, 1, 1) + timedelta(days=rng.randint(0, 364))
    for account in accounts:
        mine: list[int] = []
        for _ in range(rng.randint(1, 4)):
            code_no += rng.randint(1, 7)
            roll = rng.random()
            if roll < 0.6:
                status, stage = "open", rng.choice(names.OPEN_STAGES)
                close = today + timedelta(days=rng.randint(10, 200))
            elif roll < 0.85:
                status, stage = "won", "Closed Won"
                close = today - timedelta(days=rng.randint(10, 300))
            else:
                status, stage = "lost", "Closed Lost"
                close = today - timedelta(days=rng.randint(10, 300))
            owner = account.owner_email if rng.random() < 0.85 else rng.choice(salespeople).email
            topic = rng.choice(names.OPPORTUNITY_TOPICS)
            mine.append(len(opps))
            opps.append(
                Opportunity(
                    index=len(opps),
                    code=f"OPP-{code_no:06d}",
                    name=f"{account.name} - {topic}",
                    account_index=account.index,
                    stage=stage,
                    status=status,
                    amount=Decimal(rng.randint(20, 900) * 500),
                    currency=rng.choice(("EUR", "EUR", "USD", "GBP")),
                    close_date=close,
                    owner_email=owner,
                )
            )
        by_account.append(tuple(mine))
    return opps, tuple(by_account)


OPPORTUNITY_COLUMNS = [
    "code",
    "name",
    "account",
    "stage",
    "status",
    "amount",
    "currency",
    "close_date",
    "owner_email",
]


def write_crm_csv(company: Company, directory: Path) -> dict[str, Path]:
    """Write users, accounts, contacts and opportunities as the CSVs ``mailsync import`` reads.

    Returns the path of each file by kind so callers need not know the names.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        kind: directory / f"{kind}.csv"
        for kind in ("users", "accounts", "contacts", "opportunities")
    }
    _write(
        paths["users"],
        ["email", "first_name", "last_name", "role", "team", "manager_email"],
        [
            [u.email, u.first_name, u.last_name, u.role, u.team, u.manager_email or ""]
            for u in company.users
        ],
    )
    _write(
        paths["accounts"],
        ["name", "domains", "owner_email"],
        [[a.name, ";".join(a.domains), a.owner_email] for a in company.accounts],
    )
    _write(
        paths["contacts"],
        ["first_name", "last_name", "email", "account", "title", "phone"],
        [
            [
                c.first_name,
                c.last_name,
                ";".join(c.emails),
                company.accounts[c.account_index].name,
                c.title,
                c.phone,
            ]
            for c in company.contacts
        ],
    )
    _write(
        paths["opportunities"],
        OPPORTUNITY_COLUMNS,
        [
            [
                o.code,
                o.name,
                company.accounts[o.account_index].name,
                o.stage,
                o.status,
                f"{o.amount:.2f}",
                o.currency,
                o.close_date.isoformat(),
                o.owner_email,
            ]
            for o in company.opportunities
        ],
    )
    return paths


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
