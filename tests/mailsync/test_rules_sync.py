"""The rules on the real sync path: sandbox over HTTPS, the sandbox company's CRM imported.

What the rules decide is checked against the sandbox's ground truth (tracking
codes, inference, exclusions), and what people decided (an unlinked target)
against later syncs and rules passes. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select

from crm_store.database import session_scope
from crm_store.items import ItemKind, TargetKind
from crm_store.links import link_by_person, unlink_by_person
from crm_store.models import ExclusionCount, Link, Message, Opportunity, SyncCursor
from mailsync.commands.demo import import_crm
from mailsync.sandbox.runner import SandboxHandle, running_sandbox, write_crm
from tests.mailsync.sync_support import SyncRig
from tests.mailsync.test_cli_commands import invoke

pytestmark = pytest.mark.timeout(180)

SEED = 11
COUNTER_OF_REASON = {"auto_submitted": "automatic"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    # Nothing here changes the sandbox's mail, so one sandbox serves the module.
    with running_sandbox(seed=SEED, mailboxes=2, messages_per_mailbox=120) as handle:
        yield handle


@pytest.fixture
def rig(tmp_path: Path, sandbox: SandboxHandle, engine: Engine, db_url: str) -> SyncRig:
    """A store with the sandbox company's CRM imported, configured to sync both mailboxes."""
    rig = SyncRig.build(tmp_path, sandbox, engine, db_url, page_size=50)
    files = write_crm(tmp_path / "crm", seed=SEED, mailboxes=len(sandbox.mailboxes))
    with session_scope(rig.sessions, write=True) as session:
        import_crm(session, files)
    return rig


Pair = tuple[str, int]  # (target kind, target id)


def stored_links(rig: SyncRig) -> dict[str, dict[Pair, tuple[str, str, str]]]:
    """message key → {(kind, id): (origin kind, origin, evidence)}."""
    found: dict[str, dict[Pair, tuple[str, str, str]]] = {}
    with rig.sessions() as session:
        rows = session.execute(
            select(
                Message.message_key,
                Link.target_kind,
                Link.target_id,
                Link.origin_kind,
                Link.origin,
                Link.evidence,
            ).join(Message, (Link.item_kind == "message") & (Link.item_id == Message.id))
        )
        for key, kind, target_id, origin_kind, origin, evidence in rows:
            found.setdefault(key, {})[(kind, int(target_id))] = (origin_kind, origin, evidence)
    return found


def opportunity_ids(rig: SyncRig) -> dict[str, int]:
    with rig.sessions() as session:
        return {
            code: int(i) for code, i in session.execute(select(Opportunity.code, Opportunity.id))
        }


