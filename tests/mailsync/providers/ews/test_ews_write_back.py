"""Category write-back over EWS: UpdateItem SetItemField item:Categories with change keys.

GIVEN the sandbox world served over EWS, WHEN the driver (or the engine with
``write_back_category``) tags a message, THEN the world's ground truth shows
the category, with the request count and conflict rules Exchange has.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from exchangelib import errors as ews_errors
from exchangelib.items import ALWAYS_OVERWRITE, NEVER_OVERWRITE, SAVE_ONLY, SEND_TO_NONE, Message
from exchangelib.services import UpdateItem
from sqlalchemy import Engine

from crm_store.database import make_session_factory, session_scope
from mailsync.direction import InternalParties
from mailsync.engine import EngineSettings, SyncEngine
from mailsync.outcome import OutcomeKind
from mailsync.runtime import default_linker
from mailsync.sandbox.mailplan import INBOX
from tests.factories import make_contact, make_mailbox
from tests.mailsync.providers.ews.ews_support import EwsRig, ews_rig

TAG = "Tracked to CRM"


@pytest.fixture(scope="module")
def rig() -> Iterator[EwsRig]:
    with ews_rig(messages_per_mailbox=40) as r:
        yield r


def categories_in_world(rig: EwsRig, index: int, item_id: str) -> list[str]:
    ref = rig.world.ids.decode(item_id)
    assert ref is not None
    _, state = rig.world.current_folder(index, ref[1])
    return list(state.categories) if state else []


def first_page_ids(rig: EwsRig, index: int) -> tuple[Any, list[str]]:
    provider = rig.provider(index, page_size=10)
    page = next(iter(provider.changes(INBOX, None)))
    return provider, [i.provider_item_id for i in page.upserts]


def test_category_of_an_item_on_the_page_costs_one_update_item(rig: EwsRig) -> None:
    # GIVEN the driver has just read a page of the inbox
    provider, ids = first_page_ids(rig, 0)
    gets, updates = rig.requests("GetItem"), rig.requests("UpdateItem")
    # WHEN one of its messages is tagged
    provider.set_category(ids[0], ("Blue", TAG))
    # THEN Exchange holds exactly those categories, set by one UpdateItem with the page's change key
    assert categories_in_world(rig, 0, ids[0]) == ["Blue", TAG]
    assert rig.requests("UpdateItem") == updates + 1
    assert rig.requests("GetItem") == gets
    # AND a second write in the same run starts from the new version (no conflict, no read)
    provider.set_category(ids[0], (TAG,))
    assert categories_in_world(rig, 0, ids[0]) == [TAG]
    assert rig.requests("GetItem") == gets


def test_item_not_read_in_this_run_gets_its_change_key_first(rig: EwsRig) -> None:
    _, ids = first_page_ids(rig, 1)
    fresh = rig.provider(1)
    gets = rig.requests("GetItem")
    fresh.set_category(ids[1], (TAG,))
    assert categories_in_world(rig, 1, ids[1]) == [TAG]
    assert rig.requests("GetItem") == gets + 1


def test_item_changed_since_the_read_is_updated_by_auto_resolve(rig: EwsRig) -> None:
    provider, ids = first_page_ids(rig, 0)
    # GIVEN the user changed the item's categories after the driver read it (stale change key)
    ref = rig.world.ids.decode(ids[2])
    assert ref is not None
    rig.world.set_categories(0, ref[1], ["Red"])
    # WHEN the driver writes the category list it computed
    provider.set_category(ids[2], ("Red", TAG))
    # THEN AutoResolve applied it
    assert categories_in_world(rig, 0, ids[2]) == ["Red", TAG]


def test_item_deleted_since_the_read_is_left_alone(rig: EwsRig) -> None:
    provider, ids = first_page_ids(rig, 1)
    ref = rig.world.ids.decode(ids[3])
    assert ref is not None
    rig.world.delete(1, ref[1], hard=True)
    # WHEN it is tagged THEN nothing is raised: the next sync reports the removal
    provider.set_category(ids[3], (TAG,))
    assert rig.world.current_folder(1, ref[1])[0] is None


def _update(provider: Any, item_id: str, change_key: str | None, resolution: str) -> list[Any]:
    target = Message(account=provider.account, id=item_id, changekey=change_key, categories=["X"])
    return list(
        UpdateItem(account=provider.account).call(
            items=[(target, ["categories"])],
            conflict_resolution=resolution,
            message_disposition=SAVE_ONLY,
            send_meeting_invitations_or_cancellations=SEND_TO_NONE,
            suppress_read_receipts=True,
        )
    )


def test_endpoint_enforces_exchanges_change_key_rules(rig: EwsRig) -> None:
    provider, ids = first_page_ids(rig, 0)
    item_id = ids[4]
    # A missing change key is refused unless the caller overwrites whatever is there
    with pytest.raises(ews_errors.ErrorChangeKeyRequired):
        _update(provider, item_id, None, "AutoResolve")
    assert _update(provider, item_id, None, ALWAYS_OVERWRITE)[0][0] == item_id
    # A stale change key is a conflict under NeverOverwrite
    with pytest.raises(ews_errors.ErrorIrresolvableConflict):
        _update(provider, item_id, "CQAAABYAAAAstale", NEVER_OVERWRITE)
    assert categories_in_world(rig, 0, item_id) == ["X"]


def test_engine_writes_the_category_back_on_tracked_messages_only(engine: Engine) -> None:
    with ews_rig(seed=11, mailboxes=2, messages_per_mailbox=30) as rig:
        address = rig.world.mailbox_address(0)
        # GIVEN a CRM contact who wrote to mailbox 0, and write-back switched on
        inbound = [
            rig.world.plan.render(rig.world.ids.decode(copy["id"])[1])  # type: ignore[index]
            for truth in rig.world.truth_messages((INBOX,))
            for copy in truth["copies"]
            if copy["mailbox"] == address and copy["folder"] == INBOX and not truth["malformed"]
        ]
        contact = next(
            m.sender.address for m in inbound if m.inbound and m.sensitivity != "private"
        )
        sessions = make_session_factory(engine)
        with session_scope(sessions, write=True) as session:
            make_contact(session, emails=[contact])
            mailbox_id = make_mailbox(session, address=address, provider="ews").id
        sync = SyncEngine(
            sessions,
            default_linker,
            InternalParties.of([address.rpartition("@")[2]], [address]),
            EngineSettings(write_back_category=True, category_name=TAG),
        )
        # WHEN the mailbox is synced
        outcome = sync.sync_mailbox(mailbox_id, rig.provider(0, page_size=20))
        assert outcome.kind == OutcomeKind.OK, outcome
        # THEN in Exchange every live copy of a message with the contact carries the category,
        # and no other copy does
        tagged, untagged = set(), set()
        for truth in rig.world.truth_messages((INBOX, "sentitems")):
            ref = rig.world.ids.decode(truth["copies"][0]["id"])[1]  # type: ignore[index]
            message = rig.world.plan.render(ref)
            people = {p.address for p in (message.sender, *message.to, *message.cc)}
            for copy in truth["copies"]:
                if copy["mailbox"] != address or copy["removed"] or truth["malformed"]:
                    continue
                wanted = contact in people and message.sensitivity != "private"
                (tagged if wanted else untagged).add(copy["id"])
                assert (TAG in copy["categories"]) == wanted, (copy, message.subject)
        assert tagged and untagged
