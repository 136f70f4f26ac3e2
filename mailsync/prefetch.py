"""Compute the next item of an iterator in a helper thread while the caller uses this one.

A sync alternates waiting for the server (Graph renders and sends a page)
with its own work on the page (normalise, link, write, commit). Pulling page
N+1 while page N's transaction runs overlaps the two, which is most of the gap
between a sync and the bare cost of fetching its pages. One item ahead is
enough for that overlap and bounds memory to two pages.

Exactly once is unaffected: nothing is committed here. The caller still
commits each page together with its cursor; a page fetched ahead and never
applied (the process was killed, or the caller stopped) is fetched again
from the last committed cursor.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Generator, Iterator
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class _Handoff(Generic[T]):
    """One slot between the helper thread and the consumer: an item, an error, or the end."""

    __slots__ = ("end", "error", "item")

    def __init__(self, item: T | None, error: BaseException | None, end: bool) -> None:
        self.item = item
        self.error = error
        self.end = end


def prefetched(source: Iterator[T], *, name: str) -> Generator[T, None, None]:
    """Yield ``source``'s items in order, producing each next one in a helper thread.

    An exception ``source`` raises is re-raised here at the point it happened,
    after the items before it. Closing the returned generator (the engine does
    when it stops between pages) makes the helper exit after the item it is
    working on; that item is dropped.
    """
    slot: queue.Queue[_Handoff[T]] = queue.Queue(maxsize=1)
    closed = threading.Event()

    def produce() -> None:
        # After ``closed`` is set at most one more put happens, into the slot the
        # consumer emptied when it closed, so this thread never blocks forever.
        try:
            for item in source:
                slot.put(_Handoff(item, None, False))
                if closed.is_set():
                    return
            slot.put(_Handoff(None, None, True))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            slot.put(_Handoff(None, exc, True))

    helper = threading.Thread(target=produce, name=name, daemon=True)
    helper.start()
    try:
        while True:
            handoff = slot.get()
            if handoff.error is not None:
                raise handoff.error
            if handoff.end:
                return
            yield cast(T, handoff.item)
    finally:
        closed.set()
        # Free the slot in case the helper is waiting to hand over one more item.
        with contextlib.suppress(queue.Empty):
            slot.get_nowait()
