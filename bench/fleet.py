"""How many mailboxes one worker machine keeps fresh, and the CPU of an idle sync cycle.

Runs the production path of a cluster worker — msal, httpx Graph driver with
the PostgreSQL budget (advisory-lock slots, window counter), engine, the
PostgreSQL store — in this process against a sandbox in its own process:

1. every mailbox gets its first full sync;
2. **idle cycles**: rounds over all mailboxes with nothing new, on one thread,
   timed in this process's CPU time: ``cpu_ms_per_idle_cycle`` is the worker's
   own cost of keeping one mailbox fresh once (PostgreSQL's and the sandbox's
   CPU are not in it);
3. **ramp**: rounds over 25%, 50%, 100% of the mailboxes with ``--workers``
   threads (a worker's concurrency), timing the wall clock of a full round —
   the lag a mailbox sees beyond its interval when the machine is busy.

The capacity of a 2-core machine at a 5-minute interval follows from (2):
``2 cores x 70% x 300 s / cpu per cycle``, capped by (3): a full round at
that size must fit in the interval on the wall clock. Needs PostgreSQL at
MAILSYNC_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1/test).

Last line: {"mailboxes", "workers", "max_staleness_s", "cpu_ms_per_idle_cycle"}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crm_store.database import make_engine, make_session_factory, session_scope
from crm_store.migrate import upgrade
from mailsync.cluster.pg_budget import PostgresBudget
from mailsync.config import load_settings
from mailsync.mailboxes import register_mailboxes
from mailsync.runtime import budget_limits, registry_for, sync_engine_for
from mailsync.sandbox.runner import running_sandbox
from tests.mailsync.sync_support import write_config

PG_URL = os.environ.get("MAILSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
INTERVAL_S = 300
CORES = 2
UTILISATION = 0.7


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(PG_URL)
    return psycopg.connect(
        f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}",
        autocommit=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 mailboxes, 2 idle rounds")
    parser.add_argument("--mailboxes", type=int, default=None)
    parser.add_argument("--workers", type=int, default=8, help="threads, as worker concurrency")
    args = parser.parse_args()
    mailboxes = args.mailboxes or (40 if args.quick else 200)
    rounds = 2 if args.quick else 5
    schema = f"bench_fleet_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = (
        make_url(PG_URL)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        upgrade(url)
        with (
            running_sandbox(
                in_process=False, seed=21, mailboxes=mailboxes, messages_per_mailbox=20
            ) as sandbox,
            tempfile.TemporaryDirectory() as tmp,
        ):
            settings = load_settings(write_config(Path(tmp), sandbox, url, page_size=200))
            engine = make_engine(url, pool_size=3 * args.workers + 2)
            sessions = make_session_factory(engine)
            with session_scope(sessions, write=True) as session:
                ids = [m.id for m in register_mailboxes(session, settings.mailboxes)]
            budget = PostgresBudget(engine, budget_limits(settings))
            registry = registry_for(settings, budget)
            sync = sync_engine_for(settings, sessions)
            addresses = dict(zip(ids, sandbox.mailboxes, strict=True))

            def one(mailbox_id: int) -> None:
                outcome = sync.sync_mailbox(
                    mailbox_id, registry.provider_for("graph", addresses[mailbox_id])
                )
                if not outcome.ok:
                    raise RuntimeError(f"{addresses[mailbox_id]}: {outcome}")

            started = time.perf_counter()
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(one, ids))
            print(f"first full sync of {mailboxes} mailboxes: {time.perf_counter() - started:.1f}s")

            cpu = time.process_time()
            for _ in range(rounds):
                for mailbox_id in ids:
                    one(mailbox_id)
            cpu_ms = (time.process_time() - cpu) * 1000 / (rounds * len(ids))
            print(f"idle cycle: {cpu_ms:.1f} ms CPU per mailbox (one thread, {rounds} rounds)")

            worst = 0.0
            for share in (0.25, 0.5, 1.0):
                chosen = ids[: max(1, int(len(ids) * share))]
                started = time.perf_counter()
                with ThreadPoolExecutor(args.workers) as pool:
                    list(pool.map(one, chosen))
                wall = time.perf_counter() - started
                worst = max(worst, wall)
                print(f"ramp {len(chosen):>5} mailboxes, {args.workers} threads: round {wall:.2f}s")

            by_cpu = int(CORES * UTILISATION * INTERVAL_S * 1000 / cpu_ms)
            by_wall = int(INTERVAL_S * len(ids) / worst)
            capacity = min(by_cpu, by_wall)
            round_at_capacity = worst * capacity / len(ids)
            print(
                f"capacity at a {INTERVAL_S}s interval: {by_cpu} by CPU ({CORES} cores, "
                f"{UTILISATION:.0%} busy), {by_wall} by wall clock ({args.workers} threads) "
                f"-> {capacity}; a full round then takes {round_at_capacity:.0f}s"
            )
            engine.dispose()
    finally:
        with _admin() as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print(
        json.dumps(
            {
                "mailboxes": capacity,
                "workers": args.workers,
                "max_staleness_s": round(INTERVAL_S + round_at_capacity, 1),
                "cpu_ms_per_idle_cycle": round(cpu_ms, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
