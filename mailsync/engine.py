"""Sync one mailbox: pages of changes → items → links → one transaction per page.

For each folder the engine reads the stored cursor, asks the driver for pages,
normalises direction, runs the link step, fetches bodies of tracked messages,
and hands everything — items, links, failures, exclusions and the folder's new
cursor — to ``crm_store.sync_writes.apply_page`` inside ONE transaction
(invariant 1: kill the process at any instant and the next run resumes from a
cursor that matches what is stored).

A body is never worth a page: bodies the server would not give yet (an inner
``$batch`` 429 or 5xx) are marked pending in the page's write, the page
commits, and only then does the run end as throttled or temporary. After its
folders, a run fetches the mailbox's pending bodies and links on them.

Every failure kind a driver raises is handled in one place (``sync_mailbox``)
and becomes a ``SyncOutcome`` recorded on the mailbox row. An expired cursor
is the one failure handled per folder: the folder is reset and resynced at
once, and the resync is idempotent because every write is an upsert and the
store retires copies the resync no longer saw.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import session_scope
from crm_store.history import HistoryItem, stored_messages, thread_followers
from crm_store.items import CorrespondenceItem, ItemKind, LinkSpec, MeetingItem, MessageItem
from crm_store.message_bodies import BodyPair, settle_pending_bodies, stored_bodies
from crm_store.models import Mailbox
from crm_store.sync_writes import (
    ItemFailureRecord,
    PageWrite,
    apply_page,
    folder_cursor,
    reset_folder,
)
from crm_store.unmatched import LateLinks, PendingBody, pending_bodies, write_late_links
from mailsync.direction import InternalParties, message_direction
from mailsync.linking import Linker
from mailsync.outcome import (
    BackoffPolicy,
    OutcomeKind,
    SyncOutcome,
    mark_syncing,
    record_outcome,
)
from mailsync.providers.base import (
    AuthFailed,
    BodyFetch,
    ChangePage,
    CursorExpired,
    ItemFailure,
    MailboxProvider,
    PermanentFailure,
    ProviderError,
    TemporaryFailure,
    Throttled,
)
from rules.results import Excluded, Linked, LinkResult, Suggestion

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

THREAD_RELINK_ROUNDS = 8
"""Generations of replies linked again after a late body gave their parent new links."""


@dataclass(frozen=True, slots=True)
class PageProgress:
    mailbox: str
    folder: str
    items: int
    removals: int
    failures: int


@dataclass(frozen=True, slots=True)
class EngineSettings:
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    write_back_category: bool = False
    category_name: str = "Tracked to CRM"


@dataclass(slots=True)
class _Tally:
    pages: int = 0
    items: int = 0
    failures: int = 0


class _Stopped(Exception):
    """Internal: the stop event was set after a page committed."""


@dataclass(frozen=True, slots=True)
class _BodyShortfall:
    """Bodies the server would not give yet: the run ends this way once the page committed.

    A page is never held back for a body (its items, links and cursor commit
    with the body pending); the server's answer still decides the run: it
    ends as throttled until the inner Retry-After, or as a temporary failure.
    """

    retry_after: float | None
    reason: str

    @classmethod
    def of(cls, fetch: BodyFetch) -> _BodyShortfall | None:
        if fetch.retry_after is not None:
            return cls(fetch.retry_after, f"{len(fetch.unfetched)} bodies left pending")
        if fetch.temporary or fetch.unfetched:
            detail = fetch.temporary or "bodies unanswered"
            return cls(None, f"{detail}; {len(fetch.unfetched)} bodies left pending")
        return None

    def end_run(self) -> None:
        if self.retry_after is not None:
            raise Throttled(self.retry_after, self.reason)
        raise TemporaryFailure(self.reason)


class SyncEngine:
    """Syncs mailboxes into the store; one instance is shared by the daemon's jobs."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        linker_for: Callable[[Session], Linker],
        internal: InternalParties | Callable[[], InternalParties],
        settings: EngineSettings = EngineSettings(),
        *,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        """``internal``: who is ours, fixed or asked for each page (the live index's,
        refreshed from the change log when a run gets its linker)."""
        self._sessions = sessions
        self._linker_for = linker_for
        self._internal = internal if callable(internal) else (lambda: internal)
        self._settings = settings
        self._clock = clock

    # ------------------------------------------------------------------ one mailbox

    def sync_mailbox(
        self,
        mailbox_id: int,
        provider: MailboxProvider,
        *,
        stop: threading.Event | None = None,
        on_page: Callable[[PageProgress], None] | None = None,
    ) -> SyncOutcome:
        stop = stop or threading.Event()
        tally = _Tally()
        with session_scope(self._sessions, write=True) as session:
            mailbox = session.get(Mailbox, mailbox_id)
            if mailbox is None:
                raise LookupError(f"no mailbox with id {mailbox_id}")
            address = mailbox.address
            mark_syncing(session, mailbox_id)
        with self._sessions() as session:
            linker = self._linker_for(session)
        try:
            for folder in provider.folders():
                self._sync_folder(
                    mailbox_id, address, folder, provider, linker, stop, on_page, tally
                )
            while not stop.is_set() and self._fetch_pending_bodies(
                mailbox_id, address, provider, linker
            ):
                pass  # a round of pending bodies settled; there may be more
            outcome = self._outcome(OutcomeKind.OK, "", tally)
        except _Stopped:
            outcome = self._outcome(OutcomeKind.STOPPED, "stopped between pages", tally)
        except Throttled as exc:
            retry_at = self._clock() + timedelta(seconds=exc.retry_after)
            outcome = self._outcome(OutcomeKind.THROTTLED, str(exc), tally, retry_at)
        except (TemporaryFailure, CursorExpired) as exc:
            outcome = self._outcome(OutcomeKind.TEMPORARY, str(exc), tally)
        except AuthFailed as exc:
            outcome = self._outcome(OutcomeKind.AUTH_FAILED, str(exc), tally)
        except (PermanentFailure, ProviderError) as exc:
            outcome = self._outcome(OutcomeKind.FAILED, str(exc), tally)
        except DBAPIError as exc:
            log.warning("mailbox %s: store error: %s", address, exc)
            outcome = self._outcome(OutcomeKind.TEMPORARY, f"store: {exc.orig!r}", tally)
        except Exception as exc:
            # A bug or an unforeseen input: recorded on the mailbox (with the
            # traceback in the log) so one mailbox never stops the daemon.
            log.exception("mailbox %s: sync failed unexpectedly", address)
            outcome = self._outcome(OutcomeKind.FAILED, f"{type(exc).__name__}: {exc}", tally)
        if outcome.kind not in (OutcomeKind.OK, OutcomeKind.STOPPED):
            log.warning("mailbox %s: %s: %s", address, outcome.kind.value, outcome.reason)
        with session_scope(self._sessions, write=True) as session:
            record_outcome(session, mailbox_id, outcome, self._settings.backoff, self._clock())
        return outcome

    def _fetch_pending_bodies(
        self, mailbox_id: int, address: str, provider: MailboxProvider, linker: Linker
    ) -> bool:
        """Bodies left pending: linked late, or not fetched in their page's run (throttled).

        Their copies sit in folders whose delta will not mention them again,
        so they are fetched here by id, a bounded round per call (the caller
        repeats while a round settled something). Each message
        is linked again on its body, so a tracking code only the body holds
        links now, and all of it is written in one transaction: the links,
        the bodies of tracked messages (an untracked one's is dropped again,
        invariant 4) and the pending flags of those settled. A body the
        server would not give yet stays pending, and the run ends the way the
        server asked after the commit. A body already stored (another
        mailbox's copy brought it) is not fetched again.
        """
        with self._sessions() as session:
            pending = pending_bodies(session, mailbox_id)
            if not pending:
                return False
            stored = {
                h.item_id: h
                for h in stored_messages(session, sorted({p.message_id for p in pending}))
            }
        bodies: dict[int, BodyPair] = {}
        to_fetch: dict[str, list[PendingBody]] = {}
        seen: set[int] = set()
        for entry in pending:
            history = stored.get(entry.message_id)
            if history is None or entry.message_id in seen:
                continue
            seen.add(entry.message_id)
            item = history.item
            if not isinstance(item, MessageItem):
                continue
            if item.body_text is not None or item.body_html is not None:
                bodies[entry.message_id] = (item.body_text, item.body_html)
            else:
                to_fetch.setdefault(entry.folder, []).append(entry)
        unfetched: set[int] = set()
        shortfall: _BodyShortfall | None = None
        for folder, entries in to_fetch.items():
            if shortfall is not None:
                unfetched.update(e.message_id for e in entries)  # no more requests once refused
                continue
            fetch = provider.fetch_bodies(folder, [e.provider_item_id for e in entries])
            left = set(fetch.unfetched)
            for entry in entries:
                if entry.provider_item_id in fetch.bodies:
                    bodies[entry.message_id] = fetch.bodies[entry.provider_item_id]
                elif entry.provider_item_id in left:
                    unfetched.add(entry.message_id)
            shortfall = _BodyShortfall.of(fetch)
        late, bodyless = self._relink_on_bodies(stored, bodies, address, linker)
        settled = {e.message_id for e in pending} - unfetched
        with session_scope(self._sessions, write=True) as session:
            write_late_links(session, late)
            settle_pending_bodies(session, bodies, settled, bodyless)
        self._relink_followers([entry.item_id for entry in late], address, linker)
        if shortfall is not None:
            shortfall.end_run()
        return True

    def _relink_followers(self, linked: list[int], address: str, linker: Linker) -> None:
        """Replies to (and later mail of the conversations of) messages a late body linked.

        Had the body come with its page, the thread rules would have handed
        its links on to the replies synced after it; they were linked before
        it had them, so they are linked again now, generation by generation
        while that adds links, each in its owner mailbox's context. Links a
        person removed stay removed (suppressions, invariant 3); a reply that
        becomes tracked has its body fetched as pending.
        """
        frontier = linked
        for _ in range(THREAD_RELINK_ROUNDS):
            if not frontier:
                return
            with self._sessions() as session:
                followers = stored_messages(session, thread_followers(session, frontier))
            by_owner: dict[str, list[HistoryItem]] = {}
            for history in followers:
                if isinstance(history.item, MessageItem):
                    by_owner.setdefault(history.mailbox or address, []).append(history)
            late: list[LateLinks] = []
            for owner, group in by_owner.items():
                items: list[CorrespondenceItem] = [
                    dataclasses.replace(h.item, internet_message_id=h.item_key)
                    for h in group
                    if isinstance(h.item, MessageItem)
                ]
                for history, result in zip(group, linker.link_page(items, owner), strict=True):
                    if not isinstance(result, Linked) or not result.links:
                        continue
                    held = {(link.target_kind, link.target_id) for link in history.links}
                    found = {(link.target_kind, link.target_id) for link in result.links}
                    if found - held - history.suppressed:
                        late.append(
                            LateLinks(
                                ItemKind.MESSAGE, history.item_id, result.links, result.suggestions
                            )
                        )
            if not late:
                return
            with session_scope(self._sessions, write=True) as session:
                write_late_links(session, late)
            frontier = [entry.item_id for entry in late]

    @staticmethod
    def _relink_on_bodies(
        stored: dict[int, HistoryItem],
        bodies: dict[int, BodyPair],
        address: str,
        linker: Linker,
    ) -> tuple[list[LateLinks], list[int]]:
        """(links each message's body finds, messages tracked by a rule that keeps no body)."""
        ids: list[int] = []
        items: list[CorrespondenceItem] = []
        for message_id in sorted(bodies):
            history = stored[message_id]
            if not isinstance(history.item, MessageItem):
                continue
            ids.append(message_id)
            text, html = bodies[message_id]
            # The stored key stands in for a missing internetMessageId, so the
            # linker finds this message's suppressions under the same key.
            items.append(
                dataclasses.replace(
                    history.item,
                    internet_message_id=history.item_key,
                    body_text=text,
                    body_html=html,
                )
            )
        results = linker.link_page(items, address) if items else []
        late: list[LateLinks] = []
        bodyless: list[int] = []
        for message_id, result in zip(ids, results, strict=True):
            if isinstance(result, Linked) and result.links:
                late.append(
                    LateLinks(ItemKind.MESSAGE, message_id, result.links, result.suggestions)
                )
                if not result.store_body:
                    bodyless.append(message_id)
        return late, bodyless

    def _outcome(
        self, kind: OutcomeKind, reason: str, tally: _Tally, retry_at: datetime | None = None
    ) -> SyncOutcome:
        return SyncOutcome(kind, reason, retry_at, tally.pages, tally.items, tally.failures)

    # ------------------------------------------------------------------ one folder

    def _sync_folder(
        self,
        mailbox_id: int,
        address: str,
        folder: str,
        provider: MailboxProvider,
        linker: Linker,
        stop: threading.Event,
        on_page: Callable[[PageProgress], None] | None,
        tally: _Tally,
    ) -> None:
        cursor, complete = self._read_cursor(mailbox_id, folder)
        try:
            end = self._follow(
                mailbox_id, address, folder, cursor, provider, linker, stop, on_page, tally
            )
            if cursor is not None and not complete:
                # The stored cursor was a nextLink: this run finished a round that
                # began in an earlier run (a killed or stopped one), and a round's
                # deltaLink only covers changes made before the round began. One
                # more round makes the run caught up with every change made before
                # it started; an idle folder answers it with one empty page.
                self._follow(
                    mailbox_id, address, folder, end, provider, linker, stop, on_page, tally
                )
        except CursorExpired as expired:
            # Drop the cursor and resync the folder now; a second expiry in the
            # same run is left to the next run (CursorExpired → temporary).
            log.info("mailbox %s folder %s: %s; full resync", address, folder, expired)
            with session_scope(self._sessions, write=True) as session:
                reset_folder(session, mailbox_id, folder)
            self._follow(mailbox_id, address, folder, None, provider, linker, stop, on_page, tally)

    def _read_cursor(self, mailbox_id: int, folder: str) -> tuple[str | None, bool]:
        """The folder's stored cursor and whether it ends a round (a deltaLink)."""
        with self._sessions() as session:
            return folder_cursor(session, mailbox_id, folder)

    def _follow(
        self,
        mailbox_id: int,
        address: str,
        folder: str,
        cursor: str | None,
        provider: MailboxProvider,
        linker: Linker,
        stop: threading.Event,
        on_page: Callable[[PageProgress], None] | None,
        tally: _Tally,
    ) -> str | None:
        """Apply the round from ``cursor`` page by page; returns the cursor stored last."""
        stored = cursor
        pages = provider.changes(folder, cursor)
        try:
            for page in pages:
                write, shortfall = self._prepare(page, address, provider, linker)
                with session_scope(self._sessions, write=True) as session:
                    apply_page(session, mailbox_id, write)
                stored = page.next_cursor or stored
                tally.pages += 1
                tally.items += len(page.upserts)
                tally.failures += len(page.failures)
                if on_page is not None:
                    on_page(
                        PageProgress(
                            address,
                            folder,
                            len(page.upserts),
                            len(page.removals),
                            len(page.failures),
                        )
                    )
                if shortfall is not None:
                    shortfall.end_run()
                if stop.is_set() and not page.is_last:
                    raise _Stopped
        finally:
            _close(pages)
        if stop.is_set():
            raise _Stopped
        return stored

    # ------------------------------------------------------------------ one page

    def linker(self, session: Session) -> Linker:
        """The link step as a sync run gets it (for ``mailsync ingest``, the same path)."""
        return self._linker_for(session)

    def prepare_page(
        self, page: ChangePage, address: str, provider: MailboxProvider, linker: Linker
    ) -> PageWrite:
        """Link a page of items into the write ``apply_page`` takes, exactly as a sync does.

        Bodies the provider could not give are left pending in the write.
        """
        return self._prepare(page, address, provider, linker)[0]

    def _prepare(
        self, page: ChangePage, address: str, provider: MailboxProvider, linker: Linker
    ) -> tuple[PageWrite, _BodyShortfall | None]:
        """Everything the page's transaction writes; all network calls happen here, before it.

        Items are linked on their metadata first. Then bodies are fetched (one
        ``$batch`` round) for tracked items and for the unlinked items the
        linker wants read, and those items are linked again on their bodies,
        so a code only the body holds still links. A body is kept only when the
        final result tracks the item (invariant 4). A body already stored
        (another mailbox's copy) is read from the store instead of fetched.
        Bodies the server would not give yet are marked pending and the
        shortfall is returned, to end the run after the page commits.
        """
        internal = self._internal()
        items: list[CorrespondenceItem] = [
            dataclasses.replace(item, direction=message_direction(item, internal))
            if isinstance(item, MessageItem)
            else item
            for item in page.upserts
        ]
        results = linker.link_page(items, address)
        wanted = {
            i
            for i, (item, result) in enumerate(zip(items, results, strict=True))
            if isinstance(item, MessageItem)
            and item.body_text is None
            and item.body_html is None
            and (_tracks_body(result) or linker.wants_body(item, result))
        }
        pending_keys: set[str] = set()
        read_keys: set[str] = set()
        shortfall: _BodyShortfall | None = None
        if wanted:
            fetched, unfetched, shortfall = self._page_bodies(
                page.folder, [items[i] for i in sorted(wanted)], provider
            )
            pending_keys = {
                _item_key(items[i]) for i in wanted if items[i].provider_item_id in unfetched
            }
            reread = [i for i in sorted(wanted) if items[i].provider_item_id in fetched]
            read_keys = {_item_key(items[i]) for i in reread}
            for i in reread:
                current = items[i]
                if isinstance(current, MessageItem):
                    text, html = fetched[current.provider_item_id]
                    items[i] = dataclasses.replace(current, body_text=text, body_html=html)
            again = linker.relink_with_bodies([items[i] for i in reread], address)
            for i, result in zip(reread, again, strict=True):
                results[i] = result
        kept: list[CorrespondenceItem] = []
        links: dict[str, tuple[LinkSpec, ...]] = {}
        suggestions: dict[str, tuple[Suggestion, ...]] = {}
        tracked: set[str] = set()
        bodyless: set[str] = set()
        exclusions: dict[str, int] = {}
        categories: dict[str, tuple[str, ...]] = {}
        for item, result in zip(items, results, strict=True):
            if isinstance(result, Excluded):
                exclusions[result.counter_key] = exclusions.get(result.counter_key, 0) + 1
                continue
            key = _item_key(item)
            links[key] = result.links
            if result.suggestions:
                suggestions[key] = result.suggestions
            if result.links:
                tracked.add(key)
                if not result.store_body:
                    bodyless.add(key)
            if key not in tracked or key in bodyless:
                item = _without_body(item)  # invariant 4: bodies only for tracked items
            wanted_categories = self._wanted_categories(item, result)
            if wanted_categories:
                categories[item.provider_item_id] = wanted_categories
            kept.append(item)
        for item_id, category_list in categories.items():
            provider.set_category(item_id, category_list)
        messages = [i for i in kept if isinstance(i, MessageItem)]
        meetings = [i for i in kept if isinstance(i, MeetingItem)]
        return PageWrite(
            folder=page.folder,
            messages=messages,
            meetings=meetings,
            removals=list(page.removals),
            links=links,
            suggestions=suggestions,
            tracked_keys=frozenset(tracked),
            bodyless_keys=frozenset(bodyless),
            failures=[_failure_record(f) for f in page.failures],
            exclusions=exclusions,
            cursor=page.next_cursor,
            cursor_complete=page.is_last,
            body_pending_keys=frozenset(pending_keys),
            body_read_keys=frozenset(read_keys),
        ), shortfall

    def _page_bodies(
        self, folder: str, wanted: list[CorrespondenceItem], provider: MailboxProvider
    ) -> tuple[dict[str, BodyPair], set[str], _BodyShortfall | None]:
        """(bodies by provider item id, ids left unfetched, how the run must end if any were)."""
        with self._sessions() as session:
            known = stored_bodies(session, [_item_key(i) for i in wanted])
        bodies = {i.provider_item_id: known[_item_key(i)] for i in wanted if _item_key(i) in known}
        missing = [i.provider_item_id for i in wanted if _item_key(i) not in known]
        if not missing:
            return bodies, set(), None
        fetch = provider.fetch_bodies(folder, missing)
        bodies.update(fetch.bodies)
        return bodies, set(fetch.unfetched), _BodyShortfall.of(fetch)

    def _wanted_categories(self, item: CorrespondenceItem, result: Linked) -> tuple[str, ...]:
        """The item's full category list when write-back must add to it, else ()."""
        extra = list(result.add_categories)
        if self._settings.write_back_category and result.links and isinstance(item, MessageItem):
            extra.append(self._settings.category_name)
        missing = [c for c in dict.fromkeys(extra) if c not in item.categories]
        return (*item.categories, *missing) if missing else ()


def _close(pages: Iterator[ChangePage]) -> None:
    """End a driver's page iterator now: it may be fetching the next page in a thread,
    and stopping between pages (or failing) must not leave that work running."""
    close = getattr(pages, "close", None)
    if close is not None:
        close()


def _tracks_body(result: LinkResult) -> bool:
    return isinstance(result, Linked) and bool(result.links) and result.store_body


def _item_key(item: CorrespondenceItem) -> str:
    return item.message_key if isinstance(item, MessageItem) else item.meeting_key


def _without_body(item: CorrespondenceItem) -> CorrespondenceItem:
    if item.body_text is None and getattr(item, "body_html", None) is None:
        return item
    if isinstance(item, MessageItem):
        return dataclasses.replace(item, body_text=None, body_html=None)
    return dataclasses.replace(item, body_text=None)


def _failure_record(failure: ItemFailure) -> ItemFailureRecord:
    return ItemFailureRecord(
        item_key=failure.provider_item_id, folder=failure.folder, error=failure.error
    )
