"""Opportunity inference: the mailbox owner's one open deal at a linked account.

Linked to an account with exactly one open opportunity owned by the mailbox
owner → link it with origin kind ``inferred``. Several → link none and offer
them as suggestions. An account that already has one of its opportunities
linked (by code, thread or a custom rule; open, won or lost) needs no inference.
"""

from __future__ import annotations

import sys
from collections.abc import Collection

from crm_store.items import render_evidence
from rules.index import CrmIndex, OpportunityRecord
from rules.kinds import INFERRED, OPPORTUNITY
from rules.linkset import LinkSet
from rules.make_link import make_link, make_suggestion
from rules.results import Suggestion
from rules.trace import StepReport, Trace

ORIGIN = "inference"


# Deferred evidence: the account's name and the deal's code are read only when written.
_ONE_OPEN = "inferred: account {0.name} has one open opportunity {1.code} owned by {2}"
_SEVERAL = "account {0.name} has {1} open opportunities owned by {2}"
_SEVERAL_OPEN = _SEVERAL + ": {3.code} {3.name}"


def infer_opportunities(
    index: CrmIndex,
    mailbox_owner: str | None,
    links: LinkSet,
    suggestions: list[Suggestion],
    trace: Trace | None,
) -> None:
    if mailbox_owner is None:
        if trace is not None:
            trace.append(StepReport(ORIGIN, False, "no mailbox owner known"))
        return
    start = len(links) if trace is not None else 0
    notes: list[str] = []
    # Interned like the index's owner addresses, so comparing them is an identity check.
    owner = sys.intern(mailbox_owner.lower())
    account_slots = index.account_slots
    suppressed = links.suppressed
    # Accounts one of whose opportunities (open or not) is already linked need no guess.
    covered: Collection[int] = links.covered_account_ids
    if links.opportunity_ids:
        known = index.opportunities
        covered = {
            *covered,
            *(
                linked.account_id
                for linked in map(known.get, links.opportunity_ids)
                if linked is not None
            ),
        }
    # Inference adds opportunities only, so account_ids does not change under the loop.
    for account_id, slot in zip(links.account_ids, links.account_slots, strict=True):
        if slot is None:  # linked by thread or a custom rule: one probe
            slot = account_slots.get(account_id)
            if slot is None:  # every account with an open deal has a slot
                continue
        sole = slot.sole_open_owner
        if sole is not None and sole != owner:  # another rep's deals only: not visited
            continue
        if account_id in covered:
            continue
        owned: list[OpportunityRecord]
        if sole is not None and slot.only_open is not None:  # the usual case: one deal, ours
            owned = [slot.only_open]
        else:
            owned = [o for o in slot.open_opportunities if o.owner_email == owner]
        if owned and suppressed:
            owned = [o for o in owned if (OPPORTUNITY, o.id) not in suppressed]
        if not owned:
            continue
        if len(owned) == 1:
            opportunity = owned[0]
            links.add(
                make_link(
                    OPPORTUNITY,
                    opportunity.id,
                    INFERRED,
                    ORIGIN,
                    (_ONE_OPEN, slot, opportunity, owner),
                )
            )
            continue
        count = len(owned)  # in code order, as the slot keeps them
        for o in owned:
            suggestions.append(
                make_suggestion(OPPORTUNITY, o.id, (_SEVERAL_OPEN, slot, count, owner, o))
            )
        if trace is not None:
            notes.append(render_evidence((_SEVERAL, slot, count, owner)) + " → suggestions")
    if trace is not None:
        added = links.since(start)
        why = "; ".join([*(link.evidence for link in added), *notes]) or (
            f"no linked account has an open opportunity owned by {owner} needing inference"
        )
        trace.append(StepReport(ORIGIN, bool(added), why, added))
