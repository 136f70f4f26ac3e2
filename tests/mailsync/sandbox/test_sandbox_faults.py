"""Each fault kind is observable by a client, scripted or at a seeded random rate."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from mailsync.sandbox import SandboxConfig, SandboxHandle
from mailsync.sandbox.faults import FaultInjector, FaultKind

Fresh = Callable[..., AbstractContextManager[SandboxHandle]]


def test_throttle_and_unavailable_carry_retry_after(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        mailbox = sb.mailboxes[0]
        url = graph.delta_url(mailbox, "inbox")
        sb.script_fault("429", mailbox=mailbox, folder="inbox", retry_after=2.128)
        sb.script_fault("503", mailbox=mailbox, folder="inbox")
        throttled = graph.get(url, 10)
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "2.128"
        unavailable = graph.get(url, 10)
        assert unavailable.status_code == 503
        assert float(unavailable.headers["Retry-After"]) >= 0
        assert graph.get(url, 10).status_code == 200
        assert sb.stats()["faults"] == {"429": 1, "503": 1}


def test_gone_hits_only_delta_tokens_and_names_a_fresh_start(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        mailbox = sb.mailboxes[0]
        sb.script_fault("410", mailbox=mailbox)
        # GIVEN a scripted 410: the initial round is not affected
        items, link, _ = graph.walk(graph.delta_url(mailbox, "sentitems"), 999)
        # WHEN the deltaLink is used THEN 410 with a Location that restarts the folder
        gone = graph.get(link, 999)
        assert gone.status_code == 410
        assert gone.json()["error"]["code"] == "SyncStateNotFound"
        restart, _, _ = graph.walk(gone.headers["Location"], 999)
        assert {i["id"] for i in restart} == {i["id"] for i in items}
        # AND an evicted sync state gives 410 too
        sb.expire_delta_tokens(mailbox, "sentitems")
        assert graph.get(link, 999).status_code == 410


def test_unauthorized_once_then_the_same_token_works(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        url = graph.delta_url(sb.mailboxes[1], "inbox")
        sb.script_fault("401", endpoint="delta")
        assert graph.get(url).status_code == 401
        assert graph.get(url).status_code == 200


def test_dropped_connection_breaks_mid_response(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        url = graph.delta_url(sb.mailboxes[0], "inbox")
        sb.script_fault("drop", mailbox=sb.mailboxes[0])
        with pytest.raises(httpx.TransportError):
            graph.get(url, 50)
        assert graph.get(url, 50).status_code == 200


def test_batch_inner_requests_are_throttled_on_their_own(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        mailbox = sb.mailboxes[0]
        items = graph.get(graph.delta_url(mailbox, "inbox"), 3).json()["value"]
        sb.script_fault("429", endpoint="batch-item", retry_after=1.5)
        body = {
            "requests": [
                {"id": str(i), "method": "GET", "url": f"/users/{mailbox}/messages/{it['id']}"}
                for i, it in enumerate(items)
            ]
        }
        response = graph.http.post(f"{sb.graph_url}/$batch", json=body, headers=graph.headers())
        assert response.status_code == 200
        statuses = sorted(r["status"] for r in response.json()["responses"])
        assert statuses == [200, 200, 429]
        throttled = next(r for r in response.json()["responses"] if r["status"] == 429)
        assert throttled["headers"]["Retry-After"] == "1.5"


def test_malformed_items_are_fixed_per_item_and_named_in_truth(
    fresh: Fresh, graph_for: Any
) -> None:
    with fresh(malformed_rate=0.05) as sb:
        graph = graph_for(sb)
        mailbox = sb.mailboxes[0]
        items, _, _ = graph.walk(graph.delta_url(mailbox, "inbox"), 999)
        broken = {
            i["id"]
            for i in items
            if not isinstance(i.get("subject"), str)
            or not isinstance(i.get("toRecipients"), list)
            or not isinstance(i.get("from"), dict)
            or not isinstance(i["from"].get("emailAddress"), dict)
            or not isinstance(i.get("sentDateTime"), str)
            or i.get("receivedDateTime") == "last tuesday"
        }
        expected = {
            c["id"]
            for m in sb.truth_messages(synced=("inbox",))
            if m["malformed"]
            for c in m["copies"]
            if c["mailbox"] == mailbox and not c["removed"]
        }
        assert broken and broken == expected
        assert len(broken) < len(items)


def test_random_faults_follow_the_seed() -> None:
    def sequence(seed: int) -> list[str | None]:
        injector = FaultInjector(seed=seed, rate=0.5)
        decisions = [
            injector.decide(mailbox="m", folder="inbox", endpoint="delta", has_delta_token=True)
            for _ in range(200)
        ]
        return [d.kind.value if d else None for d in decisions]

    assert sequence(3) == sequence(3)
    assert sequence(3) != sequence(4)
    kinds = {k for k in sequence(3) if k}
    assert kinds == {k.value for k in FaultKind}


def test_random_rate_over_http_counts_its_faults(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        sb.set_faults(1.0, kinds=["503"])
        url = graph.delta_url(sb.mailboxes[0], "inbox")
        assert {graph.get(url).status_code for _ in range(5)} == {503}
        sb.clear_faults()
        assert graph.get(url).status_code == 200
        assert sb.stats()["faults"] == {"503": 5}


def test_bad_fault_settings_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="fault rate must be between 0 and 1"):
        FaultInjector(rate=1.5)
    with pytest.raises(ValueError, match="'teapot' is not a valid FaultKind"):
        SandboxConfig(fault_kinds=("teapot",)).validate()
    with pytest.raises(ValueError, match="only listens on loopback"):
        SandboxConfig(host="0.0.0.0").validate()


def test_concurrency_limit_answers_429(fresh: Fresh, graph_for: Any) -> None:
    import concurrent.futures

    with fresh(max_concurrency_per_mailbox=1, messages_per_mailbox=2000) as sb:
        graph = graph_for(sb)
        url = graph.delta_url(sb.mailboxes[0], "inbox")
        clients = [sb.httpx_client(timeout=30) for _ in range(6)]
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            statuses = list(
                pool.map(lambda c: c.get(url, headers=graph.headers(999)).status_code, clients * 3)
            )
        assert 200 in statuses
        stats = sb.stats()
        assert stats["max_in_flight"][sb.mailboxes[0]] >= 1
        if 429 in statuses:
            assert stats["max_in_flight"][sb.mailboxes[0]] > 1
