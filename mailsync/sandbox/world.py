"""The sandbox's mutable mailboxes: generated baseline, changes on top, delta paging.

Each mailbox keeps its generated folder contents as arrays of item refs (never
changed after start-up), an *overlay* with the current state of every copy
that changed since, and an append-only *changelog* of refs. A change's
sequence number is its position in the changelog, so a delta token only needs
"changes after sequence S, up to the snapshot H taken when the round began"
plus a resume position; nothing per client is stored on the server.

The round's deltaLink carries H as its watermark: a change made while the
round's pages were being fetched (after H) may or may not be in those pages,
and is always in the next round. So a client that resumes a round from a
nextLink and finishes it is caught up only to when the round began; it needs
one more round to see what changed since (mailsync's engine takes it).
tests/mailsync/sandbox/test_sandbox_delta_rounds.py checks this over many
seeded interleavings of pages and changes.

All state is guarded by one lock; rendering of items happens outside it from
values captured under it, so large pages do not serialise other mailboxes.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mailsync.sandbox.calendarplan import (
    CALENDAR,
    MeetingPlan,
    MeetingSeries,
    Occurrence,
    SeriesOverride,
    event_ref,
    is_event_ref,
    split_event_ref,
)
from mailsync.sandbox.company import Company, generate_company
from mailsync.sandbox.ids import IdCodec
from mailsync.sandbox.mailplan import (
    DELETEDITEMS,
    INBOX,
    MAIL_FOLDERS,
    SENTITEMS,
    MailPlan,
    ThreadKind,
    message_ref,
    split_ref,
)
from mailsync.sandbox.mixing import mix

ALL_FOLDERS = (*MAIL_FOLDERS, CALENDAR)
DEFAULT_SYNCED_FOLDERS = (INBOX, SENTITEMS)


class SandboxError(Exception):
    """A request the sandbox refuses; ``status`` and ``code`` become the Graph error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(slots=True)
class CopyState:
    """The current state of one changed copy; ``folder`` None means hard-deleted."""

    folder: str | None
    seq: int
    seen: frozenset[str]
    categories: tuple[str, ...] = ()
    is_read: bool = False


@dataclass(slots=True)
class MailboxState:
    index: int
    baseline: dict[str, array[int]]
    overlay: dict[int, CopyState] = field(default_factory=dict)
    changelog: array[int] = field(default_factory=lambda: array("Q"))
    epochs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeltaPosition:
    """Where a delta round stands; encoded (signed) into skip and delta tokens."""

    folder: str
    since: int
    high: int
    phase: int
    offset: int
    epoch: int
    select: tuple[str, ...] | None = None
    window: tuple[str, str] | None = None
    initial: bool = True  # the first round reports no removals


@dataclass(frozen=True, slots=True)
class DeltaEntry:
    ref: int
    state: CopyState | None  # None: untouched baseline copy
    removed: str | None  # None, "changed" or "deleted"


@dataclass(frozen=True, slots=True)
class DeltaPage:
    entries: list[DeltaEntry]
    next_position: DeltaPosition | None  # None when this is the last page
    delta_position: DeltaPosition | None  # set on the last page


@dataclass(frozen=True, slots=True)
class WorldConfig:
    seed: int = 1
    mailboxes: int = 3
    messages_per_mailbox: int = 500
    meetings_per_mailbox: int | None = None
    anchor: datetime | None = None
    malformed_rate: float = 0.0


