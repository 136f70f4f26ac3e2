"""Shared sandboxes for the sandbox's own tests.

``shared_sandbox`` is read-only (module scope keeps the suite fast); tests
that mutate mailboxes or faults start their own small one with ``fresh``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mailsync.sandbox import SandboxHandle, running_sandbox

ANCHOR = datetime(2025, 6, 2, tzinfo=UTC)
IMMUTABLE = 'IdType="ImmutableId"'


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=11, mailboxes=3, messages_per_mailbox=300, anchor=ANCHOR) as sb:
        yield sb


@pytest.fixture
def fresh() -> Callable[..., AbstractContextManager[SandboxHandle]]:
    def start(**config: Any) -> AbstractContextManager[SandboxHandle]:
        config.setdefault("seed", 5)
        config.setdefault("mailboxes", 2)
        config.setdefault("messages_per_mailbox", 120)
        config.setdefault("anchor", ANCHOR)
        return running_sandbox(**config)

    return start


class GraphClient:
    """A thin test client: bearer token, Prefer header, delta walking."""

    def __init__(self, sandbox: SandboxHandle, *, immutable: bool = True) -> None:
        self.sandbox = sandbox
        self.token = sandbox.app_token()
        self.http = sandbox.httpx_client(timeout=30)
        self.immutable = immutable

    def headers(self, page_size: int | None = None) -> dict[str, str]:
        prefer = [IMMUTABLE] if self.immutable else []
        if page_size is not None:
            prefer.append(f"odata.maxpagesize={page_size}")
        headers = {"Authorization": f"Bearer {self.token}"}
        if prefer:
            headers["Prefer"] = ", ".join(prefer)
        return headers

    def get(self, url: str, page_size: int | None = None, **params: Any) -> httpx.Response:
        return self.http.get(url, headers=self.headers(page_size), params=params or None)

    def delta_url(self, mailbox: str, folder: str) -> str:
        return f"{self.sandbox.graph_url}/users/{mailbox}/mailFolders/{folder}/messages/delta"

    def walk(
        self, url: str, page_size: int | None = None, **params: Any
    ) -> tuple[list[dict[str, Any]], str, int]:
        """All items of a delta round, its deltaLink, and the requests it took."""
        items: list[dict[str, Any]] = []
        requests = 0
        response = self.get(url, page_size, **params)
        while True:
            requests += 1
            assert response.status_code == 200, response.text
            body = response.json()
            items.extend(body["value"])
            if "@odata.deltaLink" in body:
                return items, body["@odata.deltaLink"], requests
            response = self.get(body["@odata.nextLink"], page_size)


@pytest.fixture(scope="module")
def shared_graph(shared_sandbox: SandboxHandle) -> GraphClient:
    return GraphClient(shared_sandbox)


@pytest.fixture
def graph_for() -> Callable[..., GraphClient]:
    return GraphClient
