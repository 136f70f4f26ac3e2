"""The EWS endpoint over HTTP(S) on loopback: authentication, faults, counting.

``POST /EWS/Exchange.asmx`` as Exchange Server serves it. Authentication is
Basic, NTLM (a real handshake through pyspnego, per connection as IIS does it)
or a Bearer token from the Graph sandbox's issuer (hybrid modern auth).
Before an operation runs, the shared ``FaultInjector`` may turn the request
into ErrorServerBusy (a SOAP fault with BackOffMilliseconds), HTTP 503,
ErrorInvalidSyncStateData (only for calls carrying a sync state) or a dropped
connection, so the driver meets each the way it would meet Exchange's.
Every request is counted in ``RequestStats``; with ``keep_xml`` the raw
request bodies are kept, which is how we recorded what exchangelib sends.
"""

from __future__ import annotations

import base64
import os
import secrets
import ssl
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import spnego

from mailsync.sandbox.auth import TlsFiles, TokenError, TokenIssuer, make_tls_files
from mailsync.sandbox.ews import soap
from mailsync.sandbox.ews.folders import DEFAULT_PLACEMENTS, FolderTree
from mailsync.sandbox.ews.operations import EwsError, EwsOperations, ItemError, Target
from mailsync.sandbox.ews.syncstate import SyncStateCodec
from mailsync.sandbox.ews.update import ItemUpdates
from mailsync.sandbox.faults import FaultInjector, FaultKind
from mailsync.sandbox.stats import RequestStats
from mailsync.sandbox.world import World

EWS_PATH = "/EWS/Exchange.asmx"
EWS_AUDIENCE = "https://outlook.office365.com"
OPERATIONS = ("ConvertId", "GetFolder", "FindFolder", "SyncFolderItems", "GetItem", "UpdateItem")


@dataclass(frozen=True, slots=True)
class EwsAccount:
    """A Windows account the endpoint accepts (Basic or NTLM ``DOMAIN\\user``).

    ``mailbox`` is the account's own mailbox (None for a service account);
    ``impersonation`` is the ApplicationImpersonation role, ``full_access``
    delegate rights on every mailbox.
    """

    username: str
    password: str
    mailbox: str | None = None
    impersonation: bool = False
    full_access: bool = False
    domain: str = "EXAMPLE"


@dataclass(frozen=True, slots=True)
class EwsEndpointSettings:
    accounts: tuple[EwsAccount, ...] = ()
    tls: bool = True
    keep_xml: int = 0  # keep this many raw request bodies (for recording)
    token_issuer: TokenIssuer | None = None  # accept Bearer tokens it issued
    # Where the world's non-distinguished folders sit: (world folder, display path).
    folder_placements: tuple[tuple[str, str], ...] = tuple(DEFAULT_PLACEMENTS.items())


