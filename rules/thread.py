"""Thread correlation: a reply or forward inherits the links of the message it answers.

In-Reply-To is the most precise parent, then References from the newest to
the oldest, then the provider's conversation id. The first stored ancestor
found wins; its links arrive without those a person removed (the lookup only
returns current links, and the item's own suppressions are refused).
"""

from __future__ import annotations

from crm_store.items import CorrespondenceItem, DeferredEvidence, MessageItem, render_evidence
from rules.kinds import RULE
from rules.linkset import LinkSet
from rules.make_link import make_link
from rules.thread_lookup import StoredThreadLinks, ThreadLookup
from rules.trace import StepReport, Trace

ORIGIN = "thread"


# Deferred evidence: (template, how the parent was found, by what, the parent's name);
# formatted only when the link is written or explained.
_BY_KEY = "thread: {0} {1} → links of message {2}"
_BY_STORE_ID = "thread: {0} {1} → links of stored message {2}"


def _find_parent(
    item: MessageItem, lookup: ThreadLookup
) -> tuple[str, str, str, StoredThreadLinks] | None:
    """(how it was found, by which header value, the parent's Message-ID, its links)."""
    if item.in_reply_to:
        found = lookup.links_for_message_id(item.in_reply_to)
        if found is not None:
            return "In-Reply-To", item.in_reply_to, item.in_reply_to.strip(), found
    for reference in reversed(item.references):
        if reference == item.in_reply_to:
            continue
        found = lookup.links_for_message_id(reference)
        if found is not None:
            return "References", reference, reference.strip(), found
    if item.conversation_id:
        found = lookup.links_for_conversation(item.conversation_id, item.internet_message_id)
        if found is not None:
            return "conversation", item.conversation_id, found.message_key, found
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
    how, by, parent_key, stored = parent
    start = len(links) if trace is not None else 0
    # Named by Message-ID, not store id: a parent linked earlier in the same page
    # has no store id yet, and the evidence must not depend on when it was stored.
    evidence: DeferredEvidence = (
        (_BY_KEY, how, by, parent_key) if parent_key else (_BY_STORE_ID, how, by, stored.message_id)
    )
    for link in stored.links:
        if links.wants(link.target_kind, link.target_id):
            links.add(make_link(link.target_kind, link.target_id, RULE, ORIGIN, evidence))
    if trace is not None:
        added = links.since(start)
        text = render_evidence(evidence)
        why = text if added else f"{text}: nothing new (already linked, suppressed or none)"
        trace.append(StepReport(ORIGIN, bool(added), why, added))
