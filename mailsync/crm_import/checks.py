"""Checks that need more than one row: duplicates in the file and references to the store.

Each check returns reasons by line. A reference is good when the store has the
record, or when a good row of the same file creates it (users may name a
manager further down the file). When a row is refused, rows that depended on
it are refused too, so ``--skip-bad-rows`` never writes a dangling reference.
``refused`` maps the natural key of each row that failed parsing to its line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.orm import Session

from mailsync.crm_import import lookups
from mailsync.crm_import.records import (
    AccountRecord,
    ContactRecord,
    OpportunityRecord,
    UserRecord,
)

Reasons = dict[int, list[str]]
Refused = dict[str, int]


def _first_seen(keys: Sequence[tuple[int, str]], what: str, reasons: Reasons) -> None:
    """Refuse every repeat of a key, pointing at the line that had it first."""
    first: dict[str, int] = {}
    for line, key in keys:
        if key in first:
            reasons[line].append(f"duplicate {what} {key!r} (first on line {first[key]})")
        else:
            first[key] = line


def _unknown_user(
    rows: Sequence[tuple[int, str | None]], session: Session, column: str, reasons: Reasons
) -> None:
    wanted = {email for _, email in rows if email}
    known = lookups.known_users(session, wanted)
    for line, email in rows:
        if email and email not in known:
            reasons[line].append(
                f"{column} {email} is not a known user (import users first: "
                "mailsync import users FILE.csv)"
            )


def check_users(
    rows: Sequence[tuple[int, UserRecord]], session: Session, refused: Refused
) -> Reasons:
    reasons: Reasons = defaultdict(list)
    _first_seen([(line, r.email) for line, r in rows], "email", reasons)
    in_store = lookups.known_users(session, {r.manager_email for _, r in rows if r.manager_email})
    # Settle managers defined in the file: a row is good only if its manager is.
    line_of: dict[str, int] = dict(refused)
    for line, record in rows:
        line_of.setdefault(record.email, line)
    changed = True
    while changed:
        changed = False
        good_in_file = {r.email for line, r in rows if not reasons[line]}
        for line, record in rows:
            manager = record.manager_email
            if reasons[line] or manager is None or manager in in_store:
                continue
            if manager in good_in_file:
                continue
            if manager in line_of:
                reasons[line].append(
                    f"manager_email {manager} is on line {line_of[manager]}, which is refused"
                )
            else:
                reasons[line].append(
                    f"manager_email {manager} is not a known user (neither in the store "
                    "nor in this file)"
                )
            changed = True
    return reasons


def check_accounts(
    rows: Sequence[tuple[int, AccountRecord]], session: Session, refused: Refused
) -> Reasons:
    reasons: Reasons = defaultdict(list)
    _first_seen([(line, r.name) for line, r in rows], "account name", reasons)
    claimed: dict[str, tuple[int, str]] = {}
    for line, record in rows:
        for domain in record.domains:
            if domain in claimed and claimed[domain][1] != record.name:
                other_line, other = claimed[domain]
                reasons[line].append(
                    f"domain {domain} is also given to {other!r} on line {other_line}"
                )
            claimed.setdefault(domain, (line, record.name))
    names_in_file = {record.name for _, record in rows}
    owners = lookups.domain_owners(session, claimed)
    for line, record in rows:
        for domain in record.domains:
            owner = owners.get(domain)
            # A domain may move between two accounts that are both in this file.
            if owner is not None and owner != record.name and owner not in names_in_file:
                reasons[line].append(f"domain {domain} already belongs to account {owner!r}")
    _unknown_user([(line, r.owner_email) for line, r in rows], session, "owner_email", reasons)
    return reasons


def check_contacts(
    rows: Sequence[tuple[int, ContactRecord]], session: Session, refused: Refused
) -> Reasons:
    reasons: Reasons = defaultdict(list)
    _first_seen([(line, e) for line, r in rows for e in r.emails], "email", reasons)
    owners = lookups.email_contacts(session, {e for _, r in rows for e in r.emails})
    primaries = lookups.contact_primary_emails(session, set(owners.values()))
    for line, record in rows:
        contacts = {owners[e] for e in record.emails if e in owners}
        if len(contacts) > 1:
            names = ", ".join(sorted(primaries.get(c, str(c)) for c in contacts))
            reasons[line].append(
                f"the addresses belong to {len(contacts)} different contacts ({names}); "
                "give each contact its own row"
            )
    accounts = lookups.known_accounts(session, {r.account for _, r in rows if r.account})
    for line, record in rows:
        if record.account and record.account not in accounts:
            reasons[line].append(
                f"unknown account {record.account!r} (import it first: "
                "mailsync import accounts FILE.csv)"
            )
    return reasons


def check_opportunities(
    rows: Sequence[tuple[int, OpportunityRecord]], session: Session, refused: Refused
) -> Reasons:
    reasons: Reasons = defaultdict(list)
    _first_seen([(line, r.code) for line, r in rows], "code", reasons)
    accounts = lookups.known_accounts(session, {r.account for _, r in rows})
    for line, record in rows:
        if record.account not in accounts:
            reasons[line].append(
                f"unknown account {record.account!r} (import it first: "
                "mailsync import accounts FILE.csv)"
            )
    _unknown_user([(line, r.owner_email) for line, r in rows], session, "owner_email", reasons)
    return reasons
