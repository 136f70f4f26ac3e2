"""The Graph budget: 4 requests in flight and N per 10 minutes per mailbox, syncs per tenant.

In-process (embedded mode) and shared through PostgreSQL (cluster mode): two
``PostgresBudget`` objects stand for two workers on different machines.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from mailsync.budget import BudgetLimits, InProcessBudget
from mailsync.cluster.pg_budget import PostgresBudget
from mailsync.providers.base import Throttled
from tests.conftest import MigratedDatabase
from tests.mailsync.cluster_support import cluster_db

__all__ = ["cluster_db"]

LIMITS = BudgetLimits(max_concurrent_requests=4, requests_per_window=10, max_concurrent_syncs=2)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_in_process_concurrency_window_and_sync_slots() -> None:
    clock = Clock(6000.0)  # the start of a window
    budget = InProcessBudget(LIMITS, clock=clock)
    # GIVEN 4 requests in flight to one mailbox, THEN a 5th is throttled; another mailbox is not
    with ExitStack() as stack:
        for _ in range(4):
            stack.enter_context(budget.request("a@x.com"))
        with pytest.raises(Throttled):
            stack.enter_context(budget.request("a@x.com"))
        stack.enter_context(budget.request("b@x.com"))
    # GIVEN the window's 10 requests are spent (4 above + 6), THEN the next waits for the window
    for _ in range(6):
        with budget.request("a@x.com"):
            pass
    with pytest.raises(Throttled) as throttled, budget.request("a@x.com"):
        pass
    assert 1 <= throttled.value.retry_after <= 600
    # WHEN the next window is well under way, THEN requests flow again
    clock.now += 600 + 540
    with budget.request("a@x.com"):
        pass
    # AND the tenant's sync cap holds
    with budget.sync_slot("t") as one, budget.sync_slot("t") as two, budget.sync_slot("t") as three:
        assert (one, two, three) == (True, True, False)
    with budget.sync_slot("t") as again:
        assert again


@pytest.mark.postgres
def test_shared_budget_across_two_workers(cluster_db: MigratedDatabase) -> None:
    clock = Clock(6000.0)
    first = PostgresBudget(cluster_db.engine, LIMITS, clock=clock)
    second = PostgresBudget(cluster_db.engine, LIMITS, clock=clock)
    # GIVEN 2 requests in flight from each worker, THEN a 5th from either is throttled
    with ExitStack() as stack:
        for budget in (first, second, first, second):
            stack.enter_context(budget.request("a@x.com"))
        with pytest.raises(Throttled):
            stack.enter_context(second.request("a@x.com"))
    # AND the slots came back when the requests ended
    with first.request("a@x.com"):
        pass
    # GIVEN both workers spend the same 10-request window, THEN together they stop at 10
    spent = 0
    for budget in (first, second) * 10:
        try:
            with budget.request("b@x.com"):
                spent += 1
        except Throttled:
            break
    assert 4 <= spent <= 10  # reservations come in chunks; the window is never overspent
    # AND the tenant cap of 2 syncs holds across both
    with first.sync_slot("t") as one, second.sync_slot("t") as two, first.sync_slot("t") as three:
        assert (one, two, three) == (True, True, False)
