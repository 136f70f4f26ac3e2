"""Running the custom rules on one item, after the built-in matchers.

Rules run in file order. A rule whose conditions all hold applies its actions;
``stop_processing`` then skips the custom rules after it (the built-in
inference still runs). ``ignore`` ends everything: the item is not stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_store.items import LinkSpec, OriginKind, TargetKind
from rules.custom.actions import (
    AddCategory,
    Ignore,
    LinkOpenOpportunityInStage,
    LinkRecord,
    StoreWithoutBody,
)
from rules.custom.facts import ItemFacts
from rules.custom.ruleset import CustomRule, RuleSet
from rules.index import CrmIndex
from rules.results import Suggestion
from rules.trace import StepReport, Trace


@dataclass(slots=True)
class CustomOutcome:
    ignored_by: str | None = None
    store_without_body: bool = False
    categories: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)


def apply_ruleset(
    ruleset: RuleSet,
    facts: ItemFacts,
    suggestions: list[Suggestion],
    trace: Trace | None,
) -> CustomOutcome:
    outcome = CustomOutcome()
    for rule in ruleset.rules:
        if not rule.enabled:
            if trace is not None:
                trace.append(StepReport(f"rule:{rule.name}", False, "disabled"))
            continue
        failed = _first_failed(rule, facts)
        if failed is not None:
            if trace is not None:
                trace.append(StepReport(f"rule:{rule.name}", False, f"not met: {failed}"))
            continue
        start = len(facts.links)
        notes = _apply_actions(rule, facts, suggestions, outcome)
        outcome.fired.append(rule.name)
        if trace is not None:
            met = "; ".join(c.describe() for c in rule.conditions)
            why = f"met: {met}" + (f" → {'; '.join(notes)}" if notes else "")
            trace.append(StepReport(f"rule:{rule.name}", True, why, facts.links.since(start)))
        if outcome.ignored_by is not None or rule.stop_processing:
            break
    return outcome


def _first_failed(rule: CustomRule, facts: ItemFacts) -> str | None:
    for condition in rule.conditions:
        if not condition.matches(facts):
            return condition.describe()
    return None


def _apply_actions(
    rule: CustomRule, facts: ItemFacts, suggestions: list[Suggestion], outcome: CustomOutcome
) -> list[str]:
    notes: list[str] = []
    for action in rule.actions:
        if isinstance(action, Ignore):
            outcome.ignored_by = rule.name
            notes.append("ignore")
        elif isinstance(action, StoreWithoutBody):
            outcome.store_without_body = True
            notes.append("store without body")
        elif isinstance(action, AddCategory):
            outcome.categories.extend(c for c in action.names if c not in outcome.categories)
            notes.append(f"add category {', '.join(action.names)}")
        elif isinstance(action, LinkRecord):
            notes.append(_link_record(rule.name, action, facts))
        else:
            notes.append(_link_in_stage(rule.name, action, facts, suggestions))
    return notes


def _link_record(rule: str, action: LinkRecord, facts: ItemFacts) -> str:
    index = facts.index
    links = facts.links
    evidence = f"rule {rule}: link {action.kind} {action.key}"
    if action.kind is TargetKind.OPPORTUNITY:
        opportunity = index.opportunity_for_code(action.key)
        if opportunity is None:
            return f"no opportunity with code {action.key}"
        if not links.add(
            LinkSpec(TargetKind.OPPORTUNITY, opportunity.id, OriginKind.RULE, rule, evidence)
        ):
            return f"opportunity {opportunity.code} already linked or removed by a person"
        if links.wants(TargetKind.ACCOUNT, opportunity.account_id):
            links.add(
                LinkSpec(
                    TargetKind.ACCOUNT,
                    opportunity.account_id,
                    OriginKind.RULE,
                    rule,
                    f"{evidence} (the opportunity's account)",
                )
            )
        return f"linked opportunity {opportunity.code}"
    if action.kind is TargetKind.ACCOUNT:
        account = index.account_for_name(action.key)
        if account is None:
            return f"no account named {action.key!r}"
        if not links.add(LinkSpec(TargetKind.ACCOUNT, account.id, OriginKind.RULE, rule, evidence)):
            return f"account {account.name} already linked or removed by a person"
        return f"linked account {account.name}"
    contact = index.contact_for(action.key.lower())
    if contact is None:
        return f"no contact with address {action.key}"
    if not links.add(LinkSpec(TargetKind.CONTACT, contact.id, OriginKind.RULE, rule, evidence)):
        return f"contact {contact.name} already linked or removed by a person"
    return f"linked contact {contact.name}"


def _link_in_stage(
    rule: str,
    action: LinkOpenOpportunityInStage,
    facts: ItemFacts,
    suggestions: list[Suggestion],
) -> str:
    index: CrmIndex = facts.index
    stage = action.stage.casefold()
    notes: list[str] = []
    for account in facts.matched_accounts():
        in_stage = sorted(
            (
                o
                for o in index.open_opportunities(account.id)
                if o.stage.casefold() == stage
                and not facts.links.is_suppressed(TargetKind.OPPORTUNITY, o.id)
            ),
            key=lambda o: o.code,
        )
        if len(in_stage) == 1:
            opportunity = in_stage[0]
            facts.links.add(
                LinkSpec(
                    TargetKind.OPPORTUNITY,
                    opportunity.id,
                    OriginKind.RULE,
                    rule,
                    f"rule {rule}: account {account.name} has one open opportunity"
                    f" {opportunity.code} in stage {action.stage}",
                )
            )
            notes.append(f"linked opportunity {opportunity.code}")
        elif in_stage:
            suggestions.extend(
                Suggestion(
                    TargetKind.OPPORTUNITY,
                    o.id,
                    f"rule {rule}: account {account.name} has {len(in_stage)} open opportunities"
                    f" in stage {action.stage}",
                )
                for o in in_stage
            )
            notes.append(f"{len(in_stage)} opportunities in stage {action.stage} → suggestions")
    return "; ".join(notes) or f"no matched account has an open opportunity in stage {action.stage}"
