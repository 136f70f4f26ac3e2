"""Delta rounds interleaved with changes never lose one (property over seeded interleavings).

A client walks the folders of two mailboxes a few pages at a time while mail is
delivered, moved, deleted and re-categorised and meetings are shifted (in and
out of the calendar window) or cancelled, between any two pages. Graph promises
(and the sandbox's tokens implement) that a round's deltaLink is a watermark
taken when the round STARTED: a change the round's pages did not include is in
the next round. So, for any interleaving:

- when a round ends, every item nobody touched while it ran is exactly as it
  was when the round started (present with that version, or absent);
- one further round after the interrupted one leaves the client equal to a
  fresh full round: same items, each at its latest version, nothing extra.

A change that happened while a round was mid-way may arrive in that round or
only in the next one; replays are allowed (clients apply idempotently).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailsync.sandbox import SandboxHandle
from mailsync.sandbox.calendarplan import CALENDAR, is_event_ref
from mailsync.sandbox.mailplan import ARCHIVE, DELETEDITEMS, INBOX, MAIL_FOLDERS, SENTITEMS
from mailsync.sandbox.world import DeltaPosition, World, WorldConfig

ANCHOR = datetime(2025, 6, 2, tzinfo=UTC)
FOLDERS = (INBOX, SENTITEMS, ARCHIVE, CALENDAR)
INTERLEAVINGS = 120
Versions = dict[int, int]  # ref -> seq of the version seen (0: the untouched baseline copy)
InWindow = Callable[[int], bool]
Fresh = Callable[..., AbstractContextManager[SandboxHandle]]


def _window(world: World) -> InWindow:
    """A window a few weeks wide, so shifted meetings cross its edges."""
    low, high = world.anchor - timedelta(days=10), world.anchor + timedelta(days=20)

    def inside(ref: int) -> bool:
        occurrence = world.occurrence(ref)
        return occurrence.end > low and occurrence.start < high

    return inside


@dataclass
class FolderClient:
    """One folder's delta client: the cursor it holds and the items it has applied."""

    mailbox: int
    folder: str
    position: DeltaPosition | None = None
    mid_round: bool = False
    items: Versions = field(default_factory=dict)
    round_start: Versions | None = None
    round_start_seqs: dict[int, int] = field(default_factory=dict)

    def step(self, world: World, page_size: int, in_window: InWindow | None) -> bool:
        """Fetch and apply one page; True when it ended a round."""
        if self.position is None or not self.mid_round:
            self._begin_round(world, in_window)
        assert self.position is not None
        page = world.delta_page(self.mailbox, self.position, page_size, in_window)
        for entry in page.entries:
            if entry.removed is not None:
                self.items.pop(entry.ref, None)
            else:
                self.items[entry.ref] = entry.state.seq if entry.state else 0
        if page.next_position is not None:
            self.position, self.mid_round = page.next_position, True
            return False
        self.position, self.mid_round = page.delta_position, False
        self._check_round_kept_untouched_items(world)
        return True

    def finish_round(self, world: World, in_window: InWindow | None) -> None:
        while not self.step(world, 7, in_window):
            pass

    def _begin_round(self, world: World, in_window: InWindow | None) -> None:
        # What a fresh round would return right now is what this round must end with,
        # for every item that nobody touches until it ends.
        self.round_start = fresh_round(world, self.mailbox, self.folder, in_window)
        self.round_start_seqs = current_seqs(world, self.mailbox)
        if self.position is None:
            self.position = world.start_position(self.mailbox, self.folder)
        else:
            self.position = world.resume_round(self.mailbox, self.position)

    def _check_round_kept_untouched_items(self, world: World) -> None:
        assert self.round_start is not None
        now = current_seqs(world, self.mailbox)
        touched = {ref for ref, seq in now.items() if self.round_start_seqs.get(ref) != seq}
        for ref in set(self.round_start) | set(self.items):
            if ref in touched:
                continue
            assert self.items.get(ref) == self.round_start.get(ref), (
                f"mailbox {self.mailbox} {self.folder}: item {ref:#x} untouched during the "
                f"round ends as {self.items.get(ref)} but was {self.round_start.get(ref)} "
                "when the round started"
            )


def current_seqs(world: World, mailbox: int) -> dict[int, int]:
    return {ref: state.seq for ref, state in world.mailboxes[mailbox].overlay.items()}


def fresh_round(world: World, mailbox: int, folder: str, in_window: InWindow | None) -> Versions:
    """Items and versions a brand-new full round serves right now."""
    position: DeltaPosition | None = world.start_position(mailbox, folder)
    found: Versions = {}
    while position is not None:
        page = world.delta_page(mailbox, position, 50, in_window)
        for entry in page.entries:
            assert entry.removed is None, "a first round reports no removals"
            found[entry.ref] = entry.state.seq if entry.state else 0
        position = page.next_position
    return found


def _live_mail(world: World, rng: random.Random, mailbox: int) -> int | None:
    box = world.mailboxes[mailbox]
    candidates = [ref for folder in MAIL_FOLDERS for ref in box.baseline[folder][:40]]
    candidates += [ref for ref in box.overlay if not is_event_ref(ref)]
    rng.shuffle(candidates)
    for ref in candidates:
        if world.current_folder(mailbox, ref)[0] is not None:
            return ref
    return None


