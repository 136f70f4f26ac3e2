"""The rules engine: exclusions, the built-in matchers in order, custom rules, inference.

Built once per process (or per rule set) with the CRM index, the settings and
a thread lookup; ``link`` is then called for every item on the sync path and
``explain`` for one item on demand. The engine keeps no per-item state.

Order, and why:
1. exclusions — nothing private, blocked, internal-only or bulk is ever kept;
2. tracking code — the most explicit statement of what a message is about;
3. thread — a reply belongs where its parent was filed (incl. person-made links);
4. participants — exact contact addresses;
5. domain → account — weaker, so only for addresses that are not contacts;
6. custom rules — they can read the accounts matched so far;
7. opportunity inference — last, so it sees every account any step linked.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from crm_store.items import CorrespondenceItem, TargetKind
from rules.custom.apply import apply_ruleset
from rules.custom.facts import ItemFacts
from rules.custom.ruleset import EMPTY_RULESET, RuleSet
from rules.domains import match_domains
from rules.exclusions import Exclusions
from rules.free_mail import free_mail_domains
from rules.index import CrmIndex
from rules.inference import infer_opportunities
from rules.linkset import LinkSet
from rules.make_link import make_linked
from rules.participants import match_participants
from rules.results import Excluded, ExclusionReason, LinkResult, Suggestion
from rules.roles import effective_direction, participant_roles
from rules.settings import RulesSettings
from rules.suppressions import TargetRef
from rules.thread import match_thread
from rules.thread_lookup import NoThreads, ThreadLookup
from rules.trace import StepReport, Trace
from rules.tracking_code import CodeScanner, match_tracking_codes


@dataclass(frozen=True, slots=True)
class Explanation:
    """Every step for one item, whether it fired and why, and the final result."""

    steps: tuple[StepReport, ...]
    result: LinkResult

    def lines(self) -> list[str]:
        out = [f"{'✔' if s.fired else '·'} {s.step}: {s.why}" for s in self.steps]
        if isinstance(self.result, Excluded):
            out.append(f"→ excluded ({self.result.counter_key}): {self.result.detail}")
        else:
            out.append(f"→ {len(self.result.links)} link(s), body stored: {self.result.store_body}")
            out.extend(
                f"  {link.target_kind} #{link.target_id}: {link.evidence}"
                for link in self.result.links
            )
            out.extend(
                f"  suggestion {s.target_kind} #{s.target_id}: {s.reason}"
                for s in self.result.suggestions
            )
        return out


class RulesEngine:
    __slots__ = (
        "_exclusions",
        "_free_mail",
        "code_scanner",
        "index",
        "ruleset",
        "settings",
        "thread_lookup",
    )

    def __init__(
        self,
        index: CrmIndex,
        settings: RulesSettings | None = None,
        ruleset: RuleSet = EMPTY_RULESET,
        thread_lookup: ThreadLookup | None = None,
    ) -> None:
        self.index = index
        self.settings = settings or RulesSettings()
        self.ruleset = ruleset
        self.thread_lookup: ThreadLookup = thread_lookup or NoThreads()
        self.code_scanner = CodeScanner(self.settings.tracking_code_pattern)
        self._exclusions = Exclusions(self.settings)
        self._free_mail = free_mail_domains(self.settings.extra_free_mail_domains)

    def link(
        self,
        item: CorrespondenceItem,
        mailbox: str | None = None,
        *,
        suppressed: Collection[TargetRef] = (),
    ) -> LinkResult:
        """Links for one item; ``mailbox`` is the owner's address, ``suppressed`` the
        targets a person removed from this item (never returned)."""
        return self._run(item, mailbox, suppressed, None)

    def explain(
        self,
        item: CorrespondenceItem,
        *,
        mailbox: str | None = None,
        suppressed: Collection[TargetRef] = (),
    ) -> Explanation:
        trace: Trace = []
        result = self._run(item, mailbox, suppressed, trace)
        return Explanation(tuple(trace), result)

    def _run(
        self,
        item: CorrespondenceItem,
        mailbox: str | None,
        suppressed: Collection[TargetRef],
        trace: Trace | None,
    ) -> LinkResult:
        index = self.index
        roles = participant_roles(item)
        excluded = self._exclusions.check(item, roles, index, trace)
        if excluded is not None:
            return excluded
        links = LinkSet(suppressed)
        suggestions: list[Suggestion] = []
        match_tracking_codes(item, index, self.code_scanner, links, trace)
        match_thread(item, self.thread_lookup, links, trace)
        unexplained = match_participants(roles, index, links, trace)
        match_domains(unexplained, index, self._free_mail, links, trace)
        store_without_body = False
        categories: tuple[str, ...] = ()
        fired: tuple[str, ...] = ()
        if self.ruleset.rules:
            facts = ItemFacts(item, roles, effective_direction(item, mailbox), index, links)
            outcome = apply_ruleset(self.ruleset, facts, suggestions, trace)
            if outcome.ignored_by is not None:
                return Excluded(
                    ExclusionReason.IGNORED_BY_RULE,
                    f"rule {outcome.ignored_by} says ignore",
                    rule=outcome.ignored_by,
                )
            store_without_body = outcome.store_without_body
            categories = tuple(outcome.categories)
            fired = tuple(outcome.fired)
        infer_opportunities(index, mailbox, links, suggestions, trace)
        linked = links.as_tuple()
        return make_linked(
            linked,
            _open_suggestions(suggestions, links),
            bool(linked) and not store_without_body,
            categories,
            fired,
        )


def _open_suggestions(suggestions: list[Suggestion], links: LinkSet) -> tuple[Suggestion, ...]:
    """Suggestions still to decide: none for a target that got linked, each target once."""
    if not suggestions:
        return ()
    seen: set[tuple[TargetKind, int]] = set()
    kept: list[Suggestion] = []
    for suggestion in suggestions:
        key = (suggestion.target_kind, suggestion.target_id)
        if key in seen or links.has(*key):
            continue
        seen.add(key)
        kept.append(suggestion)
    return tuple(kept)


def explain(
    item: CorrespondenceItem,
    index: CrmIndex,
    ruleset: RuleSet = EMPTY_RULESET,
    thread_lookup: ThreadLookup | None = None,
    *,
    settings: RulesSettings | None = None,
    mailbox: str | None = None,
    suppressed: Collection[TargetRef] = (),
) -> Explanation:
    """One item through a fresh engine, with each step's verdict; writes nothing."""
    engine = RulesEngine(index, settings, ruleset, thread_lookup)
    return engine.explain(item, mailbox=mailbox, suppressed=suppressed)