@dataclass(slots=True)
class _Principal:
    account: EwsAccount | None  # None: an app token (impersonation only, as in Exchange hybrid)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    endpoint: EwsEndpoint


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.ntlm: Any = None
        self.ntlm_account: EwsAccount | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the endpoint's own RequestStats is the log."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.endpoint.handle(self, body)

    def do_GET(self) -> None:
        self.send_plain(405, "Method Not Allowed")

    def send_plain(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        data = text.encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_xml(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class EwsEndpoint:
    """Serves one ``World`` over EWS; start it, point exchangelib at ``url``."""

    def __init__(
        self,
        world: World,
        settings: EwsEndpointSettings,
        *,
        faults: FaultInjector | None = None,
        directory: Path | None = None,
        tls_files: TlsFiles | None = None,
    ) -> None:
        self.world = world
        self.settings = settings
        self.faults = faults or FaultInjector(seed=world.config.seed)
        self.stats = RequestStats()
        folders = FolderTree(world.config.seed, len(world.users), dict(settings.folder_placements))
        self.operations = EwsOperations(world, SyncStateCodec(secrets.token_bytes(32)), folders)
        self.updates = ItemUpdates(self.operations)
        self.recorded: deque[bytes] = deque(maxlen=max(1, settings.keep_xml))
        self._accounts = {a.username.lower(): a for a in settings.accounts}
        self._dir = directory or Path(tempfile.mkdtemp(prefix="ews-sandbox-"))
        self.tls_files = (
            tls_files if tls_files else (make_tls_files(self._dir) if settings.tls else None)
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ntlm_file()

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        server = _Server(("127.0.0.1", port), _Handler)
        server.endpoint = self
        if self.tls_files is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls_files.cert_path), str(self.tls_files.key_path))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="ews-endpoint", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the EWS endpoint is not running")
        scheme = "https" if self.tls_files is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}{EWS_PATH}"

    @property
    def ca_path(self) -> Path | None:
        return self.tls_files.ca_path if self.tls_files else None

    def _ntlm_file(self) -> None:
        """pyspnego's NTLM acceptor reads accounts from the file NTLM_USER_FILE names."""
        if not self._accounts:
            return
        path = self._dir / "ntlm-users.txt"
        path.write_text(
            "".join(f"{a.domain}:{a.username}:{a.password}\n" for a in self.settings.accounts)
        )
        os.environ["NTLM_USER_FILE"] = str(path)

    # ---- one request -----------------------------------------------------------------------

    def handle(self, handler: _Handler, body: bytes) -> None:
        if handler.path.split("?")[0].lower() != EWS_PATH.lower():
            handler.send_plain(404, "Not Found")
            return
        principal = self._authenticate(handler)
        if principal is None:
            return
        if self.settings.keep_xml:
            self.recorded.append(body)
        try:
            request = soap.parse_request(body)
        except soap.SoapRequestError as exc:
            handler.send_xml(500, soap.fault("ErrorSchemaValidation", str(exc)))
            return
        name = request.name
        mailbox_address, folder = self._describe(request, principal)
        fault = self.faults.decide(
            mailbox=mailbox_address,
            folder=folder,
            endpoint=name,
            has_delta_token=bool(request.operation.findtext(soap.m("SyncState"))),
        )
        if fault is not None and self._inject(handler, fault.kind, fault.retry_after, name):
            self.stats.record(
                method="POST",
                path=EWS_PATH,
                endpoint=name,
                mailbox=mailbox_address,
                folder=folder,
                status=0,
                fault=str(fault.kind),
            )
            return
        status, data = self._run(request, principal)
        self.stats.record(
            method="POST",
            path=EWS_PATH,
            endpoint=name,
            mailbox=mailbox_address,
            folder=folder,
            status=status,
            fault=None,
        )
        handler.send_xml(status, data)

    def _run(self, request: soap.SoapRequest, principal: _Principal) -> tuple[int, bytes]:
        name = request.name
        if name not in OPERATIONS:
            return 500, soap.fault(
                "ErrorInvalidRequest", f"The operation {name} is not supported by this endpoint."
            )
        try:
            target = self._target(request, principal)
            method = {
                "ConvertId": self.operations.convert_id,
                "GetFolder": self.operations.get_folder,
                "FindFolder": self.operations.find_folder,
                "SyncFolderItems": self.operations.sync_folder_items,
                "GetItem": self.operations.get_item,
                "UpdateItem": self.updates.update_item,
            }[name]
            return 200, soap.response(name, method(request.operation, target))
        except EwsError as exc:
            return 500, soap.fault(exc.code, exc.message)
        except ItemError as exc:
            return 200, soap.response(name, [soap.error(name, exc.code, exc.message)])

    def _target(self, request: soap.SoapRequest, principal: _Principal) -> Target:
        account = principal.account
        if request.impersonated:
            if account is not None and not account.impersonation:
                raise EwsError(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
            try:
                mailbox = self.world.mailbox_index(request.impersonated)
            except Exception as exc:
                raise EwsError(
                    "ErrorNonExistentMailbox", f"No mailbox with such guid: {request.impersonated}."
                ) from exc
            return Target(mailbox, may_open_others=False)
        if account is None:
            raise EwsError(
                "ErrorImpersonationRequired",
                "An application token must impersonate the mailbox it opens "
                "(ExchangeImpersonation).",
            )
        own = self.world.mailbox_index(account.mailbox) if account.mailbox else -1
        return Target(own, may_open_others=account.full_access)

    def _describe(
        self, request: soap.SoapRequest, principal: _Principal
    ) -> tuple[str | None, str | None]:
        """Mailbox and folder a request is about, for fault scripts and counters."""
        folder = None
        address = request.impersonated
        folder_elem = request.operation.find(soap.m("SyncFolderId"))
        if folder_elem is not None:
            distinguished = folder_elem.find(soap.t("DistinguishedFolderId"))
            if distinguished is not None:
                folder = distinguished.get("Id")
                address = address or distinguished.findtext(
                    f"{soap.t('Mailbox')}/{soap.t('EmailAddress')}"
                )
        if address is None and principal.account is not None:
            address = principal.account.mailbox
        return (address.lower() if address else None), folder

    def _inject(self, handler: _Handler, kind: FaultKind, retry_after: float, name: str) -> bool:
        if kind == FaultKind.THROTTLE:
            back_off = max(1, int(retry_after * 1000))
            handler.send_xml(
                500,
                soap.fault(
                    "ErrorServerBusy",
                    "The server cannot service this request right now. Try again later.",
                    back_off,
                ),
            )
        elif kind == FaultKind.UNAVAILABLE:
            handler.send_plain(503, "Service Unavailable")
        elif kind == FaultKind.GONE:
            handler.send_xml(
                200,
                soap.response(
                    name,
                    [
                        soap.error(
                            name,
                            "ErrorInvalidSyncStateData",
                            "Synchronization state data is corrupt or otherwise invalid.",
                        )
                    ],
                ),
            )
        elif kind == FaultKind.DROP:
            handler.close_connection = True
            handler.connection.shutdown(2)
        else:
            return False  # 401 is not an EWS chaos fault: a bad password is not transient
        return True

    # ---- authentication ------------------------------------------------------------------------

    def _authenticate(self, handler: _Handler) -> _Principal | None:
        if handler.ntlm_account is not None:
            return _Principal(handler.ntlm_account)
        header = handler.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                user, password = "", ""
            account = self._accounts.get(user.rpartition("\\")[2].lower())
            if account is not None and secrets.compare_digest(account.password, password):
                return _Principal(account)
        elif scheme == "ntlm" and value:
            return self._ntlm_step(handler, value)
        elif scheme == "bearer" and self.settings.token_issuer is not None:
            try:
                claims = self.settings.token_issuer.verify(value.strip(), EWS_AUDIENCE)
            except TokenError:
                claims = None
            if claims is not None:
                return _Principal(None)
        self._challenge(handler)
        return None

    def _ntlm_step(self, handler: _Handler, value: str) -> _Principal | None:
        token = base64.b64decode(value)
        if handler.ntlm is None or token[8:12] == b"\x01\x00\x00\x00":
            handler.ntlm = spnego.server(protocol="ntlm")
        try:
            answer = handler.ntlm.step(token)
        except spnego.exceptions.SpnegoError:
            handler.ntlm = None
            self._challenge(handler)
            return None
        if not handler.ntlm.complete:
            handler.send_plain(
                401,
                "Unauthorized",
                {"WWW-Authenticate": "NTLM " + base64.b64encode(answer).decode()},
            )
            return None
        user = str(handler.ntlm.client_principal or "").rpartition("\\")[2].lower()
        account = self._accounts.get(user)
        handler.ntlm = None
        if account is None:
            self._challenge(handler)
            return None
        handler.ntlm_account = account
        return _Principal(account)

    def _challenge(self, handler: _Handler) -> None:
        handler.send_response(401)
        handler.send_header("WWW-Authenticate", "NTLM")
        handler.send_header("WWW-Authenticate", 'Basic realm="127.0.0.1"')
        if self.settings.token_issuer is not None:
            handler.send_header("WWW-Authenticate", "Bearer")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
