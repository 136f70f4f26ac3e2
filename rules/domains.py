"""Domain → account: an address whose domain belongs to exactly one account.

Addresses that already resolved to a contact with an account are skipped (the
contact is the better evidence). Free-mail domains and our own domains never
map to an account. A subdomain (``eu.acme.com``) falls back to its parents
(``acme.com``) but never to a bare top-level domain.
"""

from __future__ import annotations

from collections.abc import Set

from crm_store.items import LinkSpec, OriginKind, TargetKind
from rules.index import CrmIndex
from rules.linkset import LinkSet
from rules.roles import Role
from rules.trace import StepReport, Trace

ORIGIN = "domain"


def _account_for_domain(
    domain: str, index: CrmIndex, free_mail: Set[str]
) -> tuple[str, int | None] | None:
    """(matched domain, account id or None when ambiguous), or None for no owner."""
    while domain.count(".") >= 1:
        if domain in free_mail or domain in index.internal_domains:
            return None
        owners = index.accounts_by_domain.get(domain)
        if owners:
            return (domain, next(iter(owners)) if len(owners) == 1 else None)
        domain = domain.partition(".")[2]
    return None


def match_domains(
    roles: list[Role],
    index: CrmIndex,
    free_mail: Set[str],
    links: LinkSet,
    trace: Trace | None,
) -> None:
    start = len(links) if trace is not None else 0
    notes: list[str] = []
    contact_by_email = index.contact_by_email
    for role, address in roles:
        contact = contact_by_email.get(address)
        if contact is not None and contact.account_id is not None:
            continue
        if address in index.user_emails:
            continue
        domain = address.rpartition("@")[2]
        found = _account_for_domain(domain, index, free_mail)
        if found is None:
            if trace is not None and domain in free_mail:
                notes.append(f"{role}={address}: {domain} is a free-mail domain")
            continue
        matched, account_id = found
        if account_id is None:
            if trace is not None:
                notes.append(f"{role}={address}: {matched} belongs to several accounts")
            continue
        if not links.wants(TargetKind.ACCOUNT, account_id):
            if trace is not None:
                notes.append(f"{role}={address}: account of {matched} already linked or removed")
            continue
        links.add(
            LinkSpec(
                TargetKind.ACCOUNT,
                account_id,
                OriginKind.RULE,
                ORIGIN,
                f"domain: {role}={address} → account {index.accounts[account_id].name}"
                f" (domain {matched})",
            )
        )
    if trace is not None:
        added = links.since(start)
        why = "; ".join([*(link.evidence for link in added), *notes]) or (
            "no participant's domain belongs to an account"
        )
        trace.append(StepReport(ORIGIN, bool(added), why, added))
