"""The EWS driver through the whole product: engine, store, resync, chaos, hybrid.

Everything runs the production path (TOML config → runtime registry →
exchangelib over HTTPS/NTLM → engine → the store under test, on SQLite and
PostgreSQL) against the EWS endpoint serving the Graph sandbox's world, and
is checked against that world's ground truth.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from crm_store.database import make_session_factory, session_scope
from crm_store.models import Mailbox, Message, MessageCopy
from mailsync.config import load_settings
from mailsync.mailboxes import register_mailboxes
from mailsync.outcome import OutcomeKind
from mailsync.runtime import registry_for, sync_engine_for
from mailsync.sandbox.faults import FaultKind, ScriptedFault
from mailsync.sandbox.runner import SandboxHandle, running_sandbox
from tests.mailsync.chaos_support import SyncForkServer, kill_after_requests, mutate
from tests.mailsync.providers.ews.ews_config import ews_endpoint, write_hybrid_config
from tests.mailsync.sync_support import convergence_problems

KILLS = 2
FAULT_KINDS = ("429", "503", "410", "drop")
MAX_FAULTY_RUNS = 4
MAX_CLEAN_RUNS = 3


@pytest.fixture(scope="module")
def sync_forks() -> Iterator[SyncForkServer]:
    """Killed runs: real `mailsync sync --once` processes, forked from one that imported the CLI."""
    server = SyncForkServer()
    yield server
    server.close()


def _sync_in_process(config: Path, engine: Engine) -> dict[str, OutcomeKind]:
    settings = load_settings(config)
    sessions = make_session_factory(engine)
    with session_scope(sessions, write=True) as session:
        register_mailboxes(session, settings.mailboxes)
    registry = registry_for(settings)
    sync = sync_engine_for(settings, sessions)
    outcomes = {}
    with sessions() as session:
        rows = [(m.id, m.address, m.provider) for m in session.scalars(select(Mailbox))]
    for mailbox_id, address, provider in rows:
        outcome = sync.sync_mailbox(mailbox_id, registry.provider_for(provider, address))
        outcomes[address] = outcome.kind
    return outcomes


def test_expired_sync_state_resyncs_idempotently(
    tmp_path: Path, engine: Engine, db_url: str
) -> None:
    with (
        running_sandbox(seed=9, mailboxes=2, messages_per_mailbox=30) as sandbox,
        ews_endpoint(sandbox) as endpoint,
    ):
        config = write_hybrid_config(
            tmp_path, sandbox, endpoint, db_url, {a: "ews" for a in sandbox.mailboxes}
        )
        # GIVEN a converged store
        assert set(_sync_in_process(config, engine).values()) == {OutcomeKind.OK}
        # WHEN Exchange loses every sync state while mail changes underneath
        for address in sandbox.mailboxes:
            sandbox.deliver(address, 3)
            sandbox.expire_delta_tokens(address)
        mutate(sandbox, random.Random(3))
        outcomes = _sync_in_process(config, engine)
        # THEN each folder resyncs within the run and the store equals the ground truth
        assert set(outcomes.values()) == {OutcomeKind.OK}, outcomes
        assert convergence_problems(engine, sandbox) == []


@pytest.mark.timeout(240)
def test_killed_and_restarted_ews_sync_converges_to_ground_truth(
    tmp_path: Path, engine: Engine, db_url: str, sync_forks: SyncForkServer
) -> None:
    rng = random.Random(7_2026)
    # GIVEN a sandbox world served over EWS with ErrorServerBusy, 503, invalid sync
    # states and dropped connections at random, and some malformed items
    with (
        running_sandbox(
            seed=13,
            mailboxes=2,
            messages_per_mailbox=60,
            fault_rate=0.05,
            fault_kinds=FAULT_KINDS,
            max_retry_after=0.5,
            malformed_rate=0.02,
        ) as sandbox,
        ews_endpoint(sandbox) as endpoint,
    ):
        config = write_hybrid_config(
            tmp_path, sandbox, endpoint, db_url, {a: "ews" for a in sandbox.mailboxes}, page_size=10
        )
        log = tmp_path / "sync.log"

        def served() -> int:
            return int(endpoint.stats.snapshot()["requests"])

        def faults_met() -> set[str]:
            return set(endpoint.stats.snapshot()["faults"])

        # WHEN `mailsync sync --once` is SIGKILLed mid-sync (after a random number of
        # the ~40 requests a full pass takes), mail changing between runs
        exits = []
        for _ in range(KILLS):
            run = sync_forks.start_sync(config, log)
            exits.append(kill_after_requests(run, served, rng.randint(2, 35)))
            mutate(sandbox, rng)
        assert -signal.SIGKILL in exits, f"no run was killed mid-sync: {exits}"
        # AND runs then meet one fault of every kind (on top of the random ones); these and
        # the final runs need no kill, so they run in this process (no start-up cost)
        for kind in FAULT_KINDS:
            endpoint.faults.script(ScriptedFault(FaultKind(kind), 1))
        for _ in range(MAX_FAULTY_RUNS):
            if faults_met() >= set(FAULT_KINDS):
                break
            _sync_in_process(config, engine)
            mutate(sandbox, rng)
        # AND once the faults stop, it runs until one pass over every mailbox ends cleanly
        endpoint.faults.clear()
        outcomes: list[set[OutcomeKind]] = []
        for _ in range(MAX_CLEAN_RUNS):
            outcomes.append(set(_sync_in_process(config, engine).values()))
            if outcomes[-1] == {OutcomeKind.OK}:
                break
        # THEN every fault kind was met, and the store equals the ground truth exactly
        assert faults_met() >= set(FAULT_KINDS), faults_met()
        assert outcomes[-1] == {OutcomeKind.OK}, (outcomes, log.read_text()[-3000:])
        assert convergence_problems(engine, sandbox) == []


def _shared_message_key(sandbox: SandboxHandle, graph: str, ews: str) -> str:
    for truth in sandbox.truth_messages():
        owners = {c["mailbox"] for c in truth["copies"] if not c["removed"]}
        if {graph, ews} <= owners and not truth["malformed"] and not truth["expected"]["excluded"]:
            return str(truth["key"])
    raise AssertionError("the company has no message between the two mailboxes")


def test_hybrid_company_stores_a_message_seen_through_graph_and_ews_once(
    tmp_path: Path, engine: Engine, db_url: str
) -> None:
    with (
        running_sandbox(seed=21, mailboxes=2, messages_per_mailbox=60) as sandbox,
        ews_endpoint(sandbox) as endpoint,
    ):
        graph_box, ews_box = sandbox.mailboxes
        # GIVEN one mailbox in Exchange Online (Graph) and one on-premises (EWS)
        config = write_hybrid_config(
            tmp_path, sandbox, endpoint, db_url, {graph_box: "graph", ews_box: "ews"}
        )
        key = _shared_message_key(sandbox, graph_box, ews_box)
        # WHEN both are synced
        assert set(_sync_in_process(config, engine).values()) == {OutcomeKind.OK}
        # THEN the message both mailboxes hold is stored once, with a copy per mailbox
        with engine.connect() as conn:
            messages = conn.scalar(
                select(func.count()).select_from(Message).where(Message.message_key == key)
            )
            owners = set(
                conn.scalars(
                    select(Mailbox.address)
                    .join(MessageCopy, MessageCopy.mailbox_id == Mailbox.id)
                    .join(Message, Message.id == MessageCopy.message_id)
                    .where(Message.message_key == key)
                )
            )
        assert messages == 1
        assert owners == {graph_box, ews_box}
        # AND the whole store equals the ground truth, meetings included
        assert convergence_problems(engine, sandbox) == []
