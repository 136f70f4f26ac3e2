"""Participants: an address that belongs to a contact links the contact and its account."""

from __future__ import annotations

from rules.index import CrmIndex
from rules.kinds import ACCOUNT, CONTACT, RULE
from rules.linkset import LinkSet
from rules.make_link import make_link
from rules.roles import Role
from rules.trace import StepReport, Trace

ORIGIN = "participant"


def match_participants(
    roles: list[Role], index: CrmIndex, links: LinkSet, trace: Trace | None
) -> list[Role]:
    """Link contacts; return the participants no contact-with-account explains.

    Those are what the domain matcher looks at, so each address costs one
    contact lookup in all (it matters with a million contacts).
    """
    start = len(links) if trace is not None else 0
    contact_by_email = index.contact_by_email
    unexplained: list[Role] = []
    for role, address in roles:
        hit = contact_by_email.get(address)
        if hit is None:
            unexplained.append((role, address))
            continue
        contact = hit.record
        key = hit.key
        if links.claim_key(key):
            links.put(
                key,
                make_link(
                    CONTACT,
                    contact.id,
                    RULE,
                    ORIGIN,
                    f"participant: {role}={address} → contact {contact.name}",
                ),
            )
        account = hit.account
        if account is None:
            unexplained.append((role, address))
        elif links.claim_key(key := account.key):
            links.put(
                key,
                make_link(
                    ACCOUNT,
                    account.id,
                    RULE,
                    ORIGIN,
                    f"participant: {role}={address} → contact {contact.name}"
                    f" → account {account.name}",
                ),
                account,
            )
    if trace is not None:
        added = links.since(start)
        why = "; ".join(link.evidence for link in added) or "no participant is a known contact"
        trace.append(StepReport(ORIGIN, bool(added), why, added))
    return unexplained