class World:
    """Company, mailboxes and their changes; thread-safe."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        anchor = config.anchor or datetime.now(UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        self.anchor = anchor
        self.company: Company = generate_company(config.seed, mailboxes=config.mailboxes)
        self.plan = MailPlan(
            self.company, messages_per_mailbox=config.messages_per_mailbox, anchor=anchor
        )
        meetings = config.meetings_per_mailbox
        if meetings is None:
            meetings = min(40, max(8, config.messages_per_mailbox // 25))
        self.meetings = MeetingPlan(self.company, meetings_per_mailbox=meetings, anchor=anchor)
        self.ids = IdCodec(config.seed)
        self.lock = threading.RLock()
        # Called with (mailbox, ref, folder or None) for every change, under the
        # lock: the push service queues notifications from here (sandbox/push.py).
        self.listeners: list[Callable[[int, int, str | None], None]] = []
        self.users = self.company.mailbox_users
        self._by_name: dict[str, int] = {}
        for i, user in enumerate(self.users):
            self._by_name[user.email.lower()] = i
            self._by_name[user.object_id.lower()] = i
        baseline = self.plan.refs_by_mailbox_folder()
        self.mailboxes: list[MailboxState] = []
        for i, folders in enumerate(baseline):
            folders[CALENDAR] = array("Q", self.meetings.baseline_refs(i))
            self.mailboxes.append(MailboxState(i, folders))
        self._malformed_threshold = int(config.malformed_rate * (1 << 32))
        self._deliveries = 0

    # ---- lookups -------------------------------------------------------------------

    def mailbox_index(self, name: str) -> int:
        index = self._by_name.get(name.lower())
        if index is None:
            raise SandboxError(404, "ErrorInvalidUser", f"The requested user '{name}' is invalid.")
        return index

    def mailbox_address(self, index: int) -> str:
        return self.users[index].email

    def is_malformed(self, ref: int) -> bool:
        """Malformed items are fixed per item, so ground truth can name them."""
        if not self._malformed_threshold or is_event_ref(ref):
            return False
        return (mix(self.config.seed, 99, ref) & 0xFFFFFFFF) < self._malformed_threshold

    def baseline_folder(self, mailbox: int, ref: int) -> str | None:
        if is_event_ref(ref):
            origin, number, index = split_event_ref(ref)
            if origin >= len(self.meetings.series) or number >= len(self.meetings.series[origin]):
                return None
            series = self.meetings.series[origin][number]
            if index >= series.occurrences or mailbox not in series.mailboxes:
                return None
            if series.cancelled and series.organizer_mailbox == mailbox:
                return None
            return CALENDAR
        origin, index = split_ref(ref)
        if origin >= self.plan.n_mailboxes or index >= self.plan.stream_size[origin]:
            return None
        for owner, folder in self.plan.copies(ref):
            if owner == mailbox:
                return None if index >= self.plan.baseline_size else folder
        return None

    def current_folder(self, mailbox: int, ref: int) -> tuple[str | None, CopyState | None]:
        """Where the copy is now; raises 404 if the mailbox never had it."""
        with self.lock:
            state = self.mailboxes[mailbox].overlay.get(ref)
        if state is not None:
            return state.folder, state
        folder = self.baseline_folder(mailbox, ref)
        return folder, None

    def existing_copy(self, mailbox: int, ref: int) -> tuple[str, CopyState | None]:
        folder, state = self.current_folder(mailbox, ref)
        if folder is None:
            raise SandboxError(404, "ErrorItemNotFound", "The specified object was not found.")
        return folder, state

    # ---- changes -----------------------------------------------------------------------

    def _record(self, mailbox: int, ref: int, folder: str | None, **updates: Any) -> CopyState:
        box = self.mailboxes[mailbox]
        previous = box.overlay.get(ref)
        if previous is None:
            before = self.baseline_folder(mailbox, ref)
            seen = frozenset((before,)) if before else frozenset()
            categories: tuple[str, ...] = ()
            is_read = False
        else:
            seen, categories, is_read = previous.seen, previous.categories, previous.is_read
        box.changelog.append(ref)
        for listener in self.listeners:
            listener(mailbox, ref, folder)
        state = CopyState(
            folder=folder,
            seq=len(box.changelog),
            seen=seen | {folder} if folder else seen,
            categories=updates.get("categories", categories),
            is_read=updates.get("is_read", is_read),
        )
        box.overlay[ref] = state
        return state

    def deliver(
        self,
        mailbox: int,
        *,
        count: int = 1,
        kind: ThreadKind | None = None,
        reply_to_thread: int | None = None,
    ) -> list[int]:
        """New mail in ``mailbox``'s stream (a new thread, or replies to an old one)."""
        with self.lock:
            self._deliveries += 1
            when = max(self.anchor, datetime.now(UTC).replace(microsecond=0))
            t = self.plan.add_thread(
                mailbox,
                count,
                kind=kind,
                continue_thread=reply_to_thread,
                start_time=when,
                draw=self._deliveries,
            )
            start = self.plan.thread_start[mailbox][t]
            refs = [message_ref(mailbox, i) for i in range(start, start + count)]
            for ref in refs:
                for owner, folder in self.plan.copies(ref):
                    self._record(owner, ref, folder)
            return refs

    def move(self, mailbox: int, ref: int, folder: str) -> None:
        if folder not in MAIL_FOLDERS:
            raise SandboxError(400, "ErrorInvalidIdMalformed", f"unknown folder {folder!r}")
        with self.lock:
            self.existing_copy(mailbox, ref)
            self._record(mailbox, ref, folder)

    def delete(self, mailbox: int, ref: int, *, hard: bool = False) -> None:
        """Soft delete moves to Deleted Items (as Outlook does); hard delete removes."""
        with self.lock:
            folder, _ = self.existing_copy(mailbox, ref)
            if is_event_ref(ref) or hard or folder == DELETEDITEMS:
                self._record(mailbox, ref, None)
            else:
                self._record(mailbox, ref, DELETEDITEMS)

    def set_categories(self, mailbox: int, ref: int, categories: list[str]) -> None:
        with self.lock:
            folder, _ = self.existing_copy(mailbox, ref)
            self._record(mailbox, ref, folder, categories=tuple(categories))

    def update_meeting(
        self, uid: str, *, subject: str | None = None, shift: timedelta = timedelta(0)
    ) -> None:
        with self.lock:
            series = self._series_by_uid(uid)
            override = self.meetings.overrides.setdefault(
                (series.origin, series.number), SeriesOverride()
            )
            override.subject = subject or override.subject
            override.shift += shift
            self._touch_series(series, cancel=False)

    def cancel_meeting(self, uid: str) -> None:
        """The organizer's copies disappear; attendees' copies show as cancelled."""
        with self.lock:
            series = self._series_by_uid(uid)
            override = self.meetings.overrides.setdefault(
                (series.origin, series.number), SeriesOverride()
            )
            override.cancelled = True
            self._touch_series(series, cancel=True)

    def _series_by_uid(self, uid: str) -> MeetingSeries:
        key = self.meetings.by_uid.get(uid)
        if key is None:
            raise SandboxError(404, "ErrorItemNotFound", f"no meeting with uid {uid!r}")
        return self.meetings.series[key[0]][key[1]]

    def _touch_series(self, series: MeetingSeries, *, cancel: bool) -> None:
        for mailbox in series.mailboxes:
            for i in range(series.occurrences):
                ref = event_ref(series.origin, series.number, i)
                folder, _ = self.current_folder(mailbox, ref)
                if folder is None:
                    continue
                gone = cancel and mailbox == series.organizer_mailbox
                self._record(mailbox, ref, None if gone else folder)

    def expire_delta_tokens(self, mailbox: int, folder: str | None = None) -> None:
        """Tokens issued before this answer 410 Gone, as after a sync-state eviction."""
        with self.lock:
            box = self.mailboxes[mailbox]
            for f in (folder,) if folder else ALL_FOLDERS:
                box.epochs[f] = box.epochs.get(f, 0) + 1

    # ---- delta ---------------------------------------------------------------------------

    def start_position(
        self,
        mailbox: int,
        folder: str,
        *,
        select: tuple[str, ...] | None = None,
        window: tuple[str, str] | None = None,
    ) -> DeltaPosition:
        with self.lock:
            box = self.mailboxes[mailbox]
            return DeltaPosition(
                folder, 0, len(box.changelog), 0, 0, box.epochs.get(folder, 0), select, window
            )

    def resume_round(self, mailbox: int, position: DeltaPosition) -> DeltaPosition:
        """A deltaLink starts a new round: changes after its mark, up to now."""
        with self.lock:
            high = len(self.mailboxes[mailbox].changelog)
        return DeltaPosition(
            position.folder,
            position.since,
            high,
            1,
            position.since,
            position.epoch,
            position.select,
            position.window,
            initial=False,
        )

    def check_epoch(self, mailbox: int, position: DeltaPosition) -> bool:
        with self.lock:
            return self.mailboxes[mailbox].epochs.get(position.folder, 0) == position.epoch

    def delta_page(
        self,
        mailbox: int,
        position: DeltaPosition,
        page_size: int,
        in_window: Any = None,
    ) -> DeltaPage:
        entries: list[DeltaEntry] = []
        resume: tuple[int, int] | None = None
        with self.lock:
            for phase, offset, entry in self._scan(mailbox, position, in_window):
                if len(entries) == page_size:
                    resume = (phase, offset)
                    break
                entries.append(entry)
        if resume is not None:
            nxt = DeltaPosition(
                position.folder,
                position.since,
                position.high,
                resume[0],
                resume[1],
                position.epoch,
                position.select,
                position.window,
                position.initial,
            )
            return DeltaPage(entries, nxt, None)
        mark = DeltaPosition(
            position.folder,
            position.high,
            position.high,
            1,
            position.high,
            position.epoch,
            position.select,
            position.window,
        )
        return DeltaPage(entries, None, mark)

    def _scan(
        self, mailbox: int, position: DeltaPosition, in_window: Any
    ) -> Iterator[tuple[int, int, DeltaEntry]]:
        box = self.mailboxes[mailbox]
        folder = position.folder
        overlay = box.overlay
        if position.phase == 0:
            refs = box.baseline[folder]
            for offset in range(position.offset, len(refs)):
                ref = refs[offset]
                if ref in overlay or (in_window is not None and not in_window(ref)):
                    continue
                yield 0, offset, DeltaEntry(ref, None, None)
            start = position.since
        else:
            start = position.offset
        log = box.changelog
        for offset in range(start, position.high):
            ref = log[offset]
            state = overlay[ref]
            if state.seq != offset + 1:
                continue  # a later change of the same copy supersedes this entry
            here = state.folder == folder and (in_window is None or in_window(ref))
            if here:
                yield 1, offset, DeltaEntry(ref, state, None)
            elif not position.initial and folder in state.seen:
                yield (
                    1,
                    offset,
                    DeltaEntry(ref, state, "deleted" if not state.folder else "changed"),
                )

    # ---- rendering helpers ------------------------------------------------------------------

    def occurrence(self, ref: int) -> Occurrence:
        return self.meetings.occurrence(ref)

    # ---- ground truth ------------------------------------------------------------------------

    def truth_messages(
        self, synced_folders: tuple[str, ...] = DEFAULT_SYNCED_FOLDERS
    ) -> Iterator[dict[str, Any]]:
        """Expected stored state of every message: key, copies, links.

        A copy outside ``synced_folders`` (or deleted) is ``removed``: the store
        either never saw it or must have it marked removed.
        """
        for ref in self.plan.iter_refs():
            yield self.message_truth(ref, synced_folders)

    def message_truth(self, ref: int, synced_folders: tuple[str, ...]) -> dict[str, Any]:
        rendered = self.plan.render(ref)
        copies = []
        for mailbox, _ in self.plan.copies(ref):
            folder, state = self.current_folder(mailbox, ref)
            copies.append(
                {
                    "mailbox": self.mailbox_address(mailbox),
                    "id": self.ids.encode(mailbox, ref),
                    "folder": folder,
                    "removed": folder not in synced_folders,
                    "categories": list(state.categories) if state else [],
                }
            )
        return {
            "kind": "message",
            "key": rendered.internet_message_id,
            "subject": rendered.subject,
            "conversation_id": rendered.conversation_id,
            "sent_at": rendered.sent_at.isoformat(),
            "malformed": self.is_malformed(ref),
            "copies": copies,
            "expected": self.plan.expected_links(ref).as_dict(),
        }

    def truth_meetings(self) -> Iterator[dict[str, Any]]:
        for per_origin in self.meetings.series:
            for series in per_origin:
                links = self.meetings.expected_links(series).as_dict()
                for i in range(series.occurrences):
                    ref = event_ref(series.origin, series.number, i)
                    occurrence = self.meetings.occurrence(ref)
                    copies = []
                    for mailbox in series.mailboxes:
                        folder, _ = self.current_folder(mailbox, ref)
                        copies.append(
                            {
                                "mailbox": self.mailbox_address(mailbox),
                                "id": self.ids.encode(mailbox, ref),
                                "folder": CALENDAR,
                                "removed": folder is None,
                            }
                        )
                    yield {
                        "kind": "meeting",
                        "key": occurrence.meeting_key,
                        "uid": series.uid,
                        "type": occurrence.type,
                        "subject": occurrence.subject,
                        "start": occurrence.start.isoformat(),
                        "end": occurrence.end.isoformat(),
                        "is_cancelled": occurrence.cancelled,
                        "copies": copies,
                        "expected": links,
                    }

    def find_thread(self, mailbox: int, kind: ThreadKind) -> int:
        """The first thread of a kind in a mailbox (tests use it to reply to a thread)."""
        flags = self.plan.thread_flags[mailbox]
        for t in range(len(flags)):
            if flags[t] & 0x0F == kind:
                return t
        raise SandboxError(404, "ErrorItemNotFound", f"no {kind.name} thread in mailbox")
