"""The EWS driver against the EWS endpoint, with the real exchangelib in between.

GIVEN a seeded sandbox world served over EWS (SOAP over HTTPS, NTLM), WHEN the
driver pages through a folder, THEN it sees exactly the world's ground truth,
one SyncFolderItems call per page with that call's sync state as cursor.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_store.items import MeetingItem, MessageItem
from mailsync.providers.base import (
    AuthFailed,
    ChangePage,
    CursorExpired,
    PermanentFailure,
    TemporaryFailure,
    Throttled,
)
from mailsync.sandbox.faults import FaultKind, ScriptedFault
from mailsync.sandbox.mailplan import INBOX
from tests.mailsync.providers.ews.ews_support import (
    ANCHOR,
    DELEGATE,
    LIMITED,
    SERVICE,
    EwsRig,
    ews_rig,
)


@pytest.fixture(scope="module")
def rig() -> Iterator[EwsRig]:
    with ews_rig(malformed_rate=0.05) as r:
        yield r


def drain(pages: Iterator[ChangePage]) -> list[ChangePage]:
    return list(pages)


def live_inbox_truth(rig: EwsRig, index: int) -> dict[str, str]:
    """provider id → internetMessageId of the well-formed messages in a mailbox's inbox."""
    address = rig.world.mailbox_address(index)
    found = {}
    for truth in rig.world.truth_messages((INBOX,)):
        for copy in truth["copies"]:
            if copy["mailbox"] == address and copy["folder"] == INBOX and not truth["malformed"]:
                found[copy["id"]] = truth["key"]
    return found


def test_full_sync_of_a_folder_equals_ground_truth_page_by_page(rig: EwsRig) -> None:
    # GIVEN mailbox 0 and its inbox in the world
    provider = rig.provider(0, page_size=25)
    # WHEN the inbox is synced from scratch
    pages = drain(provider.changes(INBOX, None))
    # THEN every page but the last carries its own sync state, the last ends the round
    assert [p.is_last for p in pages] == [False] * (len(pages) - 1) + [True]
    assert all(p.next_cursor for p in pages) and len({p.next_cursor for p in pages}) == len(pages)
    # AND the messages are exactly the world's, keyed by internetMessageId
    got = {i.provider_item_id: i.message_key for p in pages for i in p.upserts}
    assert got == live_inbox_truth(rig, 0)
    assert all(isinstance(i, MessageItem) and i.received_at for p in pages for i in p.upserts)
    # AND malformed items are failures naming the item, not lost pages
    malformed = {f.provider_item_id for p in pages for f in p.failures}
    assert malformed, "the world has malformed items in this inbox"
    assert malformed.isdisjoint(got)


def test_idle_second_cycle_is_one_request_per_folder(rig: EwsRig) -> None:
    provider = rig.provider(1)
    cursors = {f: drain(provider.changes(f, None))[-1].next_cursor for f in provider.folders()}
    before = rig.endpoint.stats.snapshot()["per_endpoint"]
    # WHEN nothing changed and every folder is synced again from its cursor
    pages = [p for f, c in cursors.items() for p in provider.changes(f, c)]
    after = rig.endpoint.stats.snapshot()["per_endpoint"]
    # THEN one SyncFolderItems per folder and nothing else
    assert after["SyncFolderItems"] - before["SyncFolderItems"] == len(cursors)
    assert after.get("GetItem", 0) == before.get("GetItem", 0)
    assert all(not p.upserts and not p.removals and p.is_last for p in pages)


def test_new_deleted_and_moved_mail_arrive_as_upserts_and_removals() -> None:
    with ews_rig(messages_per_mailbox=40) as rig:
        provider = rig.provider(0)
        cursor = drain(provider.changes(INBOX, None))[-1].next_cursor
        inbox = sorted(live_inbox_truth(rig, 0))
        gone, moved = inbox[0], inbox[1]
        # GIVEN new mail, a deletion and a move out of the inbox
        new_refs = rig.world.deliver(0, count=3)
        rig.world.delete(0, rig.world.ids.decode(gone)[1])  # type: ignore[index]
        rig.world.move(0, rig.world.ids.decode(moved)[1], "archive")  # type: ignore[index]
        # WHEN the inbox is synced from its cursor
        pages = drain(provider.changes(INBOX, cursor))
        upserts = {i.provider_item_id for p in pages for i in p.upserts}
        removals = {r.provider_item_id for p in pages for r in p.removals}
        # THEN the deleted and moved copies are removals, and new inbound mail is upserted
        assert {gone, moved} <= removals
        inbound = {rig.world.ids.encode(0, r) for r in new_refs} & set(live_inbox_truth(rig, 0))
        assert inbound <= upserts


