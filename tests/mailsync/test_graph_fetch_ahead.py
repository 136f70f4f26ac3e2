"""The Graph driver fetches the next delta page ahead only when the mailbox budget allows two
requests in flight (the page ahead plus the engine's $batch of bodies)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from mailsync.budget import BudgetLimits, InProcessBudget
from mailsync.config import load_settings
from mailsync.providers.graph.driver import GraphProvider, GraphSyncSettings
from mailsync.providers.graph.transport import GraphTransport
from mailsync.runtime import graph_factory

GRAPH = "https://graph.example.test/v1.0"
PAGES = 4


class StaticToken:
    def access_token(self) -> str:
        return "token"

    def refresh(self) -> str:
        return "token"


def _delta_server(threads: list[str]) -> httpx.MockTransport:
    """PAGES pages of one message each; notes the thread each request came from."""

    def answer(request: httpx.Request) -> httpx.Response:
        threads.append(threading.current_thread().name)
        page = int(request.url.params.get("$skiptoken", "0"))
        base = f"{GRAPH}/users/a@example.test/mailFolders/inbox/messages/delta"
        body: dict[str, object] = {"value": [{"id": f"m{page}", "@removed": {"reason": "deleted"}}]}
        if page + 1 < PAGES:
            body["@odata.nextLink"] = f"{base}?$skiptoken={page + 1}"
        else:
            body["@odata.deltaLink"] = f"{base}?$deltatoken=end"
        return httpx.Response(200, content=json.dumps(body).encode())

    return httpx.MockTransport(answer)


def _provider(fetch_ahead: bool, threads: list[str]) -> GraphProvider:
    transport = GraphTransport(
        client=httpx.Client(transport=_delta_server(threads)),
        tokens=StaticToken(),
        graph_url=GRAPH,
        page_size=10,
        budget=InProcessBudget(BudgetLimits(max_concurrent_requests=1)),
        mailbox="a@example.test",
    )
    settings = GraphSyncSettings(calendar=False, fetch_ahead=fetch_ahead)
    return GraphProvider("a@example.test", transport, settings)


@pytest.mark.parametrize("fetch_ahead", [True, False])
def test_pages_are_the_same_either_way_and_only_fetch_ahead_uses_a_helper_thread(
    fetch_ahead: bool,
) -> None:
    threads: list[str] = []
    # WHEN a folder's delta is read with or without fetching ahead
    pages = list(_provider(fetch_ahead, threads).changes("inbox", None))
    # THEN the same pages come, the last one carrying the deltaLink
    assert [[r.provider_item_id for r in p.removals] for p in pages] == [
        [f"m{i}"] for i in range(PAGES)
    ]
    assert [p.is_last for p in pages] == [False] * (PAGES - 1) + [True]
    # AND the requests left from a helper thread exactly when fetching ahead
    caller = threading.current_thread().name
    assert all((name != caller) is fetch_ahead for name in threads), threads


@pytest.mark.parametrize(("in_flight", "expected"), [(1, False), (2, True), (4, True)])
def test_fetch_ahead_follows_the_mailbox_concurrency_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_flight: int, expected: bool
) -> None:
    monkeypatch.setenv("MAILSYNC_TEST_FETCH_AHEAD_SECRET", "not-a-real-secret")
    # GIVEN a config allowing `in_flight` concurrent requests per mailbox
    config = tmp_path / "mailsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
        '[tenant]\ntenant_id = "contoso.onmicrosoft.com"\n'
        'client_id = "11111111-2222-3333-4444-555555555555"\n'
        'client_secret_env = "MAILSYNC_TEST_FETCH_AHEAD_SECRET"\n'
        f"[daemon]\nmailbox_max_concurrent_requests = {in_flight}\n"
        '[[mailboxes]]\naddress = "a@example.test"\n',
        encoding="utf-8",
    )
    # WHEN the Graph factory is built THEN it fetches ahead only with room for two requests
    assert graph_factory(load_settings(config)).sync.fetch_ahead is expected
