"""A fleet on PostgreSQL: 2 tickers, 3 worker processes, 200 mailboxes, one SIGKILL.

Issue 8's "done means" (bench/fleet.py measures capacity). The mailboxes are
small (3 messages, 2 meetings, pages of 2): the test is about scheduling, not
volume. Its ~45 s are the 5-second poll rounds it waits through (first syncs,
a second round, a watched interval, two rounds after the last change); the
fleet's CPU goes to the workers' idle syncs, ~15 ms each. It checks that:

- the sandbox never sees two delta requests for one mailbox in flight at
  once (one sync reads its pages one after another), so no mailbox ever had
  two syncs running — whichever ticker queued them;
- a worker SIGKILLed mid-job loses nothing: every job it had started and not
  ended is queued again once its heartbeat is overdue and then completes, and
  the store converges exactly to the ground truth;
- once every mailbox has been synced a second time (the first round of full
  syncs is not a steady state), no mailbox's last good sync is older than its
  poll interval plus a small slack.
"""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from mailsync.sandbox.runner import running_sandbox
from tests.conftest import MigratedDatabase
from tests.mailsync.cluster_support import (
    Fleet,
    cluster_config,
    cluster_db,
    last_syncs,
    staleness_seconds,
    wait_for,
)
from tests.mailsync.sync_support import convergence_problems

__all__ = ["cluster_db"]  # the fixture, imported for pytest

MAILBOXES = 200
MESSAGES = 3  # and MEETINGS per mailbox: a first sync of a few pages (PAGE_SIZE), fast
MEETINGS = 2
PAGE_SIZE = 2
INTERVAL = 5
SLACK = 8  # tick + heartbeat timeout + recovery tick + one sync, with room for a busy CI box
WATCH_SECONDS = INTERVAL + 1  # every mailbox comes due at least once while watched


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_tickers_three_workers_one_killed(tmp_path: Path, cluster_db: MigratedDatabase) -> None:
    rng = random.Random(8)
    engine = cluster_db.engine
    # GIVEN a sandbox company of 200 small mailboxes and a cluster-mode config
    with running_sandbox(
        in_process=False,
        seed=11,
        mailboxes=MAILBOXES,
        messages_per_mailbox=MESSAGES,
        meetings_per_mailbox=MEETINGS,
    ) as sandbox:
        config = cluster_config(
            tmp_path,
            sandbox,
            cluster_db.url,
            interval=INTERVAL,
            page_size=PAGE_SIZE,
            daemon="tick_seconds = 1\nheartbeat_seconds = 1\nstalled_worker_seconds = 3\n"
            "retry_exponential_seconds = 2\ntenant_max_concurrent_syncs = 12",
        )
        fleet = Fleet(config, tmp_path)
        try:
            # WHEN two tickers and three workers start on it
            fleet.ticker("ticker-a")
            fleet.ticker("ticker-b")
            for name in ("worker-0", "worker-1", "worker-2"):
                fleet.worker(name, concurrency=4)
            # AND worker-0 is SIGKILLed while the first syncs are running
            wait_for(
                lambda: fleet.log("worker-0").count("Starting job") >= 2,
                60,
                "worker-0 is running syncs",
                fleet,
            )
            fleet.kill("worker-0")
            killed_jobs = unfinished_jobs(fleet.log("worker-0"))
            assert killed_jobs, "worker-0 was killed mid-job"
            wait_for(
                lambda: (
                    bool(last_syncs(engine))
                    and all(s is not None for s in last_syncs(engine).values())
                ),
                90,
                "every mailbox has synced once",
                fleet,
            )
            first_round_done = datetime.now(UTC)

            def mail_arrives() -> None:
                for address in rng.sample(sandbox.mailboxes, 3):
                    sandbox.deliver(address, rng.randint(1, 3))

            # AND mail keeps arriving while the remaining fleet runs: first until every
            # mailbox has synced again (the first round's own length is not staleness)
            until = time.monotonic() + INTERVAL + SLACK
            while not all(
                s is not None and s > first_round_done for s in last_syncs(engine).values()
            ):
                assert time.monotonic() < until, "the fleet did not start a second round"
                mail_arrives()
                time.sleep(0.5)
            # AND then for a little over an interval, watching every mailbox's freshness
            worst = 0.0
            until = time.monotonic() + WATCH_SECONDS
            while time.monotonic() < until:
                mail_arrives()
                worst = max(worst, staleness_seconds(engine))
                time.sleep(0.5)
            last_change = datetime.now(UTC)

            def all_synced_after(moment: datetime) -> bool:
                return all(s is not None and s > moment for s in last_syncs(engine).values())

            # THEN the store catches up with the last change and equals the ground truth.
            # A sync is stamped when it ends, so one ending after the last change may have
            # begun reading before it; the sync after that one began after it (a mailbox
            # never has two at once), so wait for two.
            wait_for(
                lambda: all_synced_after(last_change),
                INTERVAL + SLACK + 10,
                "every mailbox has synced after the last change",
                fleet,
            )
            first_after = datetime.now(UTC)
            wait_for(
                lambda: all_synced_after(first_after),
                INTERVAL + SLACK + 10,
                "every mailbox has begun and ended a sync after the last change",
                fleet,
            )
            # AND no process but the killed worker died (they stop now, while the checks run)
            died = [n for n, code in fleet.alive().items() if code is not None and n != "worker-0"]
            assert not died, {name: fleet.log(name)[-2000:] for name in died}
            fleet.terminate()
            problems = convergence_problems(engine, sandbox)
            assert problems == [], problems[:10]
            # AND the killed worker's job was found by its silent heartbeat and run again
            tickers = fleet.log("ticker-a") + fleet.log("ticker-b")
            recovered = {
                int(n) for n in re.findall(r"job (\d+) of a silent worker queued", tickers)
            }
            assert killed_jobs <= recovered, (killed_jobs, tickers[-2000:])
            # AND each of them then completed (successful jobs are deleted from the queue)
            left = jobs_left(engine, killed_jobs)
            assert left == {}, (left, fleet.lines_naming(*(f"[{n}]" for n in left)))
            # AND no mailbox ever had two syncs in flight at once: a sync reads its delta
            # pages one at a time (fetching one ahead beside its $batch of bodies), so two
            # delta requests of one mailbox in flight together would be two syncs
            in_flight = sandbox.stats()["max_delta_in_flight"]
            assert set(in_flight) >= set(sandbox.mailboxes)
            assert max(in_flight[m] for m in sandbox.mailboxes) == 1, in_flight
            # AND staleness stayed under the poll interval plus the slack
            assert worst < INTERVAL + SLACK, worst
        finally:
            fleet.stop()


def unfinished_jobs(worker_log: str) -> set[int]:
    """The jobs a worker's log shows started and not ended (procrastinate names each by id)."""
    started = {
        int(n) for n in re.findall(r"Starting job mailsync:sync_mailbox\[(\d+)\]", worker_log)
    }
    ended = {
        int(n) for n in re.findall(r"Job mailsync:sync_mailbox\[(\d+)\].* ended with", worker_log)
    }
    return started - ended


def jobs_left(engine: Engine, ids: set[int]) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status::text FROM procrastinate_jobs WHERE id = ANY(:ids)"),
            {"ids": sorted(ids)},
        )
        return {int(i): str(status) for i, status in rows}