def live_truths(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    """Ground truth of the messages a sync stores (in a synced folder, well-formed)."""
    return [
        t
        for t in sandbox.truth_messages(("inbox", "sentitems"))
        if not t["malformed"] and any(not c["removed"] for c in t["copies"])
    ]


def message_id_of(rig: SyncRig, key: str) -> int:
    with rig.sessions() as session:
        found = session.scalar(select(Message.id).where(Message.message_key == key))
        assert found is not None, key
        return int(found)


def test_opportunities_are_linked_by_tracking_code_and_by_inference(rig: SyncRig) -> None:
    # GIVEN the sandbox company's CRM in the store
    # WHEN both mailboxes are synced
    assert all(o.ok for o in rig.sync_all().values())
    links = stored_links(rig)
    codes = opportunity_ids(rig)
    by_token = inferred = body_codes = 0
    for truth in live_truths(rig.sandbox):
        expected = truth["expected"]
        if expected["excluded"]:
            continue
        have = links.get(truth["key"], {})
        # THEN every code the message itself carries links its opportunity as a token
        for wanted in expected["opportunities"]:
            pair = ("opportunity", codes[wanted["code"]])
            assert pair in have, (truth["key"], wanted)
            if wanted["evidence"] == "token":
                origin_kind, origin, evidence = have[pair]
                assert (origin_kind, origin) == ("rule", "tracking_code"), evidence
                by_token += 1
                body_codes += " in body " in evidence
        # AND the mailbox owner's one open deal at the account is linked as inferred
        if expected["inferred_opportunity"]:
            pair = ("opportunity", codes[expected["inferred_opportunity"]])
            assert pair in have, (truth["key"], expected["inferred_opportunity"])
            assert have[pair][0] in {"inferred", "rule"}
            inferred += have[pair][0] == "inferred"
    # AND the seeded world exercised each path, codes found only in a body included
    assert by_token and inferred and body_codes, (by_token, inferred, body_codes)


def test_excluded_items_are_not_stored_and_are_counted_per_reason(rig: SyncRig) -> None:
    # GIVEN mailboxes holding private, internal-only, bulk and auto-reply mail
    truths = live_truths(rig.sandbox)
    excluded = {t["key"]: t["expected"]["reason"] for t in truths if t["expected"]["excluded"]}
    assert len(set(excluded.values())) >= 3
    # WHEN they are synced
    assert all(o.ok for o in rig.sync_all().values())
    # THEN no excluded message is stored
    with rig.sessions() as session:
        stored = set(session.scalars(select(Message.message_key)))
        counts: dict[str, int] = {}
        for reason, count in session.execute(select(ExclusionCount.reason, ExclusionCount.count)):
            counts[reason] = counts.get(reason, 0) + int(count)
    assert not stored & set(excluded)
    # AND each reason has its counter (the sandbox says auto_submitted, the rules automatic)
    for reason in set(excluded.values()):
        counter = COUNTER_OF_REASON.get(reason, reason)
        assert counts.get(counter, 0) >= 1, (counter, counts)


def shared_linked_message(rig: SyncRig) -> tuple[dict[str, Any], str, str]:
    """A linked message with a live copy in each mailbox: (truth, first mailbox, second)."""
    for truth in live_truths(rig.sandbox):
        owners = {c["mailbox"] for c in truth["copies"] if not c["removed"]}
        if len(owners) == 2 and truth["expected"]["contacts"]:
            first, second = sorted(owners)
            return truth, first, second
    raise AssertionError("the seeded world has no linked message in both mailboxes")


def test_a_link_a_person_removed_is_not_re_added_by_any_later_sync(rig: SyncRig) -> None:
    # GIVEN a linked message with a copy in each mailbox, synced from the first only
    truth, first, second = shared_linked_message(rig)
    assert rig.sync(first).ok
    key = truth["key"]
    before = stored_links(rig)[key]
    removed = next(pair for pair in before if pair[0] == "contact")
    item_id = message_id_of(rig, key)
    # WHEN a person unlinks the contact
    with session_scope(rig.sessions, write=True) as session:
        unlink_by_person(
            session,
            ItemKind.MESSAGE,
            item_id,
            TargetKind(removed[0]),
            removed[1],
            "seller@us.example",
        )
    # AND the other mailbox's copy is synced, then the first mailbox resyncs from scratch
    assert rig.sync(second).ok
    with session_scope(rig.sessions, write=True) as session:
        session.execute(delete(SyncCursor))
    assert all(o.ok for o in rig.sync_all().values())
    # THEN the link stays removed, and the rules' other links are still there
    after = stored_links(rig)[key]
    assert removed not in after
    assert set(before) - {removed} <= set(after)


def test_a_link_a_person_made_survives_later_rules_passes(rig: SyncRig) -> None:
    # GIVEN a synced message and an opportunity no rule links it to, linked by a person
    truth, first, _second = shared_linked_message(rig)
    assert rig.sync(first).ok
    key = truth["key"]
    item_id = message_id_of(rig, key)
    codes = opportunity_ids(rig)
    rule_made = {pair for pair in stored_links(rig)[key]}
    target = next(i for i in sorted(codes.values()) if ("opportunity", i) not in rule_made)
    with session_scope(rig.sessions, write=True) as session:
        link_by_person(
            session, ItemKind.MESSAGE, item_id, TargetKind.OPPORTUNITY, target, "a@us.example"
        )
    # WHEN every mailbox resyncs from scratch (the rules run over the message again)
    with session_scope(rig.sessions, write=True) as session:
        session.execute(delete(SyncCursor))
    assert all(o.ok for o in rig.sync_all().values())
    # THEN the person's link is still there, still the person's
    after = stored_links(rig)[key]
    assert after[("opportunity", target)][:2] == ("person", "person")


def test_dry_run_over_a_freshly_synced_store_changes_nothing(
    rig: SyncRig, db_url: str, tmp_path: Path
) -> None:
    # GIVEN a store just synced with the configured rules (messages and meetings)
    assert all(o.ok for o in rig.sync_all().values())
    with rig.sessions() as session:
        meeting_links = session.scalar(
            select(Link.id).where(Link.item_kind == "meeting", Link.origin_kind == "inferred")
        )
    assert meeting_links is not None, "the seeded world has inferred meeting links"
    # WHEN the same rules are dry-run over all of its history
    config = tmp_path / "mailsync.toml"
    result = invoke(
        ["--config", str(config), "rules", "dry-run", "--since", "800d", "--sample", "5"],
    )
    # THEN nothing would be linked or unlinked
    assert result.exit_code == 0, result.output
    assert "would link 0, unlink 0," in result.output, result.output
