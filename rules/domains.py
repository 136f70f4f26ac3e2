"""Domain → account: an address whose domain belongs to exactly one account.

It gets only the participants the participant matcher left unexplained (no
contact, or a contact without account): a contact's account is the better
evidence. Free-mail domains and our own domains never
map to an account. A subdomain (``eu.acme.com``) falls back to its parents
(``acme.com``) but never to a bare top-level domain.
"""

from __future__ import annotations

from collections.abc import Set

from rules.index import AccountSlot, CrmIndex
from rules.kinds import ACCOUNT, RULE
from rules.linkset import LinkSet
from rules.make_link import make_link
from rules.roles import Role
from rules.trace import StepReport, Trace

ORIGIN = "domain"
# Deferred evidence: the account's record and name are read only when the link is written.
_TO_ACCOUNT = "domain: {0}={1} → account {2.name} (domain {3})"


_NO_OWNER = AccountSlot(-1)


def _account_for_domain(
    domain: str, index: CrmIndex, free_mail: Set[str]
) -> tuple[str, AccountSlot | None] | None:
    """(matched domain, its account or None when shared), or None when no account has it."""
    account_of_domain = index.account_of_domain
    while "." in domain:
        if domain in free_mail or domain in index.internal_domains:
            return None
        found = account_of_domain.get(domain, _NO_OWNER)
        if found is not _NO_OWNER:
            return (domain, found)
        domain = domain.partition(".")[2]
    return None


def match_domains(
    unexplained: list[Role],
    index: CrmIndex,
    free_mail: Set[str],
    links: LinkSet,
    trace: Trace | None,
) -> None:
    start = len(links) if trace is not None else 0
    notes: list[str] = []
    user_emails = index.user_emails
    for role, address in unexplained:
        if address in user_emails:
            continue
        domain = address.rpartition("@")[2]
        found = _account_for_domain(domain, index, free_mail)
        if found is None:
            if trace is not None and domain in free_mail:
                notes.append(f"{role}={address}: {domain} is a free-mail domain")
            continue
        matched, account = found
        if account is None:
            if trace is not None:
                notes.append(f"{role}={address}: {matched} belongs to several accounts")
            continue
        if not links.claim_account(account_id := account.id):
            if trace is not None:
                notes.append(f"{role}={address}: account of {matched} already linked or removed")
            continue
        links.put_account(
            make_link(
                ACCOUNT, account_id, RULE, ORIGIN, (_TO_ACCOUNT, role, address, account, matched)
            ),
            account,
        )
    if trace is not None:
        added = links.since(start)
        why = "; ".join([*(link.evidence for link in added), *notes]) or (
            "no participant's domain belongs to an account"
        )
        trace.append(StepReport(ORIGIN, bool(added), why, added))
