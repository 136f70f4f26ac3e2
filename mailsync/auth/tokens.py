"""Token sources: the one interface the Graph transport asks for tokens.

``access_token()`` returns a valid token (msal serves it from its cache while
it lives); ``refresh()`` throws the cached one away and asks the authority
again. The transport calls ``refresh()`` exactly once after a 401, so a token
revoked or expired mid-sync costs one retry and a second refusal is final.

msal failures are mapped onto the provider's typed errors: a refused
credential is ``AuthFailed``; an authority that cannot be reached is a
``TemporaryFailure`` (the daemon retries later, nothing is wrong with the
credential).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import msal
import requests

from mailsync.auth.http_client import msal_http_client
from mailsync.auth.token_cache import PersistentTokenCache
from mailsync.providers.base import AuthFailed, TemporaryFailure

log = logging.getLogger(__name__)

MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.windows.net",
    }
)


class TokenSource(Protocol):
    def access_token(self) -> str: ...

    def refresh(self) -> str: ...


GLOBAL_GRAPH_RESOURCE = "https://graph.microsoft.com"
NATIONAL_GRAPH_HOSTS = frozenset(
    {"graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}
)


def graph_scope(graph_url: str) -> str:
    """The ``/.default`` scope of the Graph resource that ``graph_url`` serves.

    A national cloud's Graph is its own resource; any other host (a reverse
    proxy, the local sandbox) fronts the global Graph, whose tokens carry the
    audience ``https://graph.microsoft.com`` whatever URL they are sent to.
    """
    host = (urlsplit(graph_url).hostname or "").lower()
    if host in NATIONAL_GRAPH_HOSTS:
        return f"https://{host}/.default"
    return f"{GLOBAL_GRAPH_RESOURCE}/.default"


def authority_url(authority_host: str, tenant_id: str) -> str:
    host = authority_host.rstrip("/")
    if not host.startswith("https://"):
        raise ValueError(f"authority_host must be an https URL, got {authority_host!r}")
    return f"{host}/{tenant_id}"


def _is_microsoft_authority(authority: str) -> bool:
    return (urlsplit(authority).hostname or "") in MICROSOFT_AUTHORITY_HOSTS


def certificate_credential(
    path: Path, thumbprint: str | None = None, passphrase: str | None = None
) -> dict[str, Any]:
    """msal's credential dict for a certificate file (PFX/P12, or PEM with the key).

    With a thumbprint (SHA-1, as Entra shows it) the PEM needs only the private
    key; without one the PEM must also hold the certificate so msal can derive
    the SHA-256 thumbprint itself.
    """
    if path.suffix.lower() in {".pfx", ".p12"}:
        cred: dict[str, Any] = {"private_key_pfx_path": str(path)}
    else:
        pem = path.read_text(encoding="ascii")
        if "PRIVATE KEY-----" not in pem:
            raise ValueError(f"certificate_path {path} holds no PEM private key")
        cred = {"private_key": pem}
        if thumbprint:
            cred["thumbprint"] = thumbprint
        elif "BEGIN CERTIFICATE-----" in pem:
            cred["public_certificate"] = pem
        else:
            raise ValueError(
                f"certificate_path {path} holds no certificate and no thumbprint was given"
            )
    if passphrase:
        cred["passphrase"] = passphrase
    return cred


def _token_or_raise(result: dict[str, Any] | None, what: str) -> str:
    if result and "access_token" in result:
        return str(result["access_token"])
    if not result:
        raise AuthFailed(f"{what}: no token was returned")
    error = result.get("error", "unknown_error")
    description = str(result.get("error_description", "")).splitlines()[0:1]
    raise AuthFailed(f"{what}: {error} {' '.join(description)}".strip())


def _reaching_authority(call: Callable[[], dict[str, Any] | None], what: str) -> str:
    try:
        result = call()
    except requests.RequestException as exc:
        raise TemporaryFailure(f"{what}: authority unreachable: {exc}") from exc
    except ValueError as exc:  # msal raises ValueError for a bad authority / discovery
        raise AuthFailed(f"{what}: {exc}") from exc
    return _token_or_raise(result, what)


class AppOnlyTokenSource:
    """Client-credentials tokens for a whole tenant (secret or certificate)."""

    def __init__(
        self,
        *,
        client_id: str,
        authority: str,
        credential: str | dict[str, Any],
        scope: str,
        cache: PersistentTokenCache,
        ca_bundle: Path | None = None,
    ) -> None:
        self._client_id = client_id
        self._authority = authority
        self._credential = credential
        self._scopes = [scope]
        self._cache = cache
        self._ca_bundle = ca_bundle
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _application(self) -> msal.ConfidentialClientApplication:
        # Built lazily: msal contacts the authority in the constructor, and an
        # unreachable authority must be a per-run TemporaryFailure, not a crash.
        if self._app is None:
            microsoft = _is_microsoft_authority(self._authority)
            self._app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._credential,
                authority=self._authority,
                token_cache=self._cache.cache,
                http_client=msal_http_client(self._ca_bundle),
                instance_discovery=None if microsoft else False,
                validate_authority=microsoft,
            )
        return self._app

    def access_token(self) -> str:
        with self._lock:
            token = _reaching_authority(
                lambda: self._application().acquire_token_for_client(scopes=self._scopes),
                "app-only token",
            )
            self._cache.save()
            return token

    def refresh(self) -> str:
        with self._lock:

            def fresh() -> dict[str, Any] | None:
                app = self._application()
                app.remove_tokens_for_client()
                result: dict[str, Any] | None = app.acquire_token_for_client(scopes=self._scopes)
                return result

            token = _reaching_authority(fresh, "app-only token refresh")
            self._cache.save()
            return token


class DeviceCodeTokenSource:
    """Delegated tokens for one user, signed in once with the device-code flow.

    ``sign_in`` is interactive (it prints the code and blocks until the user
    finishes); afterwards the refresh token in the encrypted cache keeps the
    daemon going without a person.
    """

    def __init__(
        self,
        *,
        client_id: str,
        authority: str,
        scope: str,
        cache: PersistentTokenCache,
        username: str | None = None,
        ca_bundle: Path | None = None,
    ) -> None:
        self._client_id = client_id
        self._authority = authority
        self._scopes = [scope]
        self._cache = cache
        self._username = username
        self._ca_bundle = ca_bundle
        self._app: msal.PublicClientApplication | None = None
        self._lock = threading.Lock()

    def _application(self) -> msal.PublicClientApplication:
        if self._app is None:
            microsoft = _is_microsoft_authority(self._authority)
            self._app = msal.PublicClientApplication(
                self._client_id,
                authority=self._authority,
                token_cache=self._cache.cache,
                http_client=msal_http_client(self._ca_bundle),
                instance_discovery=None if microsoft else False,
                validate_authority=microsoft,
            )
        return self._app

    def sign_in(self, show: Callable[[str], None]) -> str:
        """Run the device-code flow: ``show`` gets the instruction for the user."""
        with self._lock:

            def flow() -> dict[str, Any] | None:
                app = self._application()
                started: dict[str, Any] = app.initiate_device_flow(scopes=self._scopes)
                if "user_code" not in started:
                    return started
                show(str(started["message"]))
                result: dict[str, Any] | None = app.acquire_token_by_device_flow(started)
                return result

            token = _reaching_authority(flow, "device-code sign-in")
            self._cache.save()
            return token

    def signed_in_users(self) -> list[str]:
        """The usernames whose refresh tokens the cache holds (who ``sign_in`` let in)."""
        with self._lock:
            return sorted(str(a["username"]) for a in self._application().get_accounts())

    def _silent(self, force_refresh: bool) -> dict[str, Any] | None:
        app = self._application()
        accounts = app.get_accounts(username=self._username)
        if not accounts:
            return {
                "error": "not_signed_in",
                "error_description": "no signed-in account in the token cache: run the "
                "device-code sign-in first",
            }
        result: dict[str, Any] | None = app.acquire_token_silent(
            self._scopes, account=accounts[0], force_refresh=force_refresh
        )
        return result

    def access_token(self) -> str:
        with self._lock:
            token = _reaching_authority(lambda: self._silent(False), "delegated token")
            self._cache.save()
            return token

    def refresh(self) -> str:
        with self._lock:
            token = _reaching_authority(lambda: self._silent(True), "delegated token refresh")
            self._cache.save()
            return token
