"""The EWS endpoint beside a Graph sandbox in one process (``sandbox serve --ews-port``).

It serves the sandbox's own world with the sandbox's faults and TLS
certificate, so one process is a hybrid Exchange organisation: the same
mailboxes over Graph and over EWS. It accepts one service account with the
ApplicationImpersonation role (NTLM or Basic) and the sandbox's app tokens
(OAuth). The ready info gains an ``ews`` object: URL, CA, and the account's
``DOMAIN\\user`` and password, which is how a bench or a demo in another
process connects.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from mailsync.sandbox.ews.server import EwsAccount, EwsEndpoint, EwsEndpointSettings
from mailsync.sandbox.runner import BesideService
from mailsync.sandbox.server import SandboxServer

DEFAULT_USERNAME = "svc-mailsync"


def ews_beside(
    port: int, username: str = DEFAULT_USERNAME, password: str | None = None
) -> Callable[[SandboxServer], BesideService]:
    """The ``beside`` hook of ``runner.serve`` that starts the EWS endpoint on ``port``."""
    secret = password or secrets.token_urlsafe(16)

    def start(server: SandboxServer) -> BesideService:
        account = EwsAccount(username, secret, impersonation=True)
        endpoint = EwsEndpoint(
            server.world,
            EwsEndpointSettings(accounts=(account,), token_issuer=server.issuer),
            faults=server.faults,
            tls_files=server.tls,
        )
        url = endpoint.start(port)
        info = {
            "ews": {
                "url": url,
                "ca_path": str(endpoint.ca_path),
                "username": f"{account.domain}\\{account.username}",
                "password": secret,
            }
        }
        return BesideService(info, endpoint.stop)

    return start