def test_calendar_occurrences_are_keyed_like_graph_and_cancel_removes_them() -> None:
    with ews_rig(messages_per_mailbox=20) as rig:
        address = rig.world.mailbox_address(0)
        provider = rig.provider(0)
        pages = drain(provider.changes("calendar", None))
        got = {i.provider_item_id: i.meeting_key for p in pages for i in p.upserts}
        assert all(isinstance(i, MeetingItem) for p in pages for i in p.upserts)
        # THEN occurrences, exceptions and singles have Graph's ids and meeting keys
        truth = {
            c["id"]: m["key"]
            for m in rig.world.truth_meetings()
            for c in m["copies"]
            if c["mailbox"] == address and not c["removed"]
        }
        assert got == truth
        assert any("#" in key for key in got.values()), "a recurring series is in the calendar"
        # WHEN the mailbox's own recurring series is cancelled (gone from the organizer's calendar)
        series = next(
            s for s in rig.world.meetings.series[0] if s.occurrences > 1 and not s.cancelled
        )
        rig.world.cancel_meeting(series.uid)
        later = drain(provider.changes("calendar", pages[-1].next_cursor))
        # THEN each of its occurrences is removed, though EWS named only the master
        removed = {r.provider_item_id for p in later for r in p.removals}
        mine = {i for i, key in got.items() if key.startswith(series.uid)}
        assert mine and mine <= removed


def test_server_busy_is_throttled_with_the_back_off_exchange_asked_for(rig: EwsRig) -> None:
    address = rig.world.mailbox_address(0)
    rig.endpoint.faults.script(
        ScriptedFault(FaultKind.THROTTLE, 1, mailbox=address, retry_after=7.5)
    )
    with pytest.raises(Throttled) as caught:
        drain(rig.provider(0).changes(INBOX, None))
    assert caught.value.retry_after == pytest.approx(7.5)


@pytest.mark.parametrize("kind", [FaultKind.UNAVAILABLE, FaultKind.DROP])
def test_unavailable_and_dropped_connections_are_temporary(rig: EwsRig, kind: FaultKind) -> None:
    rig.endpoint.faults.script(ScriptedFault(kind, 1, mailbox=rig.world.mailbox_address(0)))
    with pytest.raises(TemporaryFailure):
        drain(rig.provider(0).changes(INBOX, None))


def test_invalid_sync_state_is_cursor_expired(rig: EwsRig) -> None:
    provider = rig.provider(0)
    cursor = drain(provider.changes(INBOX, None))[-1].next_cursor
    # GIVEN Exchange forgot the folder's sync state
    rig.world.expire_delta_tokens(0, INBOX)
    with pytest.raises(CursorExpired) as caught:
        drain(provider.changes(INBOX, cursor))
    assert caught.value.folder == INBOX
    # AND a state that was never issued is refused the same way
    with pytest.raises(CursorExpired):
        drain(provider.changes(INBOX, "H4sIAAAAAAAEAO29B2AcSZ"))


def test_refused_password_is_auth_failed(rig: EwsRig) -> None:
    with pytest.raises(AuthFailed):
        drain(rig.provider(0, password="wrong").changes(INBOX, None))


def test_service_account_without_rights_is_a_permanent_failure(rig: EwsRig) -> None:
    # GIVEN an account with neither impersonation nor delegate rights on mailbox 0
    with pytest.raises(PermanentFailure):
        drain(rig.provider(0, account=LIMITED).changes(INBOX, None))


@pytest.mark.parametrize("account", [SERVICE, DELEGATE], ids=["impersonation", "delegate"])
def test_basic_auth_reaches_mailboxes_by_impersonation_or_delegation(
    rig: EwsRig, account: object
) -> None:
    pages = drain(rig.provider(1, account=account, auth="basic").changes(INBOX, None))
    assert {i.provider_item_id for p in pages for i in p.upserts} == set(live_inbox_truth(rig, 1))


def test_bodies_of_tracked_messages_come_from_get_item(rig: EwsRig) -> None:
    provider = rig.provider(0)
    ids = sorted(live_inbox_truth(rig, 0))[:3]
    bodies = provider.fetch_bodies(INBOX, ids).bodies
    assert set(bodies) == set(ids)
    assert all(text and html and "<p>" in html for text, html in bodies.values())


def test_anchor_is_the_window_the_calendar_uses(rig: EwsRig) -> None:
    window = rig.provider(0).window()
    assert window.start < ANCHOR < window.end
