"""Tracking codes: ``OPP-000123`` in subject or body links that opportunity and its account."""

from __future__ import annotations

import re

from crm_store.items import CorrespondenceItem, MessageItem
from rules.index import CrmIndex
from rules.kinds import ACCOUNT, OPPORTUNITY, RULE
from rules.linkset import LinkSet
from rules.make_link import make_link
from rules.trace import StepReport, Trace

ORIGIN = "tracking_code"
# Deferred evidence: the deal's and the account's names are read only when written.
_TO_OPPORTUNITY = "token: {0.record.code} in {1} → opportunity {0.record.name}"
_TO_ACCOUNT = "token: {0.record.code} in {1} → account {2.name} (the opportunity's account)"


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # "" (past the end) is not a word character


class CodeScanner:
    """Finds codes with the configured regex, fast on long bodies.

    A pattern that opens with ``\\b`` stops CPython's regex engine from
    skipping ahead to its literal prefix (``OPP-``), which makes a 1 kB body
    cost ~30x more. So a leading ``\\b`` is taken off the compiled pattern
    and checked by hand at each match start, with the same meaning: a word
    boundary lies between the character before the match and its first one.
    A group named ``code`` selects the code inside a larger match.
    """

    __slots__ = ("_group", "_left_boundary", "pattern", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._left_boundary = source.startswith(r"\b")
        self.pattern = re.compile(source[2:] if self._left_boundary else source)
        self._group = "code" if "code" in self.pattern.groupindex else 0

    def codes(self, text: str) -> list[str]:
        if self.pattern.search(text) is None:  # the usual case: one scan, nothing built
            return []
        found: list[str] = []
        for match in self.pattern.finditer(text):
            start = match.start()
            if (
                self._left_boundary
                and start > 0
                and _is_word(text[start - 1]) == _is_word(text[start : start + 1])
            ):
                continue
            found.append(match.group(self._group))
        return found


def match_tracking_codes(
    item: CorrespondenceItem,
    index: CrmIndex,
    scanner: CodeScanner,
    links: LinkSet,
    trace: Trace | None,
) -> None:
    start = len(links) if trace is not None else 0
    unknown: list[str] = []
    code_hits = index.opportunity_by_code
    body = item.body_text
    if body is None and isinstance(item, MessageItem):
        body = item.body_html  # a code reads the same in markup; no need to strip tags
    for where, text in (("subject", item.subject), ("body", body)):
        if not text:
            continue
        codes = scanner.codes(text)
        for code in codes:
            hit = code_hits.get(code.upper())
            if hit is None:
                unknown.append(code)
                continue
            account = hit.account
            if links.claim_opportunity(opportunity_id := hit.id):
                links.put_opportunity(
                    make_link(
                        OPPORTUNITY, opportunity_id, RULE, ORIGIN, (_TO_OPPORTUNITY, hit, where)
                    ),
                    account,
                )
            if links.claim_account(account_id := account.id):
                links.put_account(
                    make_link(
                        ACCOUNT, account_id, RULE, ORIGIN, (_TO_ACCOUNT, hit, where, account)
                    ),
                    account,
                )
    if trace is not None:
        added = links.since(start)
        if added:
            why = "; ".join(link.evidence for link in added)
        elif unknown:
            why = f"code(s) {', '.join(unknown)} found but no such opportunity"
        else:
            why = f"no code matching {scanner.source!r} in subject or body"
        trace.append(StepReport(ORIGIN, bool(added), why, added))