def _mutate(world: World, rng: random.Random) -> None:
    """One random change of the kinds a real mailbox sees."""
    mailbox = rng.randrange(len(world.mailboxes))
    action = rng.choice(["deliver", "deliver", "move", "soft", "hard", "categories", "meeting"])
    if action == "deliver":
        world.deliver(mailbox, count=rng.randint(1, 3))
        return
    if action == "meeting":
        uid = rng.choice(sorted(world.meetings.by_uid))
        if rng.random() < 0.2:
            world.cancel_meeting(uid)
        else:
            shift = timedelta(days=rng.choice([-15, -3, 1, 4, 15]))
            world.update_meeting(uid, subject=f"Moved {rng.randrange(100)}", shift=shift)
        return
    ref = _live_mail(world, rng, mailbox)
    if ref is None:
        return
    if action == "move":
        world.move(mailbox, ref, rng.choice([INBOX, SENTITEMS, ARCHIVE, DELETEDITEMS]))
    elif action == "categories":
        world.set_categories(mailbox, ref, [f"Tag {rng.randrange(5)}"])
    else:
        world.delete(mailbox, ref, hard=action == "hard")


def _interleaving(seed: int) -> None:
    rng = random.Random(seed)
    world = World(
        WorldConfig(
            seed=5, mailboxes=2, messages_per_mailbox=60, meetings_per_mailbox=10, anchor=ANCHOR
        )
    )
    window = _window(world)
    clients = [FolderClient(m, f) for m in range(2) for f in FOLDERS]

    def in_window(client: FolderClient) -> InWindow | None:
        return window if client.folder == CALENDAR else None

    # GIVEN clients that walk their folders a few pages at a time, in turn,
    # WHEN mail and meetings change between any two pages
    for _ in range(rng.randint(5, 40)):
        client = rng.choice(clients)
        for _ in range(rng.randint(1, 4)):
            if client.step(world, rng.choice([1, 3, 8, 25]), in_window(client)):
                break
        for _ in range(rng.choice([0, 0, 1, 2, 4])):
            _mutate(world, rng)
    # AND each client finishes the round it is in, then takes one more round
    for client in clients:
        client.finish_round(world, in_window(client))
        client.finish_round(world, in_window(client))
    # THEN each holds exactly what a fresh full round serves, every item at its latest version
    for client in clients:
        fresh = fresh_round(world, client.mailbox, client.folder, in_window(client))
        assert client.items == fresh, (
            f"seed {seed}, mailbox {client.mailbox} {client.folder}: "
            f"missing {sorted(set(fresh) - set(client.items))[:5]}, "
            f"extra {sorted(set(client.items) - set(fresh))[:5]}, "
            f"stale {[r for r in fresh if r in client.items and client.items[r] != fresh[r]][:5]}"
        )


@pytest.mark.parametrize("block", range(4))
def test_no_interleaving_of_rounds_and_changes_loses_a_change(block: int) -> None:
    for seed in range(block * INTERLEAVINGS // 4, (block + 1) * INTERLEAVINGS // 4):
        _interleaving(seed)


def test_a_round_resumed_over_http_misses_nothing_after_one_more_round(
    fresh: Fresh, graph_for: Any
) -> None:
    """The same promise through the signed tokens: two mailboxes' folders walked in
    turn over HTTP, a few pages at a time, with deliveries while rounds are mid-way."""
    rng = random.Random(1)
    with fresh(seed=7, mailboxes=2, messages_per_mailbox=200) as sandbox:
        graph = graph_for(sandbox)
        keys = [(a, f) for a in sandbox.mailboxes for f in (INBOX, SENTITEMS)]
        cursors: dict[tuple[str, str], str] = {}
        held: dict[tuple[str, str], set[str]] = {k: set() for k in keys}

        def walk(key: tuple[str, str], pages: int) -> None:
            url = cursors.get(key) or graph.delta_url(*key)
            for _ in range(pages):
                body = graph.get(url, 20).json()
                for value in body["value"]:
                    if "@removed" in value:
                        held[key].discard(value["id"])
                    else:
                        held[key].add(value["id"])
                url = body.get("@odata.nextLink") or body["@odata.deltaLink"]
                cursors[key] = url
                if "@odata.deltaLink" in body:
                    return

        def finish_round(key: tuple[str, str]) -> None:
            while "skiptoken" in cursors.get(key, "skiptoken"):
                walk(key, 1)

        # GIVEN rounds left mid-way while mail is delivered to both mailboxes
        for _ in range(6):
            for key in keys:
                walk(key, rng.randint(1, 4))
            for address in sandbox.mailboxes:
                sandbox.deliver(address, 2)
        # WHEN each folder finishes its round and takes one more
        for key in keys:
            finish_round(key)
            walk(key, 10**6)
            finish_round(key)
        # THEN each holds exactly what a fresh full round serves
        for key in keys:
            items, _, _ = graph.walk(graph.delta_url(*key), 50)
            assert held[key] == {v["id"] for v in items}, key
