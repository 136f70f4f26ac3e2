"""A colleague registered while the daemon runs is ours in the next sync's message direction.

The real runtime (``sync_engine_for``: the live index and the engine it feeds)
syncs a sandbox mailbox over HTTPS; the user is added to the store as any
writer would add one, and the change log (trigger-written) is all that tells
the runtime. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from crm_store.database import session_scope
from crm_store.items import Direction
from crm_store.models import Message
from mailsync.outcome import OutcomeKind
from mailsync.sandbox.runner import SandboxHandle, running_sandbox
from tests.factories import make_user
from tests.mailsync.sync_support import SyncRig

pytestmark = pytest.mark.timeout(120)

OUTSIDE = "unknown_external"  # a consultant at a domain nobody in the CRM or the company has


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    # The test delivers mail, so each test gets its own small sandbox.
    with running_sandbox(seed=5, mailboxes=1, messages_per_mailbox=60) as handle:
        yield handle


@pytest.fixture
def rig(tmp_path: Path, sandbox: SandboxHandle, engine: Engine, db_url: str) -> SyncRig:
    # Mail among colleagues only is kept, so its direction can be read from the store.
    return SyncRig.build(
        tmp_path, sandbox, engine, db_url, extra="[rules]\ninternal_only_excluded = false\n"
    )


def _reply(sandbox: SandboxHandle, owner: str) -> tuple[str, str]:
    """Deliver the next message of the mailbox's first outside thread: (its key, the outsider)."""
    (truth,) = sandbox.deliver(owner, 1, reply_to_kind=OUTSIDE)
    assert sandbox.server is not None
    world = sandbox.server.world
    decoded = world.ids.decode(truth["copies"][0]["id"])
    assert decoded is not None
    message = world.plan.render(decoded[1], with_body=False)
    (outsider,) = {p.address for p in (message.sender, *message.to, *message.cc)} - {owner}
    return str(truth["key"]), outsider


def _direction(rig: SyncRig, key: str) -> Any:
    with rig.sessions() as session:
        return session.scalar(select(Message.direction).where(Message.message_key == key))


def test_a_user_added_while_the_runtime_lives_is_internal_at_the_next_sync(rig: SyncRig) -> None:
    owner = rig.sandbox.mailboxes[0]
    # GIVEN a runtime that has synced the mailbox (with a thread from outside in it), and a
    # consultant's next mail in the first such thread synced by it as from outside
    rig.sandbox.deliver(owner, 1, kind=OUTSIDE)
    assert rig.sync(owner).kind == OutcomeKind.OK
    before, consultant = _reply(rig.sandbox, owner)
    assert rig.sync(owner).kind == OutcomeKind.OK
    assert _direction(rig, before) in (Direction.INBOUND, Direction.OUTBOUND)
    # WHEN the consultant becomes one of our users (no restart), and writes again
    with session_scope(rig.sessions, write=True) as session:
        make_user(session, email=consultant)
    after, same_consultant = _reply(rig.sandbox, owner)
    assert same_consultant == consultant
    assert rig.sync(owner).kind == OutcomeKind.OK
    # THEN that mail, between the mailbox's owner and a colleague, is internal
    assert _direction(rig, after) == Direction.INTERNAL
