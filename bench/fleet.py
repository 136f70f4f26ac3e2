"""How many mailboxes one 2-core machine keeps fresh at a 5-minute poll, measured on a real fleet.

Everything runs as in production, on this machine: ``mailsync worker``
processes (default one per CPU) and one ``mailsync run`` ticker, on a
PostgreSQL store with procrastinate's queue, against a sandbox process serving
the mailboxes over HTTPS. The poll interval is 300 s, so "kept fresh" means
every mailbox is synced at least once per 5 minutes (staleness ≤ 300 s + slack).

1. **Warm-up**: every mailbox's first sync, flat out (the fleet as it starts).
   Mailboxes hold one message each by default: an idle cycle costs the
   worker the same whatever a mailbox holds, and small ones start fast.
2. **Ramp**: a 5-minute run (``--quick``: 60 s) in equal steps. A mailbox
   polled every 300 s comes due once per run, so each step is made of its own
   mailboxes, their last good syncs set back so they fall due evenly through
   the step at the rate M/300 per second that M mailboxes at a 5-minute poll
   produce (M = 4,000, 8,000, … 24,000 by step; 14,000 mailboxes in all, 2,800
   with ``--quick``). Each due mailbox's sync is a real idle cycle (three
   delta calls that return no changes, its cursor, its mailbox row, the
   queue, the shared budget). A step holds when every one of
   its mailboxes was synced within ``--slack`` of falling due; the answer is
   the largest M whose step and every step before it held. The run stops at
   the first step that fell behind.
3. **CPU**: read from /proc for the worker processes, the ticker, the sandbox
   and the PostgreSQL backends serving this fleet (by application_name), over
   the ramp; ``cpu_ms_per_idle_cycle`` is the workers' own CPU divided by the
   idle cycles they ran. The sandbox and PostgreSQL share these 2 cores with
   the workers (and, on a shared box, other people's work: the load average
   is printed), so the measured M is a floor for a dedicated worker machine;
   the projection from the workers' CPU alone is printed beside it.

Needs PostgreSQL at MAILSYNC_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1/test).
Last line: {"mailboxes", "workers", "max_staleness_s", "cpu_ms_per_idle_cycle", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proc_cpu import cpu_times

from crm_store.migrate import upgrade
from mailsync.sandbox.runner import running_sandbox
from tests.mailsync.cluster_support import Fleet, cluster_config

PG_URL = os.environ.get("MAILSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
INTERVAL_S = 300
CORES = 2
UTILISATION = 0.7
FLEET_APP = "bench_fleet"
STEPS = (4000, 8000, 12000, 16000, 20000, 24000)


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(PG_URL)
    return psycopg.connect(
        f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}",
        autocommit=True,
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --------------------------------------------------------------------------- CPU from /proc


def children_named(parent: int, word: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid"))
        if ppid == parent and word in cmdline:
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds per group of processes, summed over every process seen in the group.

    Each process counts from its first sighting after ``start()`` (or from its
    own start, if it began later); PostgreSQL backends come and go with the
    pools, so the fleet's backends are looked up again on every ``sample()``.
    """

    def __init__(self, groups: dict[str, Iterable[int]], monitor: Engine) -> None:
        self._fixed = {name: list(pids) for name, pids in groups.items()}
        self._monitor = monitor
        self._first: dict[tuple[str, int, int], float] = {}
        self._last: dict[tuple[str, int, int], float] = {}

    def _backends(self) -> list[int]:
        with self._monitor.connect() as conn:
            rows = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                {"a": FLEET_APP},
            )
            return [int(p) for (p,) in rows]

    def sample(self, *, first: bool = False) -> None:
        groups = {**self._fixed, "postgres": self._backends()}
        for name, pids in groups.items():
            for pid in pids:
                seen = cpu_times(pid)
                if seen is None:
                    continue
                key = (name, pid, seen[0])
                if key not in self._first:
                    self._first[key] = seen[1] if first else 0.0
                self._last[key] = seen[1]

    def start(self) -> None:
        self.sample(first=True)

    def seconds(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, last in self._last.items():
            totals[key[0]] = totals.get(key[0], 0.0) + last - self._first[key]
        return totals


# --------------------------------------------------------------------------- ramp


@dataclass(frozen=True, slots=True)
class Step:
    rate_of: int  # M: the mailboxes at a 5-minute poll whose due rate this step carries
    ids: list[int]
    due: list[datetime]


def plan_steps(ids: list[int], run_start: datetime, step_s: float) -> list[Step]:
    steps: list[Step] = []
    taken = 0
    for m in STEPS:
        count = round(m * step_s / INTERVAL_S)
        chosen = ids[taken : taken + count]
        taken += count
        offset = len(steps) * step_s
        due = [
            run_start + timedelta(seconds=offset + step_s * j / count) for j in range(len(chosen))
        ]
        steps.append(Step(m, chosen, due))
    return steps


def mailboxes_needed(step_s: float) -> int:
    return sum(round(m * step_s / INTERVAL_S) for m in STEPS)


def seed_due_times(engine: Engine, steps: list[Step]) -> None:
    """Set each mailbox's last good sync back so it falls due at its planned time."""
    ids = [i for s in steps for i in s.ids]
    last = [d - timedelta(seconds=INTERVAL_S) for s in steps for d in s.due]
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE mailboxes AS m SET last_sync_at = v.t "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:ts AS timestamptz[])) AS v(id, t) "
                "WHERE m.id = v.id"
            ),
            {"ids": ids, "ts": last},
        )


