"""Convergence under chaos: `mailsync sync --once` SIGKILLed at random points, faults on.

Invariant 1 of DESIGN.md, end to end: a real subprocess (real msal, httpx,
TLS, the store under test) is killed with SIGKILL several times while the
sandbox injects 429/503/410/401/dropped connections and malformed items and
the mailboxes change between runs. It is then restarted until a pass ends
cleanly, and the store must equal the sandbox's ground truth exactly.

Faults hit every request, a ``$batch``'s inner body requests included, and
a run ends at its first throttle (after committing the page in hand, with
the bodies it could not get pending). So convergence takes many short runs:
after the first restart they go in-process, as the daemon would reschedule
them, and a clean pass must also have settled every pending body.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from crm_store.models import Message, MessageCopy
from mailsync.outcome import OutcomeKind
from mailsync.sandbox.runner import running_sandbox
from tests.mailsync.chaos_support import kill_then_converge
from tests.mailsync.sync_support import SyncRig, convergence_problems, write_config

KILLS = 5
# Another seed is another set of kill points and mutations; run many locally:
#   for s in $(seq 1 10); do MAILSYNC_CHAOS_SEED=$s .venv/bin/pytest \
#     tests/mailsync/test_chaos_convergence.py; done
CHAOS_SEED = int(os.environ.get("MAILSYNC_CHAOS_SEED", "20261123"))
MAX_FINAL_RUNS = 150


@pytest.mark.timeout(420)
def test_killed_and_restarted_sync_converges_to_ground_truth(
    tmp_path: Path, engine: Engine, db_url: str
) -> None:
    rng = random.Random(CHAOS_SEED)
    # GIVEN a sandbox company with faults of every kind and some malformed items
    with running_sandbox(
        seed=7,
        mailboxes=2,
        messages_per_mailbox=600,
        fault_rate=0.04,
        max_retry_after=0.5,
        malformed_rate=0.01,
    ) as sandbox:
        config = write_config(tmp_path, sandbox, db_url, page_size=20)
        log = tmp_path / "sync.log"
        rig = SyncRig.build(tmp_path, sandbox, engine, db_url, page_size=20)

        def one_pass() -> bool:
            outcomes = rig.sync_all()
            return all(o.kind is OutcomeKind.OK for o in outcomes.values())

        # WHEN a sync subprocess is SIGKILLed at random points, with mail changing between
        # AND it is then restarted until one pass over every mailbox ends cleanly
        codes = kill_then_converge(
            sandbox,
            config,
            log,
            rng,
            kills=KILLS,
            max_final_runs=MAX_FINAL_RUNS,
            final_pass=one_pass,
        )
        # THEN the store equals the ground truth: every item once, none missing,
        # removed ones marked removed, malformed ones in the ledger
        assert codes[-1] == 0, (len(codes), codes[-5:], log.read_text()[-3000:])
        problems = convergence_problems(engine, sandbox)
        assert problems == [], problems[:10]
        # AND no body a live copy could bring is left pending
        with engine.connect() as conn:
            pending = conn.scalar(
                select(func.count(func.distinct(Message.id)))
                .join(MessageCopy, MessageCopy.message_id == Message.id)
                .where(Message.body_pending.is_(True), MessageCopy.removed.is_(False))
            )
        assert pending == 0
        stats = sandbox.stats()
        assert stats["faults"], "the run must actually have seen faults"
