"""HTTP to Graph: the headers every request needs, token refresh, error mapping.

Every request carries ``Prefer: odata.maxpagesize=N, IdType="ImmutableId"``:
Graph does not carry headers over to nextLink/deltaLink requests, and an id
fetched once without ImmutableId would make a move look like delete + create.
A 401 refreshes the token once and retries; a second 401 is ``AuthFailed``.
Connection failures and timeouts are ``TemporaryFailure``. Nothing here
sleeps: throttling is raised for the daemon to schedule around.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from mailsync.auth.tokens import TokenSource
from mailsync.budget import BudgetLimits, RequestBudget
from mailsync.providers.base import AuthFailed, PermanentFailure, TemporaryFailure
from mailsync.providers.graph.errors import error_for_response

REQUEST_TIMEOUT = httpx.Timeout(60.0, connect=15.0)


def new_http_client(ca_bundle: Path | None) -> httpx.Client:
    """One pooled client per process; thread-safe, shared by every mailbox."""
    verify: ssl.SSLContext | bool = True
    if ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(ca_bundle))
    return httpx.Client(verify=verify, timeout=REQUEST_TIMEOUT, follow_redirects=False)


class GraphTransport:
    """Sends one mailbox's requests; counts them by kind for tests and the bench."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        tokens: TokenSource,
        graph_url: str,
        page_size: int,
        budget: RequestBudget | None = None,
        mailbox: str = "",
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        # Spent before each request leaves; over budget raises Throttled (mailsync.budget).
        self._budget = budget
        self._mailbox = mailbox
        self._origin = _origin(self.graph_url)
        self._client = client
        self._tokens = tokens
        self._prefer = f'odata.maxpagesize={page_size}, IdType="ImmutableId"'
        self.requests: Counter[str] = Counter()
        # Delta pages are fetched ahead in a helper thread while bodies and
        # categories go out from the engine's thread: the tally is shared.
        self._requests_lock = threading.Lock()

    @property
    def max_concurrent_requests(self) -> int:
        """Requests this mailbox may have in flight at once (Graph's own limit without a budget)."""
        limits = self._budget.limits if self._budget is not None else BudgetLimits()
        return max(1, limits.max_concurrent_requests)

    def get_json(self, url: str, *, folder: str, kind: str) -> dict[str, Any]:
        return self._send("GET", url, folder=folder, kind=kind, body=None)

    def post_json(
        self, url: str, body: dict[str, Any], *, folder: str, kind: str
    ) -> dict[str, Any]:
        return self._send("POST", url, folder=folder, kind=kind, body=body)

    def patch_json(
        self, url: str, body: dict[str, Any], *, folder: str, kind: str
    ) -> dict[str, Any]:
        return self._send("PATCH", url, folder=folder, kind=kind, body=body)

    def delete(self, url: str, *, folder: str, kind: str) -> None:
        self._send("DELETE", url, folder=folder, kind=kind, body=None)

    def _send(
        self, method: str, url: str, *, folder: str, kind: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        if _origin(url) != self._origin:
            # A cursor is a URL we stored; never send the bearer token anywhere else.
            raise PermanentFailure(f"refusing to call {url!r}: not on {self._origin}")
        token = self._tokens.access_token()
        response = self._attempt(method, url, token, body, kind)
        if response.status_code == 401:
            token = self._tokens.refresh()
            response = self._attempt(method, url, token, body, kind)
            if response.status_code == 401:
                raise AuthFailed(f"Graph refused a fresh token (HTTP 401) for {kind} {folder}")
        if response.status_code >= 400:
            raise error_for_response(response, folder)
        if not response.content:
            return {}
        try:
            parsed = json.loads(response.content)
        except ValueError as exc:
            raise TemporaryFailure(f"{kind} {folder}: response is not JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise TemporaryFailure(f"{kind} {folder}: response is not a JSON object")
        return parsed

    def _attempt(
        self, method: str, url: str, token: str, body: dict[str, Any] | None, kind: str
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "Prefer": self._prefer,
            "Accept": "application/json",
        }
        if self._budget is None:
            return self._request(method, url, headers, body, kind)
        with self._budget.request(self._mailbox):
            return self._request(method, url, headers, body, kind)

    def _request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        kind: str,
    ) -> httpx.Response:
        with self._requests_lock:
            self.requests[kind] += 1
        try:
            return self._client.request(method, url, headers=headers, json=body)
        except httpx.TransportError as exc:
            raise TemporaryFailure(f"{method} {kind}: {type(exc).__name__}: {exc}") from exc


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
