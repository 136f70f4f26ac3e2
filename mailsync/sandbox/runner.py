"""Running a sandbox: blocking ``serve()`` for the CLI, ``running_sandbox()`` for tests.

Tests talk to the sandbox only through :class:`SandboxHandle`, which uses the
admin HTTP API, so the same test works whether the sandbox runs in a thread of
the test process (fast, the default) or in a subprocess (so a bench measures
only the sync's memory, or a chaos test can SIGKILL the sync and not the server).
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import requests

from mailsync.sandbox.server import SandboxConfig, SandboxServer

READY_PREFIX = "SANDBOX-READY "
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True, slots=True)
class BesideService:
    """A service started beside the sandbox: what it adds to the ready info, how it stops."""

    info: dict[str, Any]
    stop: Callable[[], None]


def serve(
    port: int = 0,
    seed: int = 1,
    mailboxes: int = 3,
    messages_per_mailbox: int = 500,
    fault_rate: float = 0.0,
    *,
    ready: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
    beside: Callable[[SandboxServer], BesideService] | None = None,
    **options: Any,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``stop`` is set); ``ready`` gets the connection info.

    ``options`` are further :class:`SandboxConfig` fields (fault_kinds,
    malformed_rate, max_page_size, token_lifetime, client_secret, ...).
    ``beside`` starts another service on the same world (the EWS endpoint);
    its info joins the ready info and it stops with the sandbox.
    """
    config = SandboxConfig(
        port=port,
        seed=seed,
        mailboxes=mailboxes,
        messages_per_mailbox=messages_per_mailbox,
        fault_rate=fault_rate,
        **options,
    )
    server = SandboxServer(config)
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    server.start()
    extra = beside(server) if beside is not None else None
    try:
        if ready is not None:
            ready({**server.info(), **(extra.info if extra else {})})
        stop.wait()
    finally:
        if extra is not None:
            extra.stop()
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class SandboxHandle:
    """Connection details plus ground truth, mutations, faults and counters of one sandbox."""

    base_url: str
    ca_path: str
    tenant: str
    client_id: str
    client_secret: str
    mailboxes: list[str]
    info: dict[str, Any]
    server: SandboxServer | None = None  # set when the sandbox runs in this process
    _client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._client = httpx.Client(base_url=self.base_url, verify=self.ssl_context(), timeout=60)

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def close(self) -> None:
        self._client.close()

    # ---- clients ---------------------------------------------------------------------------

    def requests_session(self) -> requests.Session:
        """A session trusting the sandbox CA, for msal's ``http_client=``.

        ``trust_env`` is off because requests lets ``REQUESTS_CA_BUNDLE`` /
        ``CURL_CA_BUNDLE`` silently override ``session.verify``.
        """
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_path
        return session

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts only the sandbox CA (what httpx's ``verify=`` wants)."""
        return ssl.create_default_context(cafile=self.ca_path)

    def httpx_client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(verify=self.ssl_context(), **kwargs)

    def msal_app(self, **kwargs: Any) -> Any:
        """A real ``msal.ConfidentialClientApplication`` wired to this sandbox."""
        import msal

        kwargs.setdefault("client_credential", self.client_secret)
        return msal.ConfidentialClientApplication(
            self.client_id,
            authority=self.authority,
            http_client=self.requests_session(),
            instance_discovery=False,
            **kwargs,
        )

    def app_token(self) -> str:
        result = self.msal_app().acquire_token_for_client(scopes=[GRAPH_SCOPE])
        if "access_token" not in result:
            raise RuntimeError(f"sandbox refused a token: {result.get('error_description')}")
        return str(result["access_token"])

    # ---- admin API ----------------------------------------------------------------------------

    def _get(self, path: str, **params: Any) -> Any:
        response = self._client.get(f"/_sandbox/{path}", params=params)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, **data: Any) -> Any:
        response = self._client.post(f"/_sandbox/{path}", json=data)
        if response.status_code >= 400:
            raise SandboxAdminError(response.status_code, response.text)
        return response.json()

    def company(self) -> dict[str, Any]:
        return dict(self._get("company"))

    def stats(self) -> dict[str, Any]:
        return dict(self._get("stats"))

    def subscriptions(self) -> dict[str, Any]:
        """Graph subscriptions the sandbox holds and its notification counters."""
        return dict(self._get("subscriptions"))

    def send_lifecycle(self, subscription_id: str, event: str) -> None:
        """Have the sandbox send a lifecycle notification (subscriptionRemoved, missed,
        reauthorizationRequired) for one of its subscriptions, as Graph would."""
        self._post("subscriptions/lifecycle", id=subscription_id, event=event)

    def reset_stats(self) -> None:
        self._post("stats/reset")

    def requests_log(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self._get("requests", since=since)["requests"])

    def truth_messages(
        self, synced: tuple[str, ...] = ("inbox", "sentitems"), page: int = 5000
    ) -> Iterator[dict[str, Any]]:
        offset: int | None = 0
        while offset is not None:
            body = self._get("truth/messages", offset=offset, limit=page, synced=",".join(synced))
            yield from body["items"]
            offset = body["next_offset"]

    def truth_meetings(self) -> list[dict[str, Any]]:
        return list(self._get("truth/meetings")["items"])

    def set_faults(
        self, rate: float, kinds: list[str] | None = None, max_retry_after: float | None = None
    ) -> None:
        data: dict[str, Any] = {"rate": rate}
        if kinds is not None:
            data["kinds"] = kinds
        if max_retry_after is not None:
            data["max_retry_after"] = max_retry_after
        self._post("faults", **data)

    def script_fault(
        self,
        kind: str,
        count: int = 1,
        *,
        mailbox: str | None = None,
        folder: str | None = None,
        endpoint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Make the next ``count`` matching requests fail with ``kind`` (429/503/410/401/drop).

        ``endpoint`` is ``delta``, ``graph`` (single items), ``batch`` or ``batch-item``.
        """
        self._post(
            "faults/script",
            kind=kind,
            count=count,
            mailbox=mailbox,
            folder=folder,
            endpoint=endpoint,
            retry_after=retry_after,
        )

    def clear_faults(self) -> None:
        self._post("faults/clear")

    def deliver(
        self,
        mailbox: str,
        count: int = 1,
        *,
        kind: str | None = None,
        reply_to_kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """New mail; returns each message's ground truth. ``reply_to_kind`` continues a thread."""
        body = self._post(
            "mail/deliver", mailbox=mailbox, count=count, kind=kind, reply_to_kind=reply_to_kind
        )
        return list(body["messages"])

    def move(self, mailbox: str, item_id: str, folder: str) -> None:
        self._post("mail/move", mailbox=mailbox, id=item_id, folder=folder)

    def delete(self, mailbox: str, item_id: str, *, hard: bool = False) -> None:
        self._post("mail/delete", mailbox=mailbox, id=item_id, hard=hard)

    def set_categories(self, mailbox: str, item_id: str, categories: list[str]) -> None:
        self._post("mail/categories", mailbox=mailbox, id=item_id, categories=categories)

    def update_meeting(
        self, uid: str, *, subject: str | None = None, shift_minutes: float = 0
    ) -> None:
        self._post("meetings/update", uid=uid, subject=subject, shift_minutes=shift_minutes)

    def cancel_meeting(self, uid: str) -> None:
        self._post("meetings/cancel", uid=uid)

    def revoke_tokens(self) -> int:
        return int(self._post("tokens/revoke")["revoked"])

    def expire_delta_tokens(self, mailbox: str, folder: str | None = None) -> None:
        self._post("delta/expire", mailbox=mailbox, folder=folder)

    def approve_device_code(
        self, user_code: str, mailbox: str | None = None, *, deny: bool = False
    ) -> None:
        data: dict[str, Any] = {"user_code": user_code, "deny": deny}
        if mailbox is not None:
            data["mailbox"] = mailbox
        self._post("device/approve", **data)


class SandboxAdminError(RuntimeError):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"sandbox admin call failed with {status}: {text}")
        self.status = status


