"""A sync wired to a running sandbox through a real config file, and ground-truth checks.

Everything goes through the production path: TOML config → settings → msal
over HTTPS → httpx Graph driver → engine → the store under test. Tests only
add faults and read the outcome, the store and the sandbox's ground truth.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_session_factory, session_scope
from crm_store.models import (
    Mailbox,
    Meeting,
    MeetingCopy,
    Message,
    MessageCopy,
    ProcessedItem,
)
from mailsync.config import Settings, load_settings
from mailsync.engine import SyncEngine
from mailsync.mailboxes import register_mailboxes
from mailsync.outcome import SyncOutcome
from mailsync.providers.graph.transport import GraphTransport
from mailsync.runtime import GraphFactory, ProviderRegistry, registry_for, sync_engine_for
from mailsync.sandbox.runner import SandboxHandle

SECRET_ENV = "MAILSYNC_TEST_SANDBOX_SECRET"

# The sync path runs the full rules, so every exclusion the sandbox's ground
# truth names keeps the item out of the store.
EXCLUDED_REASONS = frozenset({"private", "internal_only", "bulk", "auto_submitted"})


def write_config(
    directory: Path,
    sandbox: SandboxHandle,
    db_url: str,
    *,
    page_size: int = 25,
    extra: str = "",
) -> Path:
    """A mailsync.toml for this sandbox and store; the secret goes to the environment only."""
    os.environ[SECRET_ENV] = sandbox.client_secret
    mailboxes = "".join(f'\n[[mailboxes]]\naddress = "{a}"\n' for a in sandbox.mailboxes)
    path = directory / "mailsync.toml"
    path.write_text(
        f"""
[store]
url = "{db_url}"

[tenant]
tenant_id = "{sandbox.tenant}"
client_id = "{sandbox.client_id}"
client_secret_env = "{SECRET_ENV}"
authority_host = "{sandbox.base_url}"
graph_url = "{sandbox.base_url}"
ca_bundle = "{sandbox.ca_path}"

[sync]
page_size = {page_size}
interval_seconds = 60
jitter_seconds = 0
{extra}
{mailboxes}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class SyncRig:
    """One configured sync against one sandbox and one store."""

    sandbox: SandboxHandle
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session] = field(init=False)
    sync_engine: SyncEngine = field(init=False)
    registry: ProviderRegistry = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = make_session_factory(self.engine)
        with session_scope(self.sessions, write=True) as session:
            register_mailboxes(session, self.settings.mailboxes)
        self.registry = registry_for(self.settings)
        self.sync_engine = sync_engine_for(self.settings, self.sessions)

    @classmethod
    def build(
        cls, tmp_path: Path, sandbox: SandboxHandle, engine: Engine, db_url: str, **config: Any
    ) -> SyncRig:
        path = write_config(tmp_path, sandbox, db_url, **config)
        return cls(sandbox, load_settings(path), engine)

    def mailbox_id(self, address: str) -> int:
        with self.sessions() as session:
            found = session.scalar(select(Mailbox.id).where(Mailbox.address == address))
            assert found is not None, address
            return int(found)

    def mailbox(self, address: str) -> Mailbox:
        with self.sessions() as session:
            row = session.scalar(select(Mailbox).where(Mailbox.address == address))
            assert row is not None
            return row

    def sync(self, address: str) -> SyncOutcome:
        provider = self.registry.provider_for("graph", address)
        return self.sync_engine.sync_mailbox(self.mailbox_id(address), provider)

    def sync_all(self) -> dict[str, SyncOutcome]:
        return {address: self.sync(address) for address in self.sandbox.mailboxes}

    def transport(self, address: str) -> GraphTransport:
        factory = self.registry.factories["graph"]
        assert isinstance(factory, GraphFactory)
        return factory.transports[address]


# --------------------------------------------------------------------------- ground truth

CopyKey = tuple[str, str, str]  # (kind, mailbox, provider item id)
CopyState = tuple[str, str, bool]  # (item key, folder, removed)


def stored_copies(engine: Engine) -> dict[CopyKey, CopyState]:
    found: dict[CopyKey, CopyState] = {}
    with engine.connect() as conn:
        for kind, copy, item, key_column, fk in (
            ("message", MessageCopy, Message, Message.message_key, MessageCopy.message_id),
            ("meeting", MeetingCopy, Meeting, Meeting.meeting_key, MeetingCopy.meeting_id),
        ):
            rows = conn.execute(
                select(
                    Mailbox.address, copy.provider_item_id, key_column, copy.folder, copy.removed
                )
                .join(item, item.id == fk)
                .join(Mailbox, Mailbox.id == copy.mailbox_id)
            )
            for address, item_id, key, folder, removed in rows:
                assert (kind, address, item_id) not in found, "a copy stored twice"
                found[(kind, address, item_id)] = (key, folder, bool(removed))
    return found


def failed_item_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(ProcessedItem.item_key)))


def _window(days_back: int = 90, days_ahead: int = 365) -> tuple[datetime, datetime]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_back), today + timedelta(days=days_ahead + 1)


def expected_copies(
    sandbox: SandboxHandle, folders: tuple[str, ...] = ("inbox", "sentitems")
) -> tuple[dict[CopyKey, CopyState], set[str]]:
    """(copies the store must hold, ids of malformed items that belong in the ledger)."""
    expected: dict[CopyKey, CopyState] = {}
    malformed: set[str] = set()
    truths: Iterable[dict[str, Any]] = sandbox.truth_messages(folders)
    for truth in truths:
        if truth["expected"]["excluded"] and truth["expected"]["reason"] in EXCLUDED_REASONS:
            continue
        for copy in truth["copies"]:
            if truth["malformed"]:
                if not copy["removed"]:
                    malformed.add(copy["id"])
                continue
            expected[("message", copy["mailbox"], copy["id"])] = (
                truth["key"],
                copy["folder"],
                bool(copy["removed"]),
            )
    low, high = _window()
    for meeting in sandbox.truth_meetings():
        start = datetime.fromisoformat(meeting["start"])
        end = datetime.fromisoformat(meeting["end"])
        if meeting["expected"]["excluded"] and meeting["expected"]["reason"] in EXCLUDED_REASONS:
            continue
        outside = not (end > low and start < high)
        for copy in meeting["copies"]:
            expected[("meeting", copy["mailbox"], copy["id"])] = (
                meeting["key"],
                "calendar",
                bool(copy["removed"]) or outside,
            )
    return expected, malformed


def convergence_problems(engine: Engine, sandbox: SandboxHandle) -> list[str]:
    """Every way the store differs from the sandbox's ground truth (empty: converged)."""
    expected, malformed = expected_copies(sandbox)
    stored = stored_copies(engine)
    problems: list[str] = []
    for key, (item_key, folder, removed) in expected.items():
        have = stored.get(key)
        if removed:
            if have is not None and not have[2]:
                problems.append(f"{key} should be removed, store has it live in {have[1]}")
            continue
        if have is None:
            problems.append(f"{key} missing (expected {item_key} in {folder})")
        elif have != (item_key, folder, False):
            problems.append(f"{key} is {have}, expected {(item_key, folder, False)}")
    for key, have in stored.items():
        if key not in expected and not have[2]:
            problems.append(f"{key} stored live but not in ground truth: {have}")
    missing_failures = malformed - failed_item_ids(engine)
    if missing_failures:
        problems.append(f"malformed items not in the ledger: {sorted(missing_failures)[:5]}")
    return problems
