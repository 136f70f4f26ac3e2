"""Opportunity inference: the mailbox owner's one open deal at a linked account.

Linked to an account with exactly one open opportunity owned by the mailbox
owner → link it with origin kind ``inferred``. Several → link none and offer
them as suggestions. An account that already has one of its opportunities
linked (by code, thread or a custom rule; open, won or lost) needs no inference.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rules.index import CrmIndex, OpportunityRecord
from rules.kinds import INFERRED, OPPORTUNITY
from rules.linkset import LinkSet
from rules.make_link import make_link
from rules.results import Suggestion
from rules.trace import StepReport, Trace

ORIGIN = "inference"


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
    open_by_account = index.open_opportunities_by_account
    suppressed = links.suppressed
    # Accounts one of whose opportunities (open or not) is already linked need no guess.
    covered = (
        {
            index.opportunities[o].account_id
            for o in links.opportunity_ids
            if o in index.opportunities
        }
        if links.opportunity_ids
        else ()
    )
    # Inference adds opportunities only, so account_ids does not change under the loop.
    for account_id, slot in zip(links.account_ids, links.account_slots, strict=True):
        if slot is not None:
            open_here: Iterable[OpportunityRecord] = slot.open_opportunities
        else:
            by_id = open_by_account.get(account_id)
            open_here = by_id.values() if by_id else ()
        if not open_here or account_id in covered:
            continue
        owned: list[OpportunityRecord] = [o for o in open_here if o.owner_email == owner]
        if owned and suppressed:
            owned = [o for o in owned if (OPPORTUNITY, o.id) not in suppressed]
        if not owned:
            continue
        account = slot.record if slot is not None else index.accounts.get(account_id)
        account_name = account.name if account is not None else f"#{account_id}"
        if len(owned) == 1:
            opportunity = owned[0]
            links.add(
                make_link(
                    OPPORTUNITY,
                    opportunity.id,
                    INFERRED,
                    ORIGIN,
                    f"inferred: account {account_name} has one open opportunity"
                    f" {opportunity.code} owned by {owner}",
                )
            )
            continue
        reason = f"account {account_name} has {len(owned)} open opportunities owned by {owner}"
        suggestions.extend(
            Suggestion(OPPORTUNITY, o.id, f"{reason}: {o.code} {o.name}")
            for o in sorted(owned, key=lambda o: o.code)
        )
        if trace is not None:
            notes.append(reason + " → suggestions")
    if trace is not None:
        added = links.since(start)
        why = "; ".join([*(link.evidence for link in added), *notes]) or (
            f"no linked account has an open opportunity owned by {owner} needing inference"
        )
        trace.append(StepReport(ORIGIN, bool(added), why, added))
