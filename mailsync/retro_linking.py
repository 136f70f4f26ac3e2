"""Retroactive linking and the window purge, over the store.

When the CRM learns a contact, an address, a domain or an opportunity code,
items stored earlier that matched nothing may now match. The store keeps
their metadata for ``[rules] retro_window_days``; here the candidates are
pre-selected in SQL by what changed, re-checked and linked by the pure rules
(``rules.retro``), and written in one batch (``crm_store.unmatched``). The
linked messages are flagged so the next sync of a mailbox holding them
fetches their bodies. The caller owns the transaction, so a CSV import and
the links it makes possible commit together.

Where it runs: ``relink_from_change_log`` covers every CRM writer (SQL,
API, import, scripts): it applies the change log (revision 0005) since a
watermark kept in the store and advanced in the same transaction as the links
it writes, so each change is linked once whoever made it; the daemon's
maintenance job runs it, and in cluster mode the ticker's. ``mailsync
import`` and the web service's create-contact endpoint also link at once for
the user in front of them; the job finds those items linked already (links
are idempotent and linked items are no longer candidates). ``purge_expired``
deletes what outlived the window, in the same maintenance pass, and
``mailsync rules purge`` on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from crm_store.change_watermarks import advance_watermark, claim_watermark
from crm_store.crm_changes import ChangedRecords, changes_after, purge_change_log
from crm_store.crm_records import load_crm_records, load_crm_records_by_id
from crm_store.database import session_scope
from crm_store.items import ItemKind
from crm_store.links import suppressions_for_items
from crm_store.our_addresses import our_addresses
from crm_store.unmatched import (
    LateLinks,
    PurgeCounts,
    UnmatchedRow,
    purge_unmatched,
    unmatched_candidates,
    write_late_links,
)
from mailsync.config import Settings
from mailsync.direction import NOTHING_CONFIGURED, InternalConfig
from mailsync.live_index import index_from_records
from mailsync.rules_context import StoreThreadLookup
from mailsync.runtime import internal_config
from rules import (
    EMPTY_RULESET,
    CrmChange,
    CrmIndex,
    RulesEngine,
    RuleSet,
    RulesSettings,
    UnmatchedItem,
    affected_by,
    relink,
)
from rules.suppressions import TargetRef
from rules.tracking_code import CodeScanner

log = logging.getLogger(__name__)

IndexFor = Callable[[Session, Collection[str], Sequence[str]], CrmIndex]
"""Builds the rules index that can match these addresses and codes (a slice or the whole CRM)."""

RETRO_CONSUMER = "retro_linking"
"""The watermark row of retroactive linking in ``change_log_watermarks``."""

CHANGE_LOG_DAYS = 7
"""Change-log rows older than this are purged: every live daemon applied them long ago."""


@dataclass(frozen=True, slots=True)
class RetroReport:
    candidates: int
    items_linked: int
    links_written: int
    suggestions_written: int


def whole_crm(internal_domains: Collection[str]) -> IndexFor:
    """An ``IndexFor`` that reads the whole CRM (the CLI; a daemon passes its live index)."""

    def build(session: Session, _addresses: Collection[str], _codes: Sequence[str]) -> CrmIndex:
        return index_from_records(load_crm_records(session), internal_domains)

    return build


def whole_crm_as_now(internal: InternalConfig) -> IndexFor:
    """``whole_crm`` with who is ours read when it builds: a long-lived process (the
    maintenance pass) must see the users and mailboxes added since it started."""

    def build(session: Session, addresses: Collection[str], codes: Sequence[str]) -> CrmIndex:
        domains = internal.parties(our_addresses(session)).domains
        return whole_crm(domains)(session, addresses, codes)

    return build


def change_of(session: Session, changed: ChangedRecords) -> CrmChange:
    """What the retro matcher looks for after these records changed: their addresses,
    domains and codes as they are now (a deleted record links nothing new)."""
    records = load_crm_records_by_id(
        session,
        account_ids=changed.account_ids,
        contact_ids=changed.contact_ids,
        opportunity_ids=changed.opportunity_ids,
    )
    return CrmChange.of(
        addresses=(e for c in records.contacts for e in c.emails),
        domains=(d for a in records.accounts for d in a.domains),
        opportunity_codes=(o.code for o in records.opportunities),
        account_ids=(a.id for a in records.accounts),
    )


def relink_after_change(
    session: Session,
    change: CrmChange,
    *,
    settings: RulesSettings,
    index_for: IndexFor,
    now: datetime,
    ruleset: RuleSet = EMPTY_RULESET,
) -> RetroReport:
    """Link the unmatched items of the window that ``change`` makes matchable."""
    if not (change.addresses or change.domains or change.opportunity_codes):
        return RetroReport(0, 0, 0, 0)
    since = now - timedelta(days=settings.retro_window_days)
    rows = unmatched_candidates(
        session,
        since,
        addresses=change.addresses,
        domains=change.domains,
        codes=change.opportunity_codes,
    )
    if not rows:
        return RetroReport(0, 0, 0, 0)
    scanner = CodeScanner(settings.tracking_code_pattern)
    addresses = sorted({address for row in rows for _role, address in row.participants})
    codes = sorted({c.upper() for row in rows for c in scanner.codes(row.subject)})
    engine = RulesEngine(
        index_for(session, addresses, codes), settings, ruleset, StoreThreadLookup(session)
    )
    affected = affected_by(change, [_unmatched(row) for row in rows], engine)
    suppressed: dict[tuple[ItemKind, int], set[TargetRef]] = {}
    for kind in (ItemKind.MESSAGE, ItemKind.MEETING):
        found = suppressions_for_items(
            session, kind, [i.item_id for i in affected if i.item_kind is kind]
        )
        suppressed.update({(kind, item_id): targets for item_id, targets in found.items()})
    results = relink(engine, affected, suppressed)
    counts = write_late_links(
        session,
        [LateLinks(r.item_kind, r.item_id, r.links, r.suggestions) for r in results],
    )
    return RetroReport(len(rows), counts.items, counts.links_written, counts.suggestions_written)


def _unmatched(row: UnmatchedRow) -> UnmatchedItem:
    return UnmatchedItem(
        row.item_kind,
        row.item_id,
        row.item_key,
        row.mailbox,
        row.subject,
        row.sent_at,
        row.participants,
        row.conversation_id,
        row.in_reply_to,
        row.references,
    )


def purge_expired(session: Session, settings: RulesSettings, now: datetime) -> PurgeCounts:
    """Delete unmatched items older than the window, and change-log rows long applied."""
    counts = purge_unmatched(session, now - timedelta(days=settings.retro_window_days))
    purge_change_log(session, now - timedelta(days=CHANGE_LOG_DAYS))
    return counts


def relink_from_change_log(
    session: Session,
    *,
    settings: RulesSettings,
    index_for: IndexFor,
    now: datetime,
    ruleset: RuleSet = EMPTY_RULESET,
) -> RetroReport:
    """Link what the CRM changes since the watermark make matchable; advance the watermark.

    All in the caller's transaction: the links and the new position commit
    together, and the watermark row stays locked until then (one node at a time).
    """
    after = claim_watermark(session, RETRO_CONSUMER)
    changed = changes_after(session, after)
    if changed.last_id <= after:
        return RetroReport(0, 0, 0, 0)
    report = relink_after_change(
        session,
        change_of(session, changed),
        settings=settings,
        index_for=index_for,
        now=now,
        ruleset=ruleset,
    )
    advance_watermark(session, RETRO_CONSUMER, changed.last_id)
    return report


def maintenance_job(
    sessions: sessionmaker[Session],
    settings: RulesSettings,
    clock: Callable[[], datetime],
    *,
    internal: InternalConfig = NOTHING_CONFIGURED,
    ruleset: RuleSet = EMPTY_RULESET,
) -> Callable[[], None]:
    """The maintenance pass (daemon, cluster ticker): relink from the change log, then
    purge, each in its own transaction so a failing purge never undoes links."""

    def run() -> None:
        with session_scope(sessions, write=True) as session:
            retro = relink_from_change_log(
                session,
                settings=settings,
                index_for=whole_crm_as_now(internal),
                now=clock(),
                ruleset=ruleset,
            )
        if retro.items_linked:
            log.info(
                "linked %s earlier item(s) the CRM's changes made matchable (%s link(s))",
                retro.items_linked,
                retro.links_written,
            )
        with session_scope(sessions, write=True) as session:
            counts = purge_expired(session, settings, clock())
        if counts.messages or counts.meetings:
            log.info(
                "purged %s message(s) and %s meeting(s) past the %s-day window",
                counts.messages,
                counts.meetings,
                settings.retro_window_days,
            )

    return run


def maintenance_for(settings: Settings, sessions: sessionmaker[Session]) -> Callable[[], None]:
    """The configured maintenance pass (the daemon's, and each cluster ticker's)."""
    return maintenance_job(
        sessions,
        settings.rules.engine_settings(),
        lambda: datetime.now(UTC),
        internal=internal_config(settings),
        ruleset=settings.rules.custom_rules(),
    )