def last_syncs(engine: Engine) -> dict[int, datetime | None]:
    with engine.connect() as conn:
        return {int(i): t for i, t in conn.execute(text("SELECT id, last_sync_at FROM mailboxes"))}


def lags(step: Step, synced: dict[int, datetime | None], now: datetime) -> list[float]:
    """Seconds past due until each due mailbox's sync ended (still waiting: until now)."""
    out = []
    for mailbox_id, due in zip(step.ids, step.due, strict=True):
        if due > now:
            continue
        done = synced.get(mailbox_id)
        ended = done if done is not None and synced_since_seeded(done, due) else now
        out.append((ended - due).total_seconds())
    return out


def synced_since_seeded(done: datetime | None, due: datetime) -> bool:
    return done is not None and done > due - timedelta(seconds=INTERVAL_S)


def all_due_synced(steps: list[Step], synced: dict[int, datetime | None], by: datetime) -> bool:
    return all(
        synced_since_seeded(synced.get(i), d)
        for s in steps
        for i, d in zip(s.ids, s.due, strict=True)
        if d <= by
    )


def queue_busy(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
            ).scalar_one()
        )


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 60 s ramp, fewer mailboxes")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--concurrency", type=int, default=8, help="syncs at once per worker")
    parser.add_argument("--slack", type=float, default=30.0, help="seconds past due allowed")
    parser.add_argument("--messages", type=int, default=1, help="per mailbox (warm-up cost)")
    parser.add_argument("--meetings", type=int, default=0, help="per mailbox (warm-up cost)")
    args = parser.parse_args()
    run_s = 60.0 if args.quick else float(INTERVAL_S)
    step_s = run_s / len(STEPS)
    total = mailboxes_needed(step_s)
    print(f"load average at start: {load_average()}; {os.cpu_count()} CPUs")
    print(
        f"{total} mailboxes ({args.messages} messages, {args.meetings} meetings each), "
        f"{args.workers} workers x "
        f"{args.concurrency}, poll {INTERVAL_S}s, ramp {run_s:.0f}s in steps of "
        f"{step_s:.0f}s at M = {', '.join(f'{m:,}' for m in STEPS)}, slack {args.slack:g}s"
    )
    schema = f"bench_fleet_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    base = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url = base.update_query_dict({"application_name": FLEET_APP})
    monitor = create_engine(base.update_query_dict({"application_name": "bench_fleet_monitor"}))
    fleet: Fleet | None = None
    try:
        upgrade(base.render_as_string(hide_password=False))
        with (
            running_sandbox(
                in_process=False,
                seed=21,
                mailboxes=total,
                messages_per_mailbox=args.messages,
                meetings_per_mailbox=args.meetings,
            ) as sandbox,
            tempfile.TemporaryDirectory() as tmp,
        ):
            config = cluster_config(
                Path(tmp),
                sandbox,
                url.render_as_string(hide_password=False),
                interval=INTERVAL_S,
                page_size=200,
                daemon=f"worker_concurrency = {args.concurrency}",
            )
            fleet = Fleet(config, Path(tmp))
            started = time.monotonic()
            fleet.ticker("ticker")
            workers = [fleet.worker(f"worker-{n}", args.concurrency) for n in range(args.workers)]
            while True:  # 1. warm-up: every mailbox's first sync
                synced = last_syncs(monitor)
                done = sum(1 for t in synced.values() if t is not None)
                if len(synced) == total and done == total and queue_busy(monitor) == 0:
                    break
                dead = {n: c for n, c in fleet.alive().items() if c is not None}
                if dead:
                    raise RuntimeError(
                        f"fleet process exited: {dead}\n{fleet.log(next(iter(dead)))}"
                    )
                time.sleep(1)
            warm = time.monotonic() - started
            print(f"warm-up: first sync of {total} mailboxes in {warm:.0f}s ({total / warm:.1f}/s)")

            # 2. ramp
            sandbox_pids = children_named(os.getpid(), "mailsync.sandbox")
            meter = CpuMeter(
                {
                    "workers": [w.pid for w in workers],
                    "ticker": [fleet.processes["ticker"].pid],
                    "sandbox": sandbox_pids,
                },
                monitor,
            )
            ids = sorted(synced)
            run_start = datetime.now(UTC) + timedelta(seconds=2)
            steps = plan_steps(ids, run_start, step_s)
            seed_due_times(monitor, steps)
            deltas_before = sandbox.stats()["per_endpoint"].get("delta", 0)
            meter.start()
            loads = [load_average()]
            behind_at: int | None = None
            end = run_start + timedelta(seconds=run_s)
            while datetime.now(UTC) < end:
                time.sleep(2)
                meter.sample()
                now = datetime.now(UTC)
                current = min(int((now - run_start).total_seconds() // step_s), len(steps) - 1)
                if max(lags(steps[current], last_syncs(monitor), now), default=0.0) > args.slack:
                    behind_at = current
                    print(f"step {current + 1} fell more than {args.slack:g}s behind: stopping")
                    break
                if int((now - run_start).total_seconds()) % 30 < 2:
                    loads.append(load_average())
            ran_until = min(datetime.now(UTC), end)
            drain_until = time.monotonic() + args.slack
            while time.monotonic() < drain_until and behind_at is None:  # the last due finish
                if all_due_synced(steps, last_syncs(monitor), ran_until):
                    break
                time.sleep(1)
                meter.sample()
            meter.sample()
            finished = datetime.now(UTC)
            loads.append(load_average())
            cpu = meter.seconds()
            deltas = sandbox.stats()["per_endpoint"].get("delta", 0) - deltas_before
            synced = last_syncs(monitor)
    finally:
        if fleet is not None:
            fleet.stop()
        monitor.dispose()
        with _admin() as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    # 3. figures
    capacity, worst, cycles, held_so_far = 0, 0.0, 0, True
    for n, step in enumerate(steps):
        if run_start + timedelta(seconds=n * step_s) >= ran_until:
            print(f"step {n + 1} M={step.rate_of:>6,}: not run")
            continue
        step_lags = lags(step, synced, finished if behind_at is None else ran_until)
        due = [d for d in step.due if d <= ran_until]
        ran = sum(
            1
            for i, d in zip(step.ids, step.due, strict=True)
            if d <= ran_until and synced_since_seeded(synced.get(i), d)
        )
        cycles += ran
        held = len(step_lags) == len(step.ids) and max(step_lags, default=0.0) <= args.slack
        held_so_far = held_so_far and held
        if held_so_far:
            capacity, worst = step.rate_of, max(worst, max(step_lags, default=0.0))
        print(
            f"step {n + 1} M={step.rate_of:>6,} ({step.rate_of / INTERVAL_S:5.1f} syncs/s): "
            f"{len(due)} due, {ran} synced, lag past due max {max(step_lags, default=0.0):5.1f}s "
            f"p50 {sorted(step_lags)[len(step_lags) // 2] if step_lags else 0.0:4.1f}s -> "
            f"{'held' if held else 'fell behind'}"
        )
    cycles = max(cycles, 1)
    per_cycle = {name: seconds * 1000 / cycles for name, seconds in cpu.items()}
    print(
        f"ramp: {cycles} idle cycles ({deltas} delta requests, {deltas / cycles:.2f} per cycle), "
        f"load average {' -> '.join(loads)}"
    )
    for name in ("workers", "ticker", "sandbox", "postgres"):
        print(
            f"  CPU {name:<8} {cpu.get(name, 0.0):7.1f}s = {per_cycle.get(name, 0.0):6.2f} ms/cycle"
        )
    worker_ms = per_cycle.get("workers", 0.0)
    projection = int(CORES * UTILISATION * INTERVAL_S * 1000 / max(worker_ms, 1e-9))
    print(
        f"kept fresh on this box (workers, ticker, sandbox and PostgreSQL on {CORES} shared "
        f"cores): {capacity:,} mailboxes{' or more (every step held)' if held_so_far else ''}; "
        f"a worker machine doing only the workers' part: {CORES} cores x {UTILISATION:.0%} x "
        f"{INTERVAL_S}s / {worker_ms:.1f} ms = {projection:,}"
    )
    print(
        json.dumps(
            {
                "mailboxes": capacity,
                "workers": args.workers,
                "max_staleness_s": round(INTERVAL_S + worst, 1),
                "cpu_ms_per_idle_cycle": round(worker_ms, 2),
                "every_step_held": held_so_far,
                "concurrency": args.concurrency,
                "idle_cycles": cycles,
                "cpu_ms_per_cycle": {k: round(v, 2) for k, v in per_cycle.items()},
                "worker_machine_projection": projection,
                "load_average": loads,
                "warm_up_s": round(warm, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
