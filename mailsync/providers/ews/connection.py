"""One exchangelib configuration per process, one Account per mailbox.

exchangelib caches a Protocol (its HTTP session pool) per endpoint and
credentials, so every mailbox shares connections. The retry policy is
``FailFast``: exchangelib's ``FaultTolerance`` sleeps in the calling thread
for up to an hour, and a daemon worker must never sleep for a server — the
typed error goes to the daemon, which reschedules the mailbox.

Authentication: NTLM or Basic with a service account (on-premises), or OAuth
with a token from msal (hybrid modern auth). With ``impersonation`` the
service account opens each mailbox through ExchangeImpersonation (the
ApplicationImpersonation role); without it, it needs delegate rights. A
configured URL skips autodiscover.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    UTC,
    Account,
    Configuration,
    Credentials,
    FailFast,
    OAuth2Credentials,
)
from exchangelib.protocol import BaseProtocol

from mailsync.auth.tokens import TokenSource
from mailsync.providers.ews.folders import FolderIds

AuthKind = Literal["ntlm", "basic", "oauth"]
EWS_SCOPE = "https://outlook.office365.com/.default"
# exchangelib (through oauthlib) refuses a token past this age and asks for a new
# one; msal's cache answers at once while its token is still valid.
TOKEN_RECHECK_SECONDS = 300


class TrustedCaAdapter(requests.adapters.HTTPAdapter):
    """Verifies TLS against a configured CA bundle for the origins registered here.

    exchangelib builds its HTTP sessions from one adapter class, so the class
    keeps the (origin → CA file) map; origins not in it use the system store.
    """

    _bundles: dict[str, str] = {}
    _lock = threading.Lock()

    @classmethod
    def trust(cls, url: str | None, ca_bundle: Path) -> None:
        with cls._lock:
            cls._bundles[_origin(url) if url else "*"] = str(ca_bundle)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        # requests hands in REQUESTS_CA_BUNDLE (a path) when set; our bundle wins for our origin.
        bundle = self._bundles.get(_origin(str(request.url))) or self._bundles.get("*")
        if bundle is not None and verify is not False:
            verify = bundle
        return super().send(request, stream, timeout, verify, cert, proxies)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _token_dict(access_token: str) -> dict[str, Any]:
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_RECHECK_SECONDS,
        "expires_at": time.time() + TOKEN_RECHECK_SECONDS,
    }


class MsalCredentials(OAuth2Credentials):  # type: ignore[misc]
    """OAuth credentials whose token comes from msal (our TokenSource).

    exchangelib asks ``refresh`` for a new token when the session's token is
    past its recheck time or the server refused it; msal answers from its
    encrypted cache or signs in again with the app credential.
    """

    def __init__(self, tokens: TokenSource, *, client_id: str, tenant_id: str) -> None:
        super().__init__(
            client_id=client_id,
            client_secret="",
            tenant_id=tenant_id,
            access_token=_token_dict(tokens.access_token()),
        )
        self._tokens = tokens

    def refresh(self, session: Any) -> None:
        with self.lock:
            self.access_token = _token_dict(self._tokens.access_token())

    def force_refresh(self) -> None:
        with self.lock:
            self.access_token = _token_dict(self._tokens.refresh())


@dataclass(frozen=True, slots=True)
class EwsConnectionSettings:
    url: str | None  # None: autodiscover from each mailbox's address
    auth: AuthKind
    impersonation: bool
    username: str | None = None
    password: str | None = None
    ca_bundle: Path | None = None


class EwsConnection:
    """Builds the Accounts of one Exchange organisation; thread-safe."""

    def __init__(
        self,
        settings: EwsConnectionSettings,
        *,
        tokens: TokenSource | None = None,
        client_id: str = "",
        tenant_id: str = "",
    ) -> None:
        self.settings = settings
        # Mailboxes whose last run ended in a refused token that was then refreshed.
        self.refused: set[str] = set()
        # Folders configured by path, resolved once per mailbox (see providers.ews.folders).
        self.folder_ids = FolderIds()
        if settings.ca_bundle is not None:
            TrustedCaAdapter.trust(settings.url, settings.ca_bundle)
            BaseProtocol.HTTP_ADAPTER_CLS = TrustedCaAdapter
        self.credentials: Any
        if settings.auth == "oauth":
            if tokens is None:
                raise ValueError("EWS auth 'oauth' needs a token source (the [tenant] app)")
            self.credentials = MsalCredentials(tokens, client_id=client_id, tenant_id=tenant_id)
            auth_type = OAUTH2
        else:
            if not settings.username or not settings.password:
                raise ValueError(f"EWS auth {settings.auth!r} needs a username and a password")
            self.credentials = Credentials(settings.username, settings.password)
            auth_type = NTLM if settings.auth == "ntlm" else BASIC
        self._auth_type = auth_type
        self._config = (
            Configuration(
                service_endpoint=settings.url,
                credentials=self.credentials,
                auth_type=auth_type,
                retry_policy=FailFast(),
            )
            if settings.url
            else None
        )

    def account(self, address: str) -> Any:
        """The exchangelib Account of ``address`` (no request is sent yet)."""
        access = IMPERSONATION if self.settings.impersonation else DELEGATE
        if self._config is None:
            # Autodiscover resolves the endpoint per mailbox (and caches it per domain).
            return Account(
                address,
                credentials=self.credentials,
                autodiscover=True,
                access_type=access,
                default_timezone=UTC,
                config=Configuration(
                    credentials=self.credentials,
                    auth_type=self._auth_type,
                    retry_policy=FailFast(),
                ),
            )
        return Account(
            address,
            config=self._config,
            autodiscover=False,
            access_type=access,
            default_timezone=UTC,
        )

    def refresh_after_refusal(self) -> bool:
        """Get a fresh token after a 401; False when there is nothing to refresh."""
        if isinstance(self.credentials, MsalCredentials):
            self.credentials.force_refresh()
            return True
        return False
