"""Participants: an address that belongs to a contact links the contact and its account."""

from __future__ import annotations

from rules.index import CrmIndex
from rules.kinds import ACCOUNT, CONTACT, RULE
from rules.linkset import LinkSet
from rules.make_link import make_link
from rules.roles import Role
from rules.trace import StepReport, Trace

ORIGIN = "participant"
# Deferred evidence (crm_store.items.DeferredEvidence): role, address, the ContactHit and
# the AccountSlot are in hand; the records and their names are read only when written.
_TO_CONTACT = "participant: {0}={1} → contact {2.record.name}"
_TO_ACCOUNT = "participant: {0}={1} → contact {2.record.name} → account {3.name}"


def match_participants(
    roles: list[Role], index: CrmIndex, links: LinkSet, trace: Trace | None
) -> list[Role]:
    """Link contacts; return the participants no contact-with-account explains.

    Those are what the domain matcher looks at, so each address costs one
    contact lookup in all (it matters with a million contacts). The contact's
    record is not visited: the hit holds its id and account slot.
    """
    start = len(links) if trace is not None else 0
    contact_by_email = index.contact_by_email
    not_contacts = index.users_not_contacts
    unexplained: list[Role] = []
    for role, address in roles:
        if address in not_contacts:  # the mailbox owner or a colleague: no probe
            unexplained.append((role, address))
            continue
        hit = contact_by_email.get(address)
        if hit is None:
            unexplained.append((role, address))
            continue
        if links.claim_contact(contact_id := hit.id):
            links.put_contact(
                make_link(CONTACT, contact_id, RULE, ORIGIN, (_TO_CONTACT, role, address, hit))
            )
        account = hit.account
        if account is None:
            unexplained.append((role, address))
        elif links.claim_account(account_id := account.id):
            links.put_account(
                make_link(
                    ACCOUNT, account_id, RULE, ORIGIN, (_TO_ACCOUNT, role, address, hit, account)
                ),
                account,
            )
    if trace is not None:
        added = links.since(start)
        why = "; ".join(link.evidence for link in added) or "no participant is a known contact"
        trace.append(StepReport(ORIGIN, bool(added), why, added))
    return unexplained
