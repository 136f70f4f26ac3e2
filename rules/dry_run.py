"""Dry run: what a rule set would link, unlink and ignore over stored history.

The store hands over its items with their current links and suppressions (for
the ``--since`` window); nothing is written. Person-made links are never
counted as unlinked: rules cannot remove them (invariant 3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace

from crm_store.items import CorrespondenceItem, LinkSpec
from rules.engine import RulesEngine
from rules.results import Excluded, Linked, LinkResult
from rules.suppressions import TargetRef, plan_relink


@dataclass(frozen=True, slots=True)
class StoredItem:
    """One stored item as the dry run needs it.

    ``mailboxes`` are all mailboxes holding a copy: the sync linked each copy
    with its own owner (inference is per owner) and the item carries the union,
    so the dry run replays every one of them. Empty means just ``mailbox``.
    """

    item: CorrespondenceItem
    item_key: str
    mailbox: str | None
    links: tuple[LinkSpec, ...] = ()
    suppressed: Collection[TargetRef] = ()
    mailboxes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DryRunChange:
    item_key: str
    subject: str
    verdict: str  # "link" | "unlink" | "ignore"
    detail: str


@dataclass(slots=True)
class DryRunReport:
    items: int = 0
    would_link: int = 0
    would_unlink: int = 0
    would_ignore: int = 0
    unchanged: int = 0
    by_origin: Counter[str] = field(default_factory=Counter)
    ignored_by: Counter[str] = field(default_factory=Counter)
    sample: list[DryRunChange] = field(default_factory=list)


def dry_run(
    engine: RulesEngine, stored: Iterable[StoredItem], sample_size: int = 20
) -> DryRunReport:
    report = DryRunReport()
    for entry in stored:
        report.items += 1
        result = _link_every_copy(engine, entry)
        subject = entry.item.subject
        if isinstance(result, Excluded):
            report.would_ignore += 1
            report.ignored_by[result.counter_key] += 1
            if len(report.sample) < sample_size:
                report.sample.append(DryRunChange(entry.item_key, subject, "ignore", result.detail))
            continue
        plan = plan_relink(entry.links, result.links, entry.suppressed)
        if not plan.add and not plan.remove:
            report.unchanged += 1
            continue
        report.would_link += len(plan.add)
        report.would_unlink += len(plan.remove)
        for link in plan.add:
            report.by_origin[link.origin] += 1
        for verdict, links in (("link", plan.add), ("unlink", plan.remove)):
            for link in links:
                if len(report.sample) < sample_size:
                    detail = f"{link.target_kind} #{link.target_id}: {link.evidence}"
                    report.sample.append(DryRunChange(entry.item_key, subject, verdict, detail))
    return report


def _link_every_copy(engine: RulesEngine, entry: StoredItem) -> LinkResult:
    """The item through the rules once per mailbox holding it, links merged as the sync
    merges them (first mailbox's evidence wins); excluded only if every copy would be."""
    owners: tuple[str | None, ...] = entry.mailboxes or (entry.mailbox,)
    results = [engine.link(entry.item, mailbox=m, suppressed=entry.suppressed) for m in owners]
    linked = [r for r in results if isinstance(r, Linked)]
    if not linked:
        return results[0]
    if len(linked) == 1:
        return linked[0]
    merged: dict[TargetRef, LinkSpec] = {}
    for result in linked:
        for link in result.links:
            merged.setdefault((link.target_kind, link.target_id), link)
    return replace(linked[0], links=tuple(merged.values()))