def _handle_from_info(info: dict[str, Any], server: SandboxServer | None) -> SandboxHandle:
    return SandboxHandle(
        base_url=info["base_url"],
        ca_path=info["ca_path"],
        tenant=info["tenant"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        mailboxes=list(info["mailboxes"]),
        info=info,
        server=server,
    )


@contextmanager
def running_sandbox(*, in_process: bool = True, **config: Any) -> Iterator[SandboxHandle]:
    """A started sandbox for the length of a ``with`` block.

    ``config`` takes :class:`SandboxConfig` fields (seed, mailboxes,
    messages_per_mailbox, fault_rate, max_page_size, token_lifetime, ...).
    With ``in_process=False`` the sandbox runs as ``python -m mailsync.sandbox
    serve`` in its own process.
    """
    if in_process:
        server = SandboxServer(SandboxConfig(**config))
        server.start()
        handle = _handle_from_info(server.info(), server)
        try:
            yield handle
        finally:
            handle.close()
            server.stop()
        return
    with _subprocess_sandbox(config) as handle:
        yield handle


@contextmanager
def _subprocess_sandbox(config: dict[str, Any]) -> Iterator[SandboxHandle]:
    args = [sys.executable, "-m", "mailsync.sandbox", "serve"]
    for key, value in config.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:
                args.append(flag)
        elif isinstance(value, datetime):
            args += [flag, value.isoformat()]
        elif isinstance(value, tuple | list):
            args += [flag, ",".join(str(v) for v in value)]
        elif value is not None:
            args += [flag, str(value)]
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert process.stdout is not None
        info: dict[str, Any] | None = None
        for line in process.stdout:
            if line.startswith(READY_PREFIX):
                info = json.loads(line[len(READY_PREFIX) :])
                break
        if info is None:
            raise RuntimeError(f"sandbox process exited with {process.wait()} before it was ready")
        handle = _handle_from_info(info, None)
        try:
            yield handle
        finally:
            handle.close()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def write_crm(directory: Path, *, seed: int = 1, mailboxes: int = 3) -> dict[str, Path]:
    """The CRM CSVs of the company a sandbox with this seed and size serves."""
    from mailsync.sandbox.company import generate_company, write_crm_csv

    return write_crm_csv(generate_company(seed, mailboxes=mailboxes), directory)
