"""The one-ahead page prefetcher: same items, same errors, work overlapped, stops when closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from mailsync.prefetch import prefetched


class Boom(RuntimeError):
    pass


def _helpers(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_items_come_in_order_and_the_helper_ends_with_the_source() -> None:
    # GIVEN a source of items WHEN it is read through the prefetcher
    got = list(prefetched(iter(range(50)), name="prefetch-order"))
    # THEN every item comes once, in order
    assert got == list(range(50))
    for helper in _helpers("prefetch-order"):
        helper.join(timeout=5)
    assert _helpers("prefetch-order") == []


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise Boom("page 3 failed")

    # WHEN the source fails on its third item
    pages = prefetched(source(), name="prefetch-error")
    got = [next(pages), next(pages)]
    # THEN the first two arrive, then the same exception, in the caller's thread
    with pytest.raises(Boom, match="page 3 failed"):
        next(pages)
    assert got == [1, 2]


def test_the_next_item_is_produced_while_the_caller_holds_the_current_one() -> None:
    second_started = threading.Event()

    def source() -> Iterator[str]:
        yield "page 1"
        second_started.set()
        yield "page 2"

    pages = prefetched(source(), name="prefetch-overlap")
    # WHEN the caller has page 1 and has not asked for page 2
    assert next(pages) == "page 1"
    # THEN page 2 is already being produced (a plain iterator would wait for next())
    assert second_started.wait(timeout=10)
    assert next(pages) == "page 2"


def test_closing_stops_the_helper_after_at_most_the_item_in_hand() -> None:
    pulled: list[int] = []

    def source() -> Iterator[int]:
        for i in range(1000):
            pulled.append(i)
            yield i

    # GIVEN a caller that takes three items and stops (the engine on a stop request)
    pages = prefetched(source(), name="prefetch-close")
    assert [next(pages) for _ in range(3)] == [0, 1, 2]
    pages.close()
    # THEN the helper thread exits and did not run ahead through the source
    for helper in _helpers("prefetch-close"):
        helper.join(timeout=10)
    assert _helpers("prefetch-close") == []
    assert len(pulled) <= 3 + 2
