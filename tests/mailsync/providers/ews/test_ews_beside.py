"""`sandbox serve --ews-port`: the EWS endpoint beside the Graph sandbox, one world for both."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mailsync.providers.ews import (
    EwsConnection,
    EwsConnectionSettings,
    EwsProvider,
    EwsSyncSettings,
)
from mailsync.sandbox.ews.beside import ews_beside
from mailsync.sandbox.mailplan import INBOX
from mailsync.sandbox.runner import serve


def test_serve_with_ews_serves_the_sandbox_world_to_the_driver() -> None:
    ready: list[dict[str, Any]] = []
    got = threading.Event()
    stop = threading.Event()

    def on_ready(info: dict[str, Any]) -> None:
        ready.append(info)
        got.set()

    # GIVEN the sandbox served with the EWS endpoint beside it
    thread = threading.Thread(
        target=serve,
        kwargs={
            "seed": 4,
            "mailboxes": 1,
            "messages_per_mailbox": 30,
            "ready": on_ready,
            "stop": stop,
            "beside": ews_beside(0, password="pw-for-test"),
        },
        daemon=True,
    )
    thread.start()
    try:
        assert got.wait(30), "the sandbox did not become ready"
        info = ready[0]
        ews = info["ews"]
        # THEN the ready info says how to reach EWS, on the sandbox's own CA
        assert ews["url"].startswith("https://127.0.0.1:") and ews["ca_path"] == info["ca_path"]
        assert ews["password"] == "pw-for-test"
        # AND the driver reads the mailbox the Graph side serves
        connection = EwsConnection(
            EwsConnectionSettings(
                url=ews["url"],
                auth="ntlm",
                impersonation=True,
                username=ews["username"],
                password=ews["password"],
                ca_bundle=Path(ews["ca_path"]),
            )
        )
        address = info["mailboxes"][0]
        provider = EwsProvider(
            address, connection, EwsSyncSettings(mail_folders=(INBOX,), calendar=False)
        )
        items = [i for p in provider.changes(INBOX, None) for i in p.upserts]
        assert items and all(i.folder == INBOX for i in items)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive(), "the sandbox and its EWS endpoint stop together"
