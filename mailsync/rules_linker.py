"""The sync engine's link step: the pure rules engine over the live CRM index and the store.

One ``RulesLinkers`` per process holds the ``LiveCrmIndex`` (built once,
refreshed from the change log at the start of every mailbox run) and the
configured settings and custom rules. The engine asks it who is ours
(``internal``) for each page's message direction, so direction and linking
share the live index's one refreshed verdict. Each mailbox run gets a ``RulesLinker``
with its own ``RulesEngine`` over the shared index, so the per-page thread
lookup never crosses threads. Per page the linker reads, in one short
session, the stored links of every parent and conversation the page names and
the suppressions of the page's stored items; then it links every item from
memory under the index's read lock.

Why bodies of some unlinked items are read (``wants_body``)
---------------------------------------------------------
Delta pages carry no bodies; they are fetched in ``$batch`` only for items
worth it. A tracked item's body is fetched anyway and the item re-linked on
it, so a tracking code that only the body holds still links its
opportunity. But an item whose *only* signal is a body code (a forwarded
deal mail from someone not yet in the CRM, at a company not yet an account)
would never be tracked and so never read. Reading every body would defeat
invariant 4 and cost a request per 20 items, so the linker asks for the body
of an unlinked message only when it is business correspondence from outside:
a participant on a domain that is neither ours nor free-mail. Personal,
internal and bulk mail (the bulk of a mailbox) never qualifies; the body so
read is dropped again when it links nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

from sqlalchemy.orm import Session, sessionmaker

from crm_store.items import CorrespondenceItem, MeetingItem, MessageItem
from crm_store.page_reads import suppressions_by_item_key
from mailsync.direction import NOTHING_CONFIGURED, InternalConfig, InternalParties
from mailsync.live_index import LiveCrmIndex
from mailsync.rules_context import PageThreadLookup
from rules import EMPTY_RULESET, Linked, LinkResult, RulesEngine, RuleSet, RulesSettings
from rules.free_mail import free_mail_domains
from rules.suppressions import TargetRef


class RulesLinker:
    """One mailbox run's linker (one thread); see the module docstring."""

    def __init__(
        self,
        live: LiveCrmIndex,
        engine: RulesEngine,
        sessions: sessionmaker[Session],
        free_mail: Collection[str],
    ) -> None:
        self._live = live
        self._engine = engine
        self._sessions = sessions
        self._free_mail = free_mail
        self._lookup = PageThreadLookup()
        self._suppressed: dict[str, set[TargetRef]] = {}

    @property
    def engine(self) -> RulesEngine:
        return self._engine

    def link(self, item: CorrespondenceItem, mailbox: str) -> LinkResult:
        return self.link_page([item], mailbox)[0]

    def link_page(self, items: Sequence[CorrespondenceItem], mailbox: str) -> list[LinkResult]:
        with self._sessions() as session:
            self._lookup = PageThreadLookup.prefetch(session, items)
            self._suppressed = suppressions_by_item_key(
                session,
                [i.message_key for i in items if isinstance(i, MessageItem)],
                [i.meeting_key for i in items if isinstance(i, MeetingItem)],
            )
        self._engine.thread_lookup = self._lookup
        return self._link_all(items, mailbox)

    def relink_with_bodies(
        self, items: Sequence[CorrespondenceItem], mailbox: str
    ) -> list[LinkResult]:
        return self._link_all(items, mailbox)

    def _link_all(self, items: Sequence[CorrespondenceItem], mailbox: str) -> list[LinkResult]:
        # Oldest first, so a reply later in the page inherits from its parent.
        order = sorted(range(len(items)), key=lambda i: _when(items[i]))
        results: list[LinkResult | None] = [None] * len(items)
        engine, lookup, suppressed = self._engine, self._lookup, self._suppressed
        with self._live.lock.reading():
            for position in order:
                item = items[position]
                key = item.message_key if isinstance(item, MessageItem) else item.meeting_key
                result = engine.link(item, mailbox, suppressed=suppressed.get(key, ()))
                results[position] = result
                if isinstance(item, MessageItem) and isinstance(result, Linked) and result.links:
                    lookup.learn(item, result.links)
        return [r for r in results if r is not None]

    def wants_body(self, item: CorrespondenceItem, result: LinkResult) -> bool:
        if not isinstance(item, MessageItem) or not isinstance(result, Linked) or result.links:
            return False
        if item.body_text is not None or item.body_html is not None:
            return False
        index = self._engine.index
        for address in item.participants:
            domain = address.domain
            if domain and domain not in self._free_mail and not index.is_internal(address.address):
                return True
        return False


def _when(item: CorrespondenceItem) -> float:
    moment = item.sent_at if isinstance(item, MessageItem) else item.start
    return moment.timestamp() if moment is not None else float("-inf")


class RulesLinkers:
    """The process-wide part: the live index and the configuration; ``__call__`` per run."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: RulesSettings,
        ruleset: RuleSet = EMPTY_RULESET,
        internal: InternalConfig = NOTHING_CONFIGURED,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self.ruleset = ruleset
        self._internal = internal
        self._free_mail = free_mail_domains(settings.extra_free_mail_domains)
        self.live: LiveCrmIndex | None = None
        self._loading = threading.Lock()

    def live_index(self, session: Session) -> LiveCrmIndex:
        """The index, built on first use and refreshed from the change log after that."""
        with self._loading:
            if self.live is None:
                self.live = LiveCrmIndex.load(session, self._internal)
                return self.live
        self.live.refresh(session)
        return self.live

    def internal(self) -> InternalParties:
        """Who is ours as of the live index's last refresh (every mailbox run starts with one)."""
        live = self.live
        if live is None:
            with self._sessions() as session:
                live = self.live_index(session)
        return live.internal

    def __call__(self, session: Session) -> RulesLinker:
        live = self.live_index(session)
        engine = RulesEngine(live.index, self.settings, self.ruleset)
        return RulesLinker(live, engine, self._sessions, self._free_mail)
