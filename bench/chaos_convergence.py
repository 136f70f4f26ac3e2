"""Convergence under chaos at scale: the chaos test's loop over 20,000+ messages, per backend.

The same harness as tests/mailsync/test_chaos_convergence.py (and the EWS
one): a real ``mailsync sync --once`` subprocess against a sandbox injecting
429/503/410/401/dropped connections and malformed items is SIGKILLed at random
points while mail is delivered, moved and deleted and meetings change between
runs; it is then restarted until one pass ends cleanly, and the store is
compared with the sandbox's ground truth (every item once, none missing,
removed ones removed, malformed ones in the ledger, no body left pending).
Once per backend. As in the test, the first run after the kills is a fresh
subprocess and the reruns after it go in-process (a run ends at its first
throttle, a ``$batch``'s inner body requests included, so convergence takes
many short runs, as the daemon would schedule them).

Prints one line per backend; the last line is one JSON object
``{"messages", "kills", "fault_rate", "backend_results": {backend: {...}}}``.
``--quick`` runs the test's size (1,200 messages) in a minute or two.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from crm_store.database import make_engine
from crm_store.migrate import upgrade
from crm_store.models import Message, MessageCopy
from mailsync.outcome import OutcomeKind
from mailsync.sandbox.runner import running_sandbox
from tests.mailsync.chaos_support import kill_then_converge
from tests.mailsync.sync_support import SyncRig, convergence_problems, write_config

PG_URL = os.environ.get("MAILSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def store(backend: str, workdir: Path) -> Iterator[str]:
    """A migrated, empty store: a SQLite file, or a throwaway PostgreSQL schema."""
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'chaos.db'}"
        upgrade(url)
        yield url
        return
    parsed = make_url(PG_URL)
    conninfo = (
        f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} "
        f"user={parsed.username or 'postgres'} dbname={parsed.database or 'test'}"
        + (f" password={parsed.password}" if parsed.password else "")
    )
    schema = f"mailsync_chaos_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        store(backend, Path(tmp)) as url,
        running_sandbox(
            in_process=False,
            seed=7,
            mailboxes=args.mailboxes,
            messages_per_mailbox=args.messages_per_mailbox,
            fault_rate=args.fault_rate,
            max_retry_after=0.5,
            malformed_rate=0.01,
        ) as sandbox,
    ):
        config = write_config(Path(tmp), sandbox, url, page_size=args.page_size)
        log = Path(tmp) / "sync.log"
        engine = make_engine(url)
        rig = SyncRig.build(Path(tmp), sandbox, engine, url, page_size=args.page_size)

        def one_pass() -> bool:
            return all(o.kind is OutcomeKind.OK for o in rig.sync_all().values())

        try:
            codes = kill_then_converge(
                sandbox,
                config,
                log,
                rng,
                kills=args.kills,
                max_final_runs=args.max_final_runs,
                kill_after=(args.kill_after_min, args.kill_after_max),
                final_pass=one_pass,
            )
            problems = convergence_problems(engine, sandbox)
            with engine.connect() as conn:
                pending = conn.scalar(
                    select(func.count(func.distinct(Message.id)))
                    .join(MessageCopy, MessageCopy.message_id == Message.id)
                    .where(Message.body_pending.is_(True), MessageCopy.removed.is_(False))
                )
            if pending:
                problems.append(f"{pending} bodies still pending")
        finally:
            engine.dispose()
        truths = sum(1 for _ in sandbox.truth_messages())
        faults = sandbox.stats().get("faults", {})
        tail = log.read_text(errors="replace")[-1500:] if codes[-1] != 0 else ""
    return {
        "converged": codes[-1] == 0 and not problems,
        "final_runs": len(codes),
        "final_run_codes": codes[-3:],
        "problems": len(problems),
        "problem_sample": problems[:5],
        "messages_in_truth": truths,
        "faults": faults,
        "seconds": round(time.perf_counter() - started, 1),
        "log_tail": tail,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the test's size, a minute or two")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--fault-rate", type=float, default=0.04)
    args = parser.parse_args()
    args.mailboxes = 2
    if args.quick:
        args.messages_per_mailbox, args.page_size, args.kills = 600, 20, 5
        args.kill_after_min, args.kill_after_max, args.max_final_runs = 0.8, 3.0, 150
    else:
        args.messages_per_mailbox, args.page_size, args.kills = 10_500, 100, 8
        args.kill_after_min, args.kill_after_max, args.max_final_runs = 2.0, 40.0, 2000
    results: dict[str, dict[str, Any]] = {}
    for backend in args.backends.split(","):
        result = run_backend(backend, args)
        results[backend] = result
        print(
            f"{backend}: {'converged' if result['converged'] else 'NOT converged'} — "
            f"{result['messages_in_truth']} messages in ground truth, {args.kills} SIGKILLs, "
            f"{result['final_runs']} final runs (last {result['final_run_codes']}), "
            f"{result['problems']} differences, "
            f"faults {result['faults']}, {result['seconds']}s"
        )
        if result["problem_sample"] or result["log_tail"]:
            print(json.dumps(result["problem_sample"]), result["log_tail"][-600:])
    messages = max(r["messages_in_truth"] for r in results.values())
    print(
        json.dumps(
            {
                "messages": messages,
                "kills": args.kills,
                "fault_rate": args.fault_rate,
                "backend_results": {
                    b: {k: v for k, v in r.items() if k not in ("log_tail", "problem_sample")}
                    for b, r in results.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
