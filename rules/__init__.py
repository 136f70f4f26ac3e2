"""Pure matching of correspondence to CRM records (no I/O: callers hand in the data).

The sync engine builds one ``RulesEngine`` with a ``CrmIndex`` (kept current
incrementally), the settings, the custom ``RuleSet`` and a ``ThreadLookup``
over the store, then calls ``link`` per item. See ``rules.engine`` for the
order of the matchers and why.
"""

from rules.custom.errors import RuleError, RulesFileError
from rules.custom.loader import check_rules_file, load_rules, parse_rules_document, parse_rules_text
from rules.custom.ruleset import EMPTY_RULESET, CustomRule, RuleSet
from rules.dry_run import DryRunReport, StoredItem, dry_run
from rules.engine import Explanation, RulesEngine, explain
from rules.index import (
    AccountRecord,
    ContactRecord,
    CrmIndex,
    OpportunityRecord,
    OpportunityStatus,
)
from rules.results import Excluded, ExclusionReason, Linked, LinkResult, Suggestion
from rules.retro import CrmChange, RetroLinks, UnmatchedItem, affected_by, relink
from rules.settings import RulesSettings
from rules.suppressions import RelinkPlan, TargetRef, drop_suppressed, plan_relink
from rules.thread_lookup import InMemoryThreadLookup, StoredThreadLinks, ThreadLookup
from rules.trace import StepReport

__all__ = [
    "EMPTY_RULESET",
    "AccountRecord",
    "ContactRecord",
    "CrmChange",
    "CrmIndex",
    "CustomRule",
    "DryRunReport",
    "Excluded",
    "ExclusionReason",
    "Explanation",
    "InMemoryThreadLookup",
    "LinkResult",
    "Linked",
    "OpportunityRecord",
    "OpportunityStatus",
    "RelinkPlan",
    "RetroLinks",
    "RuleError",
    "RuleSet",
    "RulesEngine",
    "RulesFileError",
    "RulesSettings",
    "StepReport",
    "StoredItem",
    "StoredThreadLinks",
    "Suggestion",
    "TargetRef",
    "ThreadLookup",
    "UnmatchedItem",
    "affected_by",
    "check_rules_file",
    "drop_suppressed",
    "dry_run",
    "explain",
    "load_rules",
    "parse_rules_document",
    "parse_rules_text",
    "plan_relink",
    "relink",
]
