"""The Graph driver and the engine against the real sandbox, over HTTPS, with real msal.

Each test runs on SQLite and PostgreSQL (the ``engine``/``db_url`` fixtures).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from crm_store.models import Message, ProcessedItem
from mailsync.daemon import SyncDaemon
from mailsync.outcome import OutcomeKind
from mailsync.sandbox.runner import SandboxHandle, running_sandbox
from tests.mailsync.sync_support import SyncRig, convergence_problems, stored_copies

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=11, mailboxes=2, messages_per_mailbox=120) as handle:
        yield handle


@pytest.fixture
def rig(tmp_path: Path, sandbox: SandboxHandle, engine: Engine, db_url: str) -> SyncRig:
    return SyncRig.build(tmp_path, sandbox, engine, db_url)


def test_full_sync_stores_exactly_the_ground_truth(rig: SyncRig, engine: Engine) -> None:
    # GIVEN a seeded company's mailboxes in the sandbox
    # WHEN every mailbox is synced once
    outcomes = rig.sync_all()
    # THEN each run is ok and the store equals the sandbox's ground truth
    assert {o.kind for o in outcomes.values()} == {OutcomeKind.OK}
    assert convergence_problems(engine, rig.sandbox) == []
    # AND a message between two of our mailboxes is stored once with a copy in each
    with engine.connect() as conn:
        keys = conn.scalar(select(func.count()).select_from(Message))
    copies = [k for k in stored_copies(engine) if k[0] == "message"]
    assert keys is not None and keys < len(copies)


def test_idle_second_cycle_makes_one_request_per_folder(rig: SyncRig) -> None:
    # GIVEN a mailbox that is fully synced
    address = rig.sandbox.mailboxes[0]
    assert rig.sync(address).ok
    # WHEN nothing changed and it is synced again
    outcome = rig.sync(address)
    # THEN the run made exactly one Graph request per folder (inbox, sentitems, calendar)
    assert outcome.ok
    assert rig.transport(address).requests == {"delta": 3}


def test_every_request_carries_page_size_and_immutable_ids(
    tmp_path: Path, engine: Engine, db_url: str
) -> None:
    # GIVEN a sandbox that refuses any request without Prefer: IdType="ImmutableId"
    with running_sandbox(
        seed=11, mailboxes=1, messages_per_mailbox=120, require_immutable_id=True
    ) as sandbox:
        rig = SyncRig.build(tmp_path, sandbox, engine, db_url)
        address = sandbox.mailboxes[0]
        # WHEN the mailbox is synced (first pages, nextLinks, then an idle deltaLink round)
        assert rig.sync(address).ok
        assert rig.sync(address).ok
        # THEN no request was refused
        log = sandbox.requests_log()
        assert log and {entry["status"] for entry in log} == {200}
        # AND the inbox came in pages of the configured size (25), not Graph's default of 10
        inbox_items = sum(
            1
            for truth in sandbox.truth_messages(("inbox",))
            for copy in truth["copies"]
            if copy["mailbox"] == address and not copy["removed"]
        )
        # (delta requests only: bodies of tracked items come in $batch sub-requests)
        first_round = [e for e in log if e["folder"] == "inbox" and "/delta" in e["path"]][:-1]
        assert len(first_round) in (-(-inbox_items // 25), -(-inbox_items // 25) + 1)


def test_throttled_mailbox_backs_off_until_retry_after_without_sleeping(rig: SyncRig) -> None:
    # GIVEN Graph answers the next delta request of one mailbox with 429 Retry-After 30.5
    address = rig.sandbox.mailboxes[0]
    rig.sandbox.script_fault("429", mailbox=address, endpoint="delta", retry_after=30.5)
    before = datetime.now(UTC)
    # WHEN it is synced
    outcome = rig.sync(address)
    # THEN the outcome is throttled until Retry-After, and the row says so
    assert outcome.kind is OutcomeKind.THROTTLED
    assert outcome.retry_at is not None
    assert timedelta(seconds=30) < outcome.retry_at - before < timedelta(seconds=40)
    row = rig.mailbox(address)
    assert row.sync_status == "throttled" and row.next_sync_at == outcome.retry_at
    # AND the daemon does not run it before that time (it returns, it does not wait)
    daemon = SyncDaemon(
        rig.sessions,
        rig.sync_engine,
        rig.registry.provider_for,
        interval_seconds=60,
        jitter_seconds=0,
    )
    assert daemon.run_mailbox(rig.mailbox_id(address)) is None
    # AND once the time has come it syncs and converges
    later = SyncDaemon(
        rig.sessions,
        rig.sync_engine,
        rig.registry.provider_for,
        interval_seconds=60,
        jitter_seconds=0,
        clock=lambda: datetime.now(UTC) + timedelta(seconds=31),
    )
    result = later.run_mailbox(rig.mailbox_id(address))
    assert result is not None and result.ok
    assert rig.mailbox(address).next_sync_at is None


def test_503_is_throttled_and_the_other_mailbox_carries_on(rig: SyncRig, engine: Engine) -> None:
    first, second = rig.sandbox.mailboxes
    rig.sandbox.script_fault("503", mailbox=first, endpoint="delta", retry_after=2)
    outcomes = rig.sync_all()
    assert outcomes[first].kind is OutcomeKind.THROTTLED
    assert outcomes[second].ok
    assert rig.sync(first).ok
    assert convergence_problems(engine, rig.sandbox) == []


def test_dropped_connection_is_temporary_and_the_next_run_converges(
    rig: SyncRig, engine: Engine
) -> None:
    # GIVEN a sync that got part of the way, then the connection drops mid-response
    address = rig.sandbox.mailboxes[0]
    rig.sandbox.script_fault("drop", mailbox=address, endpoint="delta", folder="sentitems")
    outcome = rig.sync(address)
    # THEN the run is a temporary failure with backoff, pages before it are kept
    assert outcome.kind is OutcomeKind.TEMPORARY
    row = rig.mailbox(address)
    assert row.consecutive_failures == 1 and row.next_sync_at is not None
    assert row.last_error
    # AND the next run resumes and the store converges
    assert rig.sync(address).ok
    assert rig.mailbox(address).consecutive_failures == 0
    assert rig.sync(rig.sandbox.mailboxes[1]).ok
    assert convergence_problems(engine, rig.sandbox) == []


def test_expired_delta_token_resyncs_the_folder_idempotently(rig: SyncRig, engine: Engine) -> None:
    # GIVEN fully synced mailboxes
    assert all(o.ok for o in rig.sync_all().values())
    address = rig.sandbox.mailboxes[0]
    inbox_copy = next(
        k for k, v in stored_copies(engine).items() if k[1] == address and v[1] == "inbox"
    )
    # AND, while the delta token is dead, a message is deleted and new mail arrives
    rig.sandbox.expire_delta_tokens(address, "inbox")
    rig.sandbox.delete(address, inbox_copy[2], hard=True)
    rig.sandbox.deliver(address, 3)
    # WHEN the mailbox is synced (Graph answers 410 on the inbox delta link)
    outcome = rig.sync(address)
    # THEN the folder was resynced in the same run: no duplicates, the deleted copy is
    # marked removed, the new mail is there
    assert outcome.ok, outcome
    assert stored_copies(engine)[inbox_copy][2] is True
    assert convergence_problems(engine, rig.sandbox) == []


def test_scripted_410_on_a_delta_link_resyncs_too(rig: SyncRig, engine: Engine) -> None:
    address = rig.sandbox.mailboxes[1]
    assert rig.sync(address).ok
    rig.sandbox.script_fault("410", mailbox=address, endpoint="delta", folder="sentitems")
    assert rig.sync(address).ok
    assert rig.sync(rig.sandbox.mailboxes[0]).ok
    assert convergence_problems(engine, rig.sandbox) == []


def test_revoked_token_is_refreshed_once(rig: SyncRig, engine: Engine) -> None:
    # GIVEN a token that Graph stops accepting mid-sync
    address = rig.sandbox.mailboxes[0]
    rig.sandbox.script_fault("401", count=1, mailbox=address, endpoint="delta")
    # WHEN the mailbox is synced
    outcome = rig.sync(address)
    # THEN one refresh was enough
    assert outcome.ok, outcome


def test_second_401_marks_only_that_mailbox_auth_failed(rig: SyncRig, engine: Engine) -> None:
    # GIVEN Graph refuses one mailbox's token even after a refresh
    first, second = rig.sandbox.mailboxes
    rig.sandbox.script_fault("401", count=2, mailbox=first, endpoint="delta")
    # WHEN all mailboxes are synced
    outcomes = rig.sync_all()
    # THEN that mailbox is auth_failed with the reason, and the other one synced
    assert outcomes[first].kind is OutcomeKind.AUTH_FAILED
    row = rig.mailbox(first)
    assert row.sync_status == "auth_failed" and "401" in (row.last_error or "")
    assert outcomes[second].ok
    assert rig.mailbox(second).sync_status == "ok"


def test_malformed_items_go_to_the_ledger_and_the_rest_of_the_page_is_stored(
    tmp_path: Path, engine: Engine, db_url: str
) -> None:
    # GIVEN a sandbox where a few percent of the messages are malformed
    with running_sandbox(
        seed=5, mailboxes=2, messages_per_mailbox=150, malformed_rate=0.05
    ) as sandbox:
        rig = SyncRig.build(tmp_path, sandbox, engine, db_url)
        # WHEN everything is synced
        outcomes = rig.sync_all()
        # THEN the mailboxes are ok, every good item is stored, each malformed one is in
        # the ledger with its reason
        assert all(o.ok for o in outcomes.values())
        assert sum(o.failures for o in outcomes.values()) > 0
        assert convergence_problems(engine, sandbox) == []
        with engine.connect() as conn:
            errors = list(conn.scalars(select(ProcessedItem.error)))
        assert errors and all(e for e in errors)


def test_a_run_resuming_a_round_left_mid_way_catches_up_with_changes_since(
    rig: SyncRig, engine: Engine
) -> None:
    # GIVEN a run stopped after its first inbox page (as a killed daemon leaves it):
    # the stored cursor is a nextLink of a round whose watermark is when it began
    address = rig.sandbox.mailboxes[0]
    stop = threading.Event()
    provider = rig.registry.provider_for("graph", address)
    stopped = rig.sync_engine.sync_mailbox(
        rig.mailbox_id(address), provider, stop=stop, on_page=lambda _: stop.set()
    )
    assert stopped.kind is OutcomeKind.STOPPED
    # AND mail then arrives, and a copy the first page stored is deleted
    synced = next(k for k, v in stored_copies(engine).items() if k[1] == address and not v[2])
    rig.sandbox.deliver(address, 4)
    rig.sandbox.delete(address, synced[2], hard=True)
    # WHEN the mailbox is synced once more
    outcome = rig.sync(address)
    # THEN that run ends caught up with everything that changed before it started
    # (finishing the old round alone would leave the new mail and the deletion out)
    assert outcome.ok, outcome
    assert stored_copies(engine)[synced][2] is True
    problems = [p for p in convergence_problems(engine, rig.sandbox) if address in p]
    assert problems == []
