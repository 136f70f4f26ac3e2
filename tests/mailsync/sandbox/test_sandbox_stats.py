"""The sandbox's concurrency counters, which the cluster tests read as "syncs in flight".

One sync has at most one delta request in flight (it may fetch one page ahead
while its $batch of bodies runs), so the delta count must not be raised by a
sync's other requests, and must be raised by a second delta of the mailbox.
"""

from __future__ import annotations

from mailsync.sandbox.stats import RequestStats


def test_a_batch_beside_a_delta_is_two_requests_but_one_delta_in_flight() -> None:
    stats = RequestStats()
    # GIVEN a delta page and a body request of one mailbox in flight together
    stats.enter("a@x.com", delta=True)
    assert stats.enter("a@x.com") == 2
    stats.leave("a@x.com")
    stats.leave("a@x.com", delta=True)
    # THEN two requests were in flight, but one delta request
    snapshot = stats.snapshot()
    assert snapshot["max_in_flight"] == {"a@x.com": 2}
    assert snapshot["max_delta_in_flight"] == {"a@x.com": 1}
    assert snapshot["in_flight"] == {}


def test_two_deltas_of_one_mailbox_in_flight_are_counted_and_survive_a_reset_while_open() -> None:
    stats = RequestStats()
    # GIVEN two delta requests of one mailbox overlapping, and one of another mailbox
    stats.enter("a@x.com", delta=True)
    stats.enter("a@x.com", delta=True)
    stats.enter("b@x.com", delta=True)
    stats.leave("a@x.com", delta=True)
    # WHEN the counters are reset while one request of each is still running
    stats.reset()
    # THEN the reset keeps what is still in flight as the new maximum
    assert stats.snapshot()["max_delta_in_flight"] == {"a@x.com": 1, "b@x.com": 1}
    stats.leave("a@x.com", delta=True)
    stats.leave("b@x.com", delta=True)
    # AND before the reset both deltas of a@x.com were seen together
    again = RequestStats()
    again.enter("a@x.com", delta=True)
    again.enter("a@x.com", delta=True)
    assert again.snapshot()["max_delta_in_flight"] == {"a@x.com": 2}
