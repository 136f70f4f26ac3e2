"""The rules as the web service runs them: on a slice of the CRM, read per request.

The daemon keeps the whole CRM in memory; a web process does not need to
(and must not go stale when another process imports contacts). For one item
or a handful of addresses only a few records can match: the contacts with
those addresses, the accounts of those contacts and domains, their open
opportunities, and opportunities whose code appears in the text. We read
exactly those, build a small ``CrmIndex`` and hand it to the pure engine, so
suggestions here are what the daemon's rules would say.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from sqlalchemy.orm import Session

from crm_store.items import CorrespondenceItem
from mailsync.rules_context import StoreThreadLookup, rules_settings_from
from rules import LinkResult, RulesEngine, RulesSettings, TargetRef
from rules.tracking_code import CodeScanner
from web.crm_slice import CrmSlice, load_slice

MAX_CODES = 50

__all__ = ["MAX_CODES", "RulesContext", "StoreThreadLookup", "rules_settings_from"]


class RulesContext:
    """Built once per app (settings, compiled code pattern); each request reads its own slice."""

    def __init__(self, settings: RulesSettings, internal_domains: Iterable[str]) -> None:
        self.settings = settings
        self.internal_domains = tuple(internal_domains)
        self._scanner = CodeScanner(settings.tracking_code_pattern)

    def codes_in(self, *texts: str | None) -> list[str]:
        found: list[str] = []
        for text in texts:
            if text:
                found.extend(self._scanner.codes(text))
        return sorted({code.upper() for code in found})[:MAX_CODES]

    def load_slice(
        self, session: Session, addresses: Collection[str], codes: Sequence[str] = ()
    ) -> CrmSlice:
        return load_slice(session, addresses, codes, self.internal_domains)

    def evaluate(
        self,
        session: Session | None,
        crm: CrmSlice,
        item: CorrespondenceItem,
        *,
        mailbox_owner: str | None,
        suppressed: Collection[TargetRef] = (),
    ) -> LinkResult:
        lookup = StoreThreadLookup(session) if session is not None else None
        engine = RulesEngine(crm.index, self.settings, thread_lookup=lookup)
        return engine.link(item, mailbox=mailbox_owner, suppressed=suppressed)

    def run(
        self,
        session: Session,
        item: CorrespondenceItem,
        *,
        mailbox_owner: str | None,
        suppressed: Collection[TargetRef] = (),
    ) -> tuple[LinkResult, CrmSlice]:
        """The rules' verdict on ``item`` as the daemon would give it."""
        addresses = [a.address for a in item.participants]
        body = getattr(item, "body_text", None)
        crm = self.load_slice(session, addresses, self.codes_in(item.subject, body))
        result = self.evaluate(
            session, crm, item, mailbox_owner=mailbox_owner, suppressed=suppressed
        )
        return result, crm
