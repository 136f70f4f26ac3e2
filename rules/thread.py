"""Thread correlation: a reply or forward inherits the links of the message it answers.

In-Reply-To is the most precise parent, then References from the newest to
the oldest, then the provider's conversation id. The first stored ancestor
found wins; its links arrive without those a person removed (the lookup only
returns current links, and the item's own suppressions are refused).
"""

from __future__ import annotations

from crm_store.items import CorrespondenceItem, MessageItem
from rules.kinds import RULE
from rules.linkset import LinkSet
from rules.make_link import make_link
from rules.thread_lookup import StoredThreadLinks, ThreadLookup
from rules.trace import StepReport, Trace

ORIGIN = "thread"


def _find_parent(
    item: MessageItem, lookup: ThreadLookup
) -> tuple[str, str, StoredThreadLinks] | None:
    """(how it was found, the parent's Message-ID, its links) or None."""
    if item.in_reply_to:
        found = lookup.links_for_message_id(item.in_reply_to)
        if found is not None:
            return f"In-Reply-To {item.in_reply_to}", item.in_reply_to.strip(), found
    for reference in reversed(item.references):
        if reference == item.in_reply_to:
            continue
        found = lookup.links_for_message_id(reference)
        if found is not None:
            return f"References {reference}", reference.strip(), found
    if item.conversation_id:
        found = lookup.links_for_conversation(item.conversation_id, item.internet_message_id)
        if found is not None:
            return f"conversation {item.conversation_id}", found.message_key, found
    return None


def match_thread(
    item: CorrespondenceItem, lookup: ThreadLookup, links: LinkSet, trace: Trace | None
) -> None:
    if not isinstance(item, MessageItem) or not (
        item.in_reply_to or item.references or item.conversation_id
    ):
        if trace is not None:
            trace.append(
                StepReport(
                    ORIGIN, False, "not a reply: no In-Reply-To, References or conversation id"
                )
            )
        return
    parent = _find_parent(item, lookup)
    if parent is None:
        if trace is not None:
            trace.append(StepReport(ORIGIN, False, "no stored message of this thread"))
        return
    how, parent_key, stored = parent
    start = len(links) if trace is not None else 0
    # Named by Message-ID, not store id: a parent linked earlier in the same page
    # has no store id yet, and the evidence must not depend on when it was stored.
    parent_name = f"message {parent_key}" if parent_key else f"stored message {stored.message_id}"
    evidence = f"thread: {how} → links of {parent_name}"
    for link in stored.links:
        if links.wants(link.target_kind, link.target_id):
            links.add(make_link(link.target_kind, link.target_id, RULE, ORIGIN, evidence))
    if trace is not None:
        added = links.since(start)
        why = evidence if added else f"{evidence}: nothing new (already linked, suppressed or none)"
        trace.append(StepReport(ORIGIN, bool(added), why, added))
