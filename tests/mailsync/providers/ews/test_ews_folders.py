"""Folders that are no EWS distinguished folder: Outlook's Archive and user folders by path.

GIVEN the endpoint's folder tree (the world's archive placed as Outlook's
"Archive", or as a user folder "Inbox/Customers"), WHEN the driver syncs the
configured folder key, THEN it finds the folder with FindFolder under
msgfolderroot once, syncs exactly the world's items in it, and names the
missing level when a path does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailsync.providers.base import ChangePage, PermanentFailure
from mailsync.providers.ews import EwsProvider, EwsSyncSettings
from mailsync.providers.ews.connection import EwsConnection
from tests.mailsync.providers.ews.ews_support import ANCHOR, EwsRig, ews_rig

ARCHIVE = "archive"


@pytest.fixture(scope="module")
def rig() -> Iterator[EwsRig]:
    """The world's archive as Outlook's "Archive"; tests here leave the world as it was."""
    with ews_rig(messages_per_mailbox=60) as r:
        yield r


def provider(rig: EwsRig, folders: tuple[str, ...], connection: EwsConnection) -> EwsProvider:
    return EwsProvider(
        rig.world.mailbox_address(0),
        connection,
        EwsSyncSettings(mail_folders=folders, calendar=False, page_size=30),
        now=ANCHOR,
    )


def world_archive(rig: EwsRig) -> set[str]:
    """Provider ids of the well-formed messages in mailbox 0's archive now."""
    address = rig.world.mailbox_address(0)
    return {
        copy["id"]
        for truth in rig.world.truth_messages((ARCHIVE,))
        for copy in truth["copies"]
        if copy["mailbox"] == address and copy["folder"] == ARCHIVE and not truth["malformed"]
    }


def synced(pages: list[ChangePage]) -> set[str]:
    return {i.provider_item_id for p in pages for i in p.upserts}


def test_archive_is_outlooks_archive_folder_found_once_per_connection(rig: EwsRig) -> None:
    connection = rig.connection()
    finds = rig.requests("FindFolder")
    # GIVEN [sync] folders with Graph's "archive", which EWS has no distinguished id for
    archive = provider(rig, (ARCHIVE,), connection)
    assert world_archive(rig), "the world keeps mail in the archive"
    # WHEN it is synced
    pages = list(archive.changes(ARCHIVE, None))
    # THEN the items are the world's archive, found by one FindFolder under msgfolderroot
    assert synced(pages) == world_archive(rig)
    assert rig.requests("FindFolder") == finds + 1
    # AND an idle cycle of a new run on the same connection is one SyncFolderItems
    before = rig.requests("SyncFolderItems")
    again = list(provider(rig, (ARCHIVE,), connection).changes(ARCHIVE, pages[-1].next_cursor))
    assert not synced(again) and rig.requests("FindFolder") == finds + 1
    assert rig.requests("SyncFolderItems") == before + 1


def test_user_folder_path_is_walked_level_by_level() -> None:
    # GIVEN the world's archive filed by the user as Inbox/Customers
    with ews_rig(placements=((ARCHIVE, "Inbox/Customers"),), messages_per_mailbox=60) as rig:
        key = "inbox/customers"  # Outlook's names do not depend on case
        pages = list(provider(rig, (key,), rig.connection()).changes(key, None))
        # THEN one FindFolder per level finds it and its items are synced
        assert rig.requests("FindFolder") == 2
        assert synced(pages) == world_archive(rig)
        assert {p.folder for p in pages} == {key}
        # AND new mail filed there later arrives from the cursor
        moved = sorted(
            c["id"]
            for t in rig.world.truth_messages()
            for c in t["copies"]
            if c["mailbox"] == rig.world.mailbox_address(0)
            and c["folder"] == "inbox"
            and not t["malformed"]
        )[0]
        rig.world.move(0, rig.world.ids.decode(moved)[1], ARCHIVE)  # type: ignore[index]
        later = list(provider(rig, (key,), rig.connection()).changes(key, pages[-1].next_cursor))
        assert moved in synced(later)


def test_missing_folder_names_the_level_and_what_is_there(rig: EwsRig) -> None:
    with pytest.raises(PermanentFailure) as caught:
        list(provider(rig, ("Inbox/Nope",), rig.connection()).changes("Inbox/Nope", None))
    message = str(caught.value)
    assert "Inbox has no folder named 'Nope'" in message
    assert "extra_folders" in message


def test_a_folder_gone_since_it_was_found_is_looked_up_again(rig: EwsRig) -> None:
    connection = rig.connection()
    mailbox = rig.world.mailbox_address(0)
    # GIVEN a remembered folder id Exchange no longer has
    connection.folder_ids.put(mailbox, "Archive", "AQMkADgone")
    with pytest.raises(PermanentFailure):
        list(provider(rig, (ARCHIVE,), connection).changes(ARCHIVE, None))
    # WHEN the next run syncs it THEN the path is found again and the folder syncs
    pages = list(provider(rig, (ARCHIVE,), connection).changes(ARCHIVE, None))
    assert synced(pages) == world_archive(rig)
    assert connection.folder_ids.get(mailbox, "archive") not in (None, "AQMkADgone")


def test_distinguished_folders_need_no_lookup_even_when_empty(rig: EwsRig) -> None:
    finds = rig.requests("FindFolder")
    pages = list(provider(rig, ("drafts",), rig.connection()).changes("drafts", None))
    assert [p.is_last for p in pages] == [True] and not synced(pages)
    assert rig.requests("FindFolder") == finds
