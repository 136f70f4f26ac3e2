"""The sandbox's HTTPS server: identity, Graph v1.0 and the ``/_sandbox`` admin API.

Standard-library ``http.server`` over TLS, one thread per connection. It is
chosen over an ASGI server because fault injection needs the raw socket: a
"dropped connection" sends the headers and half the body, then closes.
Keep-alive connections are tracked so ``stop()`` ends them at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import ssl
import tempfile
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from mailsync.sandbox.auth import GRAPH_AUDIENCE, TlsFiles, TokenError, TokenIssuer, make_tls_files
from mailsync.sandbox.calendarplan import CALENDAR
from mailsync.sandbox.deltatoken import DeltaTokenCodec
from mailsync.sandbox.faults import (
    ALL_REQUEST_FAULTS,
    Fault,
    FaultInjector,
    FaultKind,
    ScriptedFault,
)
from mailsync.sandbox.graphapi import (
    GraphApi,
    GraphRequest,
    GraphResponse,
    GraphSettings,
    graph_error,
)
from mailsync.sandbox.identity import IdentityProvider, IdentitySettings
from mailsync.sandbox.mailplan import MAIL_FOLDERS, ThreadKind
from mailsync.sandbox.push import SubscriptionService
from mailsync.sandbox.stats import RequestStats
from mailsync.sandbox.world import DEFAULT_SYNCED_FOLDERS, SandboxError, World, WorldConfig

log = logging.getLogger(__name__)

MAX_BATCH = 20


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything a sandbox run is made of; the same config (and anchor) gives the same data."""

    seed: int = 1
    mailboxes: int = 3
    messages_per_mailbox: int = 500
    meetings_per_mailbox: int | None = None
    anchor: datetime | None = None
    host: str = "127.0.0.1"
    port: int = 0
    tenant: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    client_public_key_pem: bytes | None = None
    token_lifetime: float = 3600.0
    max_page_size: int = 999
    default_page_size: int = 10
    require_immutable_id: bool = False
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = tuple(k.value for k in ALL_REQUEST_FAULTS)
    max_retry_after: float = 2.0
    malformed_rate: float = 0.0
    max_concurrency_per_mailbox: int | None = None
    device_code_interval: int = 1
    device_code_pending_polls: int = 1
    state_dir: Path | None = None

    def validate(self) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the sandbox only listens on loopback, not {self.host!r}")
        if self.messages_per_mailbox < 0:
            raise ValueError("messages_per_mailbox must not be negative")
        if not self.max_page_size >= 1:
            raise ValueError("max_page_size must be at least 1")
        for kind in self.fault_kinds:
            FaultKind(kind)  # raises ValueError naming the bad kind
        if not 0.0 <= self.malformed_rate <= 1.0:
            raise ValueError("malformed_rate must be between 0 and 1")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], sandbox: SandboxServer, context: ssl.SSLContext
    ) -> None:
        self.sandbox = sandbox
        self.ssl_context = context
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # The handshake happens in the connection's own thread (on first read),
        # so one slow client cannot stall accept().
        wrapped = self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        with self.sockets_lock:
            self.open_sockets.add(wrapped)
        return wrapped, address

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_all(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
            self.open_sockets.clear()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                log.debug("socket already closed at shutdown")
            sock.close()


class SandboxServer:
    """Owns the world, the identity provider, faults and counters, and the listening socket."""

    def __init__(self, config: SandboxConfig) -> None:
        config.validate()
        self.config = config
        self.world = World(
            WorldConfig(
                seed=config.seed,
                mailboxes=config.mailboxes,
                messages_per_mailbox=config.messages_per_mailbox,
                meetings_per_mailbox=config.meetings_per_mailbox,
                anchor=config.anchor,
                malformed_rate=config.malformed_rate,
            )
        )
        self.tenant = config.tenant or str(uuid.UUID(int=config.seed * 7919 + 1, version=4))
        self.client_id = config.client_id or str(uuid.UUID(int=config.seed * 104729 + 3, version=4))
        self.client_secret = config.client_secret or secrets.token_urlsafe(24)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        state_dir = config.state_dir
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mailsync-sandbox-")
            state_dir = Path(self._tmp.name)
        self.tls: TlsFiles = make_tls_files(state_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.tls.cert_path), str(self.tls.key_path))
        self.httpd = _Server((config.host, config.port), self, context)
        self.port = self.httpd.server_address[1]
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.issuer = TokenIssuer(
            issuer=f"{self.base_url}/{self.tenant}/v2.0",
            tenant_id=self.tenant,
            lifetime=config.token_lifetime,
        )
        self.identity = IdentityProvider(
            IdentitySettings(
                base_url=self.base_url,
                tenant=self.tenant,
                client_id=self.client_id,
                client_secret=self.client_secret,
                client_public_key_pem=config.client_public_key_pem,
                device_code_interval=config.device_code_interval,
                device_code_pending_polls=config.device_code_pending_polls,
            ),
            self.issuer,
            self.world,
        )
        self.graph = GraphApi(
            self.world,
            GraphSettings(
                base_url=self.base_url,
                max_page_size=config.max_page_size,
                default_page_size=config.default_page_size,
                require_immutable_id=config.require_immutable_id,
            ),
            DeltaTokenCodec(secrets.token_bytes(32)),
        )
        self.faults = FaultInjector(
            seed=config.seed,
            rate=config.fault_rate,
            kinds=tuple(FaultKind(k) for k in config.fault_kinds),
            max_retry_after=config.max_retry_after,
        )
        self.stats = RequestStats()
        self.subscriptions = SubscriptionService(self.world, self.tenant)
        self._thread: threading.Thread | None = None

    def info(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "graph_url": f"{self.base_url}/v1.0",
            "authority": f"{self.base_url}/{self.tenant}",
            "ca_path": str(self.tls.ca_path),
            "tenant": self.tenant,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "jwks_uri": f"{self.base_url}/{self.tenant}/discovery/v2.0/keys",
            "issuer": self.issuer.issuer,
            "seed": self.config.seed,
            "anchor": self.world.anchor.isoformat(),
            "mailboxes": [u.email for u in self.world.users],
            "max_page_size": self.config.max_page_size,
        }

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"sandbox-{self.port}",
        )
        self._thread.start()

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.close_all()
        self.httpd.server_close()
        self.subscriptions.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ---- Graph with auth, counting and faults ------------------------------------------

    def authenticate(self, authorization: str) -> tuple[int | None, str | None]:
        """(principal mailbox for delegated tokens, error) for a bearer header."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None, "Access token is empty."
        try:
            claims = self.issuer.verify(token.strip(), GRAPH_AUDIENCE)
        except TokenError as exc:
            return None, exc.reason
        if "scp" in claims:
            return self.world.mailbox_index(str(claims["upn"])), None
        return None, None

    def locate(self, path: str) -> tuple[str | None, str | None]:
        """Mailbox address and folder a Graph path concerns, for counters and faults."""
        parts = [p for p in path.split("/") if p]
        mailbox = None
        if len(parts) >= 2 and parts[0] == "users":
            try:
                mailbox = self.world.mailbox_address(self.world.mailbox_index(parts[1]))
            except SandboxError:
                mailbox = parts[1]
        folder = None
        for i, part in enumerate(parts):
            if part.startswith("mailFolders"):
                if "('" in part:
                    folder = part.split("'")[1].lower()
                elif i + 1 < len(parts):
                    folder = parts[i + 1].lower()
            if part == "calendarView":
                folder = CALENDAR
        if folder is not None and folder not in (*MAIL_FOLDERS, CALENDAR):
            with contextlib.suppress(SandboxError):
                folder = self.graph._folder_key(self.world.mailbox_index(mailbox or ""), folder)
        return mailbox, folder

    def fault_response(
        self, fault: Fault, mailbox: str | None, folder: str | None
    ) -> GraphResponse:
        retry = f"{fault.retry_after:g}"
        if fault.kind == FaultKind.THROTTLE:
            response = graph_error(
                429, "TooManyRequests", "Application is over its MailboxConcurrency limit."
            )
            response.headers["Retry-After"] = retry
        elif fault.kind == FaultKind.UNAVAILABLE:
            response = graph_error(503, "ServiceUnavailable", "Service temporarily unavailable.")
            response.headers["Retry-After"] = retry
        elif fault.kind == FaultKind.GONE:
            response = graph_error(
                410, "SyncStateNotFound", "The sync state is not found (resyncRequired)."
            )
        else:
            response = graph_error(
                401, "InvalidAuthenticationToken", "Access token validation failure."
            )
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        response.mailbox, response.folder = mailbox, folder
        return response

    def add_location(self, response: GraphResponse) -> None:
        """410 names a fresh delta URL (with an empty delta token), as Graph does."""
        if response.status != 410 or response.mailbox is None or response.folder is None:
            return
        try:
            index = self.world.mailbox_index(response.mailbox)
        except SandboxError:
            return
        response.headers["Location"] = self.graph.delta_url(
            index, response.folder, "$deltatoken", ""
        )

    def run_graph(
        self, request: GraphRequest, endpoint: str, *, inner: bool
    ) -> tuple[GraphResponse, Fault | None]:
        mailbox, folder = self.locate(request.path)
        has_delta = bool(request.query.get("$deltatoken"))
        fault = self.faults.decide(
            mailbox=mailbox, folder=folder, endpoint=endpoint, has_delta_token=has_delta
        )
        if inner and fault is not None and fault.kind in (FaultKind.DROP, FaultKind.UNAUTHORIZED):
            fault = None  # a batch's inner requests fail only by status
        if request.query.get("$deltatoken") == "":
            request = replace(
                request, query={k: v for k, v in request.query.items() if k != "$deltatoken"}
            )
        key = mailbox or "-"
        delta = endpoint == "delta"
        concurrency = self.stats.enter(key, delta=delta)
        try:
            limit = self.config.max_concurrency_per_mailbox
            if fault is not None and fault.kind != FaultKind.DROP:
                response = self.fault_response(fault, mailbox, folder)
            elif limit is not None and mailbox is not None and concurrency > limit:
                response = graph_error(
                    429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
                )
                response.headers["Retry-After"] = "1"
                response.mailbox, response.folder = mailbox, folder
            else:
                response = self.graph.handle(request)
                response.mailbox = response.mailbox or mailbox
                response.folder = response.folder or folder
            self.add_location(response)
        finally:
            self.stats.leave(key, delta=delta)
        self.stats.record(
            method=request.method,
            path=request.path,
            endpoint=endpoint,
            mailbox=response.mailbox,
            folder=response.folder,
            status=response.status,
            fault=fault.kind.value if fault else None,
        )
        return response, fault

    def run_batch(
        self, body: bytes, principal: int | None, headers: dict[str, str]
    ) -> GraphResponse:
        try:
            payload = json.loads(body or b"{}")
            requests = payload["requests"]
            assert isinstance(requests, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return graph_error(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH:
            return graph_error(
                400, "BadRequest", f"Number of batch requests exceeds the limit of {MAX_BATCH}."
            )
        responses = []
        for item in requests:
            if not isinstance(item, dict) or "id" not in item or "url" not in item:
                return graph_error(
                    400, "BadRequest", "Each batch request needs an id, a method and a url."
                )
            split = urlsplit(str(item["url"]))
            path = "/" + unquote(split.path).lstrip("/")
            if path.startswith("/v1.0/"):
                path = path[len("/v1.0") :]
            inner_headers = {k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}
            inner_headers.setdefault("prefer", headers.get("prefer", ""))
            inner_body = json.dumps(item["body"]).encode() if item.get("body") is not None else b""
            request = GraphRequest(
                method=str(item.get("method", "GET")).upper(),
                path=path,
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers=inner_headers,
                body=inner_body,
                principal_mailbox=principal,
            )
            response, _ = self.run_graph(request, "batch-item", inner=True)
            response_headers = {"Content-Type": "application/json", **response.headers}
            responses.append(
                {
                    "id": str(item["id"]),
                    "status": response.status,
                    "headers": response_headers,
                    "body": response.body,
                }
            )
        responses.reverse()  # Graph answers in any order; never rely on it
        return GraphResponse(200, {"responses": responses})

    # ---- admin -------------------------------------------------------------------------------

    def admin(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(data, dict):
            return 400, {"error": "body must be a JSON object"}
        try:
            return self._admin(method, path, query, data)
        except SandboxError as exc:
            return exc.status, {"error": exc.message, "code": exc.code}
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": f"bad admin request: {exc!r}"}

    def _item(self, data: dict[str, Any]) -> tuple[int, int]:
        mailbox = self.world.mailbox_index(str(data["mailbox"]))
        decoded = self.world.ids.decode(str(data["id"]))
        if decoded is None or decoded[0] != mailbox:
            raise SandboxError(404, "ErrorItemNotFound", f"unknown item id {data['id']!r}")
        return mailbox, decoded[1]

    def _admin(
        self, method: str, path: str, query: dict[str, str], data: dict[str, Any]
    ) -> tuple[int, Any]:
        world = self.world
        route = (method, path)
        if route == ("GET", "/_sandbox/info"):
            return 200, self.info()
        if route == ("GET", "/_sandbox/company"):
            return 200, company_json(self)
        if route == ("GET", "/_sandbox/stats"):
            return 200, self.stats.snapshot()
        if route == ("GET", "/_sandbox/subscriptions"):
            return 200, self.subscriptions.snapshot()
        if route == ("POST", "/_sandbox/subscriptions/lifecycle"):
            self.subscriptions.send_lifecycle(str(data["id"]), str(data["event"]))
            return 200, {"ok": True}
        if route == ("POST", "/_sandbox/stats/reset"):
            self.stats.reset()
            return 200, {"ok": True}
        if route == ("GET", "/_sandbox/requests"):
            return 200, {"requests": self.stats.requests_since(int(query.get("since", "0")))}
        if route == ("GET", "/_sandbox/truth/messages"):
            synced = tuple(query.get("synced", ",".join(DEFAULT_SYNCED_FOLDERS)).split(","))
            offset, limit = int(query.get("offset", "0")), int(query.get("limit", "5000"))
            return 200, truth_page(self, synced, offset, limit)
        if route == ("GET", "/_sandbox/truth/meetings"):
            return 200, {"items": list(world.truth_meetings())}
        if route == ("POST", "/_sandbox/faults"):
            kinds = tuple(FaultKind(k) for k in data["kinds"]) if "kinds" in data else None
            self.faults.configure(float(data.get("rate", 0.0)), kinds)
            if "max_retry_after" in data:
                self.faults.max_retry_after = float(data["max_retry_after"])
            return 200, {"rate": self.faults.rate, "kinds": [k.value for k in self.faults.kinds]}
        if route == ("POST", "/_sandbox/faults/script"):
            retry = data.get("retry_after")
            self.faults.script(
                ScriptedFault(
                    kind=FaultKind(str(data["kind"])),
                    remaining=int(data.get("count", 1)),
                    mailbox=data.get("mailbox"),
                    folder=data.get("folder"),
                    endpoint=data.get("endpoint"),
                    retry_after=float(retry) if retry is not None else None,
                )
            )
            return 200, {"ok": True}
        if route == ("POST", "/_sandbox/faults/clear"):
            self.faults.clear()
            return 200, {"ok": True}
        if route == ("POST", "/_sandbox/mail/deliver"):
            mailbox = world.mailbox_index(str(data["mailbox"]))
            kind = ThreadKind[str(data["kind"]).upper()] if data.get("kind") else None
            reply_to = None
            if data.get("reply_to_kind"):
                reply_to = world.find_thread(
                    mailbox, ThreadKind[str(data["reply_to_kind"]).upper()]
                )
            refs = world.deliver(
                mailbox, count=int(data.get("count", 1)), kind=kind, reply_to_thread=reply_to
            )
            return 200, {"messages": [world.message_truth(r, DEFAULT_SYNCED_FOLDERS) for r in refs]}
        if route == ("POST", "/_sandbox/mail/move"):
            mailbox, ref = self._item(data)
            world.move(mailbox, ref, str(data["folder"]))
            return 200, {"ok": True}
        if route == ("POST", "/_sandbox/mail/delete"):
            mailbox, ref = self._item(data)
            world.delete(mailbox, ref, hard=bool(data.get("hard", False)))
            return 200, {"ok": True}
        if route == ("POST", "/_sandbox/mail/categories"):
            mailbox, ref = self._item(data)
            world.set_categories(mailbox, ref, [str(c) for c in data["categories"]])
            return 200, {"ok": True}
        if route == ("POST", "/_sandbox/meetings/update"):
            world.update_meeting(
                str(data["uid"]),
                subject=data.get("subject"),
                shift=timedelta(minutes=float(data.get("shift_minutes", 0))),
            )
            return 200, {"ok": True}
        if route == ("POST", "/_sandbox/meetings/cancel"):
            world.cancel_meeting(str(data["uid"]))
            return 200, {"ok": True}
        if route == ("POST", "/_sandbox/tokens/revoke"):
            return 200, {"revoked": self.issuer.revoke_all()}
        if route == ("POST", "/_sandbox/delta/expire"):
            world.expire_delta_tokens(world.mailbox_index(str(data["mailbox"])), data.get("folder"))
            return 200, {"ok": True}
        if route == ("POST", "/_sandbox/device/approve"):
            mailbox = world.mailbox_index(str(data.get("mailbox", world.users[0].email)))
            found = self.identity.approve(
                str(data["user_code"]), mailbox, deny=bool(data.get("deny"))
            )
            return (200, {"ok": True}) if found else (404, {"error": "unknown user code"})
        return 404, {"error": f"no admin route {method} {path}"}


def truth_page(
    server: SandboxServer, synced: tuple[str, ...], offset: int, limit: int
) -> dict[str, Any]:
    world = server.world
    refs = []
    total = 0
    with world.lock:
        for ref in world.plan.iter_refs():
            if offset <= total < offset + limit:
                refs.append(ref)
            total += 1
    items = [world.message_truth(ref, synced) for ref in refs]
    next_offset = offset + len(items) if offset + len(items) < total else None
    return {"items": items, "total": total, "next_offset": next_offset}


def company_json(server: SandboxServer) -> dict[str, Any]:
    company = server.world.company
    return {
        "name": company.name,
        "domain": company.domain,
        "users": [
            {
                "email": u.email,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "role": u.role,
                "team": u.team,
                "manager_email": u.manager_email,
                "has_mailbox": u.has_mailbox,
                "object_id": u.object_id,
            }
            for u in company.users
        ],
        "accounts": [
            {"name": a.name, "domains": list(a.domains), "owner_email": a.owner_email}
            for a in company.accounts
        ],
        "contacts": [
            {
                "first_name": c.first_name,
                "last_name": c.last_name,
                "emails": list(c.emails),
                "account": company.accounts[c.account_index].name,
                "title": c.title,
                "phone": c.phone,
            }
            for c in company.contacts
        ],
        "opportunities": [
            {
                "code": o.code,
                "name": o.name,
                "account": company.accounts[o.account_index].name,
                "stage": o.stage,
                "status": o.status,
                "amount": str(o.amount),
                "currency": o.currency,
                "close_date": o.close_date.isoformat(),
                "owner_email": o.owner_email,
            }
            for o in company.opportunities
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mailsync-sandbox/1"
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if path.startswith("/_sandbox/"):
            status, payload = sandbox.admin(self.command, path, query, body)
            self._send(status, payload, {})
            return
        if path.startswith("/v1.0/") or path == "/v1.0":
            self._graph(sandbox, path[len("/v1.0") :], query, headers, body)
            return
        self._identity(sandbox, path, query, body)

    def _graph(
        self,
        sandbox: SandboxServer,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        principal, problem = sandbox.authenticate(headers.get("authorization", ""))
        if problem is not None:
            mailbox, folder = sandbox.locate(path)
            sandbox.stats.record(
                method=self.command,
                path=path,
                endpoint="unauthenticated",
                mailbox=mailbox,
                folder=folder,
                status=401,
                fault=None,
            )
            response = graph_error(401, "InvalidAuthenticationToken", problem)
            self._send(401, response.body, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return
        if path == "/$batch" and self.command == "POST":
            fault = sandbox.faults.decide(
                mailbox=None, folder=None, endpoint="batch", has_delta_token=False
            )
            sandbox.stats.record(
                method="POST",
                path=path,
                endpoint="batch",
                mailbox=None,
                folder=None,
                status=200 if fault is None else 0,
                fault=fault.kind.value if fault else None,
            )
            if fault is not None and fault.kind not in (FaultKind.DROP, FaultKind.GONE):
                response = sandbox.fault_response(fault, None, None)
            else:
                response = sandbox.run_batch(body, principal, headers)
            self._send(
                response.status,
                response.body,
                response.headers,
                drop=fault is not None and fault.kind == FaultKind.DROP,
            )
            return
        if path == "/subscriptions" or path.startswith("/subscriptions/"):
            # Not a mailbox resource: no per-mailbox counting, no injected faults.
            response = sandbox.subscriptions.handle(self.command, path, body)
            sandbox.stats.record(
                method=self.command,
                path=path,
                endpoint="subscriptions",
                mailbox=None,
                folder=None,
                status=response.status,
                fault=None,
            )
            self._send(response.status, response.body, response.headers)
            return
        request = GraphRequest(self.command, path, query, headers, body, principal)
        endpoint = "delta" if path.endswith("/delta") else "graph"
        response, fault = sandbox.run_graph(request, endpoint, inner=False)
        self._send(
            response.status,
            response.body,
            response.headers,
            drop=fault is not None and fault.kind == FaultKind.DROP,
        )

    def _identity(
        self, sandbox: SandboxServer, path: str, query: dict[str, str], body: bytes
    ) -> None:
        identity = sandbox.identity
        parts = [p for p in path.split("/") if p]
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if parts[:3] == ["common", "discovery", "instance"]:
            self._send(
                200, identity.instance_discovery(query.get("authorization_endpoint", "")), {}
            )
            return
        if not parts or not identity.knows_tenant(parts[0]):
            self._send(
                400,
                {
                    "error": "invalid_tenant",
                    "error_description": (
                        f"AADSTS90002: Tenant '{parts[0] if parts else ''}' not found."
                    ),
                },
                {},
            )
            return
        rest = parts[1:]
        if rest == ["v2.0", ".well-known", "openid-configuration"] and self.command == "GET":
            self._send(200, identity.openid_configuration(), {})
        elif rest == ["discovery", "v2.0", "keys"] and self.command == "GET":
            self._send(200, sandbox.issuer.jwks(), {})
        elif rest == ["oauth2", "v2.0", "token"] and self.command == "POST":
            status, payload = identity.token(form)
            self._send(status, payload, {"Cache-Control": "no-store"})
        elif rest == ["oauth2", "v2.0", "authorize"] and self.command == "GET":
            status, payload, location = identity.authorize(query)
            self._send(status, payload, {"Location": location} if location else {})
        elif rest == ["oauth2", "v2.0", "devicecode"] and self.command == "POST":
            status, payload = identity.start_device_flow(form)
            self._send(status, payload, {})
        else:
            self._send(404, {"error": "not_found", "error_description": f"no endpoint {path}"}, {})

    def _send(
        self, status: int, payload: Any, headers: dict[str, str], *, drop: bool = False
    ) -> None:
        # 204 has no body, not even "null": a client reuses the connection and
        # would read leftover bytes as the start of the next response.
        no_content = status == 204
        data = b"" if no_content else json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        if not no_content:
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if drop:
            # Half the body, then the connection goes away mid-response.
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                log.debug("client went away before the drop")
            return
        self.wfile.write(data)
