"""A page is never held back for a body: throttled or failed ``$batch`` body requests leave
the bodies pending, the page commits, the run ends as the server asked, and the next run
fetches the pending bodies and links on them (a code only the body holds still links).

Against the sandbox with its company's CRM imported, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select

from crm_store.database import session_scope
from crm_store.migrate import upgrade
from crm_store.models import Link, Message, MessageCopy, Opportunity, SyncCursor
from mailsync.commands.demo import import_crm
from mailsync.outcome import OutcomeKind
from mailsync.sandbox.runner import SandboxHandle, running_sandbox, write_crm
from tests.mailsync.sync_support import SyncRig, convergence_problems

pytestmark = pytest.mark.timeout(180)
SEED = 5


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=SEED, mailboxes=2, messages_per_mailbox=150) as handle:
        yield handle


def _rig_with_crm(directory: Path, sandbox: SandboxHandle, engine: Engine, url: str) -> SyncRig:
    directory.mkdir(parents=True, exist_ok=True)
    rig = SyncRig.build(directory, sandbox, engine, url, page_size=25)
    crm = write_crm(directory / "crm", seed=SEED, mailboxes=len(sandbox.mailboxes))
    with session_scope(rig.sessions, write=True) as session:
        import_crm(session, crm)
    return rig


def _opportunity_links(engine: Engine) -> set[tuple[str, str]]:
    """(message key, opportunity code): natural keys, since two stores' row ids differ."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Message.message_key, Opportunity.code)
            .join(Link, (Link.item_kind == "message") & (Link.item_id == Message.id))
            .join(Opportunity, Opportunity.id == Link.target_id)
            .where(Link.target_kind == "opportunity")
        )
        return {(str(key), str(code)) for key, code in rows}


def _pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count(func.distinct(Message.id)))
                .join(MessageCopy, MessageCopy.message_id == Message.id)
                .where(Message.body_pending.is_(True), MessageCopy.removed.is_(False))
            )
            or 0
        )


def _tracked_without_body(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count()).where(
                    Message.tracked.is_(True),
                    Message.store_body.is_(True),
                    Message.body_text.is_(None),
                    Message.body_html.is_(None),
                )
            )
            or 0
        )


def _untracked_with_body(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count()).where(
                    Message.tracked.is_(False), Message.body_text.is_not(None)
                )
            )
            or 0
        )


def test_throttled_bodies_do_not_hold_back_the_page_and_link_when_they_arrive(
    tmp_path: Path, sandbox: SandboxHandle, engine: Engine, db_url: str
) -> None:
    # GIVEN the same world synced without faults into a reference store
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    upgrade(reference_url)
    reference = create_engine(reference_url)
    try:
        clean = _rig_with_crm(tmp_path / "reference", sandbox, reference, reference_url)
        assert all(o.kind is OutcomeKind.OK for o in clean.sync_all().values())
        expected_links = _opportunity_links(reference)
    finally:
        reference.dispose()
    assert expected_links, "the sandbox CRM must link some mail to opportunities"
    rig = _rig_with_crm(tmp_path / "under-test", sandbox, engine, db_url)
    address = sandbox.mailboxes[0]
    # AND Graph throttles every inner body request of that mailbox for a while (Retry-After 20)
    sandbox.script_fault(
        "429", count=10_000, mailbox=address, endpoint="batch-item", retry_after=20.0
    )
    before = datetime.now(UTC)
    try:
        # WHEN the mailbox is synced
        outcome = rig.sync(address)
    finally:
        sandbox.clear_faults()
    # THEN the run ends throttled until the inner Retry-After, without having waited
    assert outcome.kind is OutcomeKind.THROTTLED
    assert outcome.retry_at is not None
    assert timedelta(seconds=19) < outcome.retry_at - before < timedelta(seconds=30)
    assert datetime.now(UTC) - before < timedelta(seconds=19)
    # AND the page in hand committed: its items, its links and its cursor, bodies pending
    assert outcome.pages >= 1 and outcome.items > 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SyncCursor)) >= 1
    assert _pending(engine) > 0
    # WHEN the mailboxes are synced again with the faults gone
    outcomes = rig.sync_all()
    # THEN every run ends well, the store equals the ground truth (exactly once)
    assert all(o.kind is OutcomeKind.OK for o in outcomes.values()), outcomes
    assert convergence_problems(engine, sandbox) == []
    # AND no body is pending, every tracked message has its body, no untracked one does
    assert _pending(engine) == 0
    assert _tracked_without_body(engine) == 0
    assert _untracked_with_body(engine) == 0
    # AND the opportunity links are exactly the fault-free run's: codes only the
    # bodies held linked when the pending bodies arrived
    assert _opportunity_links(engine) == expected_links


def test_bodies_already_stored_from_another_mailbox_are_not_fetched_again(
    tmp_path: Path, sandbox: SandboxHandle, engine: Engine, db_url: str
) -> None:
    # GIVEN the first mailbox synced: its tracked messages' bodies are stored
    rig = _rig_with_crm(tmp_path, sandbox, engine, db_url)
    first, second = sandbox.mailboxes
    assert rig.sync(first).kind is OutcomeKind.OK
    with engine.connect() as conn:
        with_body = set(conn.scalars(select(Message.id).where(Message.body_text.is_not(None))))
    # WHEN the second mailbox, which shares some of that mail, is synced
    since = max((r["n"] for r in sandbox.requests_log()), default=0)
    assert rig.sync(second).kind is OutcomeKind.OK
    # THEN none of its body requests asked for a message whose body was stored already
    with engine.connect() as conn:
        shared_copies = set(
            conn.scalars(
                select(MessageCopy.provider_item_id).where(
                    MessageCopy.mailbox_id == rig.mailbox_id(second),
                    MessageCopy.message_id.in_(with_body),
                )
            )
        )
    assert shared_copies, "the sandbox must share tracked mail between the two mailboxes"
    asked = [r["path"] for r in sandbox.requests_log(since) if r["endpoint"] == "batch-item"]
    assert asked, "the second mailbox has bodies of its own to fetch"
    assert not [p for p in asked if p.rsplit("/", 1)[-1] in shared_copies]
    # AND the shared messages are tracked with their bodies all the same
    assert _tracked_without_body(engine) == 0
