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
        contact = contact_by_email.get(address)
        if contact is None:
            unexplained.append((role, address))
            continue
        contact_id = contact.id
        key = links.claim(CONTACT, contact_id)
        if key is not None:
            links.put(
                key,
                make_link(
                    CONTACT,
                    contact_id,
                    RULE,
                    ORIGIN,
                    f"participant: {role}={address} → contact {contact.name}",
                ),
            )
        account_id = contact.account_id
        if account_id is None:
            unexplained.append((role, address))
        elif (key := links.claim(ACCOUNT, account_id)) is not None:
            account = index.accounts.get(account_id)
            name = account.name if account else f"#{account_id}"
            links.put(
                key,
                make_link(
                    ACCOUNT,
                    account_id,
                    RULE,
                    ORIGIN,
                    f"participant: {role}={address} → contact {contact.name} → account {name}",
                ),
            )
    if trace is not None:
        added = links.since(start)
        why = "; ".join(link.evidence for link in added) or "no participant is a known contact"
        trace.append(StepReport(ORIGIN, bool(added), why, added))
    return unexplained
