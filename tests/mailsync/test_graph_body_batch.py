"""Bodies through ``$batch``: inner failures leave ids unfetched instead of failing the page,
and batches go out in parallel within the mailbox's request budget."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from mailsync.budget import BudgetLimits, InProcessBudget
from mailsync.providers.base import PermanentFailure
from mailsync.providers.graph.batch import parse_body_batch
from mailsync.providers.graph.driver import GraphProvider, GraphSyncSettings
from mailsync.providers.graph.transport import GraphTransport

GRAPH = "https://graph.example.test/v1.0"
MAILBOX = "a@example.test"


def _answer(position: int, status: int, **headers: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if status == 200:
        body = {
            "id": f"m{position}",
            "body": {"contentType": "text", "content": f"text {position}"},
        }
    return {"id": str(position), "status": status, "headers": headers, "body": body}


def test_inner_429_leaves_its_ids_unfetched_with_the_longest_retry_after() -> None:
    # GIVEN a batch of four where two inner requests were throttled
    ids = ["m0", "m1", "m2", "m3"]
    response = {
        "responses": [
            _answer(3, 429, **{"Retry-After": "2.128"}),
            _answer(0, 200),
            _answer(1, 429, **{"Retry-After": "7"}),
            _answer(2, 404),
        ]
    }
    # WHEN it is parsed
    fetch = parse_body_batch(response, ids)
    # THEN the answered bodies are kept, the deleted one has none, the throttled are unfetched
    assert fetch.bodies == {"m0": ("text 0", None), "m2": (None, None)}
    assert sorted(fetch.unfetched) == ["m1", "m3"]
    assert fetch.retry_after == 7.0
    assert not fetch.complete


def test_inner_5xx_and_unanswered_requests_are_temporary_not_fatal() -> None:
    # GIVEN one inner 500 and one request the response never answered
    response = {"responses": [_answer(0, 200), _answer(1, 500)]}
    # WHEN parsed
    fetch = parse_body_batch(response, ["m0", "m1", "m2"])
    # THEN both are unfetched, the failure is temporary (no Retry-After), m0 is kept
    assert fetch.bodies == {"m0": ("text 0", None)}
    assert sorted(fetch.unfetched) == ["m1", "m2"]
    assert fetch.retry_after is None and "HTTP 500" in fetch.temporary


def test_inner_refusal_that_retrying_cannot_cure_fails_the_call() -> None:
    # GIVEN an inner 403 (no permission on the mailbox)
    # WHEN parsed THEN it is a permanent failure naming the item
    with pytest.raises(PermanentFailure, match="m0: HTTP 403"):
        parse_body_batch({"responses": [_answer(0, 403)]}, ["m0"])


class StaticToken:
    def access_token(self) -> str:
        return "token"

    def refresh(self) -> str:
        return "token"


class _BatchServer:
    """Answers $batch; records how many were in flight at once; throttles batch ``throttle``."""

    def __init__(self, throttle: int | None = None) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.batches = 0
        self.throttle = throttle

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            number = self.batches
            self.batches += 1
        try:
            time.sleep(0.05)  # the server's time; lets parallel requests overlap
            inner = json.loads(request.content)["requests"]
            if number == self.throttle:
                return httpx.Response(429, headers={"Retry-After": "3"}, json={})
            answers = []
            for entry in inner:
                item_id = entry["url"].split("/messages/")[1].split("?")[0]
                answers.append(
                    {
                        "id": entry["id"],
                        "status": 200,
                        "body": {"body": {"contentType": "text", "content": item_id}},
                    }
                )
            return httpx.Response(200, json={"responses": answers})
        finally:
            with self.lock:
                self.in_flight -= 1


def _provider(server: _BatchServer, *, slots: int, fetch_ahead: bool = True) -> GraphProvider:
    transport = GraphTransport(
        client=httpx.Client(transport=httpx.MockTransport(server)),
        tokens=StaticToken(),
        graph_url=GRAPH,
        page_size=10,
        budget=InProcessBudget(BudgetLimits(max_concurrent_requests=slots)),
        mailbox=MAILBOX,
    )
    settings = GraphSyncSettings(calendar=False, fetch_ahead=fetch_ahead)
    return GraphProvider(MAILBOX, transport, settings)


def test_batches_go_out_in_parallel_up_to_the_budget_less_the_page_ahead() -> None:
    # GIVEN 140 bodies (7 batches) and a budget of 4 requests, one held by the page ahead
    server = _BatchServer()
    provider = _provider(server, slots=4)
    ids = [f"m{i}" for i in range(140)]
    # WHEN they are fetched
    fetch = provider.fetch_bodies("inbox", ids)
    # THEN every body came back, with at most 3 batches in flight and never more
    assert fetch.complete and set(fetch.bodies) == set(ids)
    assert fetch.bodies["m7"] == ("m7", None)
    assert server.batches == 7
    assert server.most_in_flight == 3


def test_one_slot_budget_sends_one_batch_at_a_time() -> None:
    # GIVEN a budget of one request in flight (no page fetched ahead then)
    server = _BatchServer()
    provider = _provider(server, slots=1, fetch_ahead=False)
    # WHEN 60 bodies are fetched THEN the three batches went out one after another
    assert provider.fetch_bodies("inbox", [f"m{i}" for i in range(60)]).complete
    assert server.most_in_flight == 1


def test_a_throttled_batch_stops_further_waves_and_reports_the_rest_unfetched() -> None:
    # GIVEN 8 batches, 2 per wave, and the server throttling the second batch (429, 3 s)
    server = _BatchServer(throttle=1)
    provider = _provider(server, slots=3)
    ids = [f"m{i}" for i in range(160)]
    # WHEN the bodies are fetched
    fetch = provider.fetch_bodies("inbox", ids)
    # THEN the first wave's other batch is kept, no further wave was sent,
    # and everything else is unfetched, to come back after 3 s
    assert server.batches == 2
    assert len(fetch.bodies) == 20
    assert set(fetch.unfetched) == set(ids) - set(fetch.bodies)
    assert fetch.retry_after == 3.0
