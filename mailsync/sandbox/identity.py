"""Entra ID look-alike endpoints: discovery, token (client credentials, device code, refresh,
authorization code).

Shapes follow what msal reads (see msal/authority.py and oauth2cli/oauth2.py):
the OpenID configuration must name the token and device-authorization
endpoints, and the token endpoint's path carries the tenant msal caches under.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from mailsync.sandbox.auth import (
    GRAPH_AUDIENCE,
    DeviceCode,
    TokenError,
    TokenIssuer,
    client_info,
    user_code_for,
    verify_client_assertion,
)
from mailsync.sandbox.world import SandboxError, World

APP_ROLES = ["Mail.ReadWrite", "Calendars.Read", "User.Read.All"]
AUTH_CODE_LIFETIME = 300.0


@dataclass(frozen=True, slots=True)
class AuthCode:
    """A sign-in the browser completed; redeemed once at the token endpoint."""

    mailbox: int
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    expires_at: float


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    base_url: str
    tenant: str
    client_id: str
    client_secret: str
    client_public_key_pem: bytes | None = None
    device_code_interval: int = 1
    device_code_pending_polls: int = 1
    device_code_lifetime: int = 900


@dataclass(slots=True)
class IdentityProvider:
    settings: IdentitySettings
    issuer: TokenIssuer
    world: World
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _device_codes: dict[str, DeviceCode] = field(default_factory=dict)
    _refresh_tokens: dict[str, tuple[int, str]] = field(default_factory=dict)
    _auth_codes: dict[str, AuthCode] = field(default_factory=dict)

    @property
    def authority(self) -> str:
        return f"{self.settings.base_url}/{self.settings.tenant}"

    def knows_tenant(self, tenant: str) -> bool:
        return tenant in (self.settings.tenant, "common", "organizations")

    def openid_configuration(self) -> dict[str, Any]:
        a = self.authority
        return {
            "token_endpoint": f"{a}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{a}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer.issuer,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.settings.base_url}/oidc/userinfo",
            "authorization_endpoint": f"{a}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{a}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{a}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "oid", "tid", "name"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "sandbox.local",
        }

    def instance_discovery(self, authorization_endpoint: str) -> dict[str, Any]:
        parts = urlsplit(authorization_endpoint)
        tenant = parts.path.strip("/").split("/")[0] or self.settings.tenant
        netloc = urlsplit(self.settings.base_url).netloc
        return {
            "tenant_discovery_endpoint": (
                f"{self.settings.base_url}/{tenant}/v2.0/.well-known/openid-configuration"
            ),
            "api-version": "1.1",
            "metadata": [
                {"preferred_network": netloc, "preferred_cache": netloc, "aliases": [netloc]}
            ],
        }

    # ---- device code -----------------------------------------------------------------

    def start_device_flow(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.settings.client_id:
            return 400, _oauth_error("unauthorized_client", "AADSTS700016: Application not found.")
        device_code = secrets.token_urlsafe(24)
        code = DeviceCode(
            device_code=device_code,
            user_code=user_code_for(device_code),
            client_id=self.settings.client_id,
            scope=form.get("scope", ""),
            expires_at=time.time() + self.settings.device_code_lifetime,
        )
        with self._lock:
            self._device_codes[device_code] = code
        verification = f"{self.settings.base_url}/_sandbox/device"
        return 200, {
            "user_code": code.user_code,
            "device_code": device_code,
            "verification_uri": verification,
            "expires_in": self.settings.device_code_lifetime,
            "interval": self.settings.device_code_interval,
            "message": (
                f"To sign in, use a web browser to open the page {verification} "
                f"and enter the code {code.user_code} to authenticate."
            ),
        }

    def approve(self, user_code: str, mailbox: int, *, deny: bool = False) -> bool:
        with self._lock:
            for code in self._device_codes.values():
                if code.user_code == user_code:
                    code.approved_mailbox = mailbox
                    code.denied = deny
                    return True
        return False

    # ---- authorization code (browser sign-in) ------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, Any], str | None]:
        """(status, error body, redirect location): the user signs in at once.

        There is no password page: the user is the mailbox named by
        ``login_hint`` (address or object id), else the first mailbox, as the
        device-code flow approves. Errors about the client or the redirect URI
        are answered here, as Entra does, never sent to an unverified URI.
        """
        if query.get("client_id") != self.settings.client_id:
            unknown = _oauth_error("unauthorized_client", "AADSTS700016: Application not found.")
            return 400, unknown, None
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            return 400, _oauth_error("invalid_request", "AADSTS50011: redirect URI refused."), None
        if query.get("response_type") != "code":
            return 400, _oauth_error("unsupported_response_type", "AADSTS70005: use code."), None
        hint = query.get("login_hint", "").strip()
        try:
            mailbox = self.world.mailbox_index(hint) if hint else 0
        except SandboxError:
            return 400, _oauth_error("invalid_grant", f"AADSTS50034: no user {hint!r}."), None
        challenge = query.get("code_challenge")
        if challenge and query.get("code_challenge_method", "plain") != "S256":
            return 400, _oauth_error("invalid_request", "AADSTS501491: PKCE must use S256."), None
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._auth_codes[code] = AuthCode(
                mailbox=mailbox,
                redirect_uri=redirect_uri,
                scope=query.get("scope", ""),
                nonce=query.get("nonce"),
                code_challenge=challenge,
                expires_at=time.time() + AUTH_CODE_LIFETIME,
            )
        answer = {"code": code, "state": query.get("state", "")}
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {}, f"{redirect_uri}{separator}{urlencode(answer)}"

    def _code_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        problem = self._client_authentication(form)
        if problem:
            return 401, _oauth_error("invalid_client", problem)
        with self._lock:
            code = self._auth_codes.pop(form.get("code", ""), None)
        if code is None or code.expires_at < time.time():
            return 400, _oauth_error("invalid_grant", "AADSTS70008: the code expired or was used.")
        if form.get("redirect_uri") != code.redirect_uri:
            return 400, _oauth_error("invalid_grant", "AADSTS50011: redirect URI differs.")
        if code.code_challenge is not None:
            verifier = form.get("code_verifier", "").encode("ascii", "replace")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if not secrets.compare_digest(digest.decode("ascii"), code.code_challenge):
                return 400, _oauth_error("invalid_grant", "AADSTS501481: code_verifier invalid.")
        return self._user_tokens(code.mailbox, form.get("scope") or code.scope, nonce=code.nonce)

    # ---- token endpoint --------------------------------------------------------------

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        if form.get("client_id") != self.settings.client_id:
            return 400, _oauth_error(
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' "
                "was not found in the directory.",
            )
        if grant == "client_credentials":
            problem = self._client_authentication(form)
            if problem:
                return 401, _oauth_error("invalid_client", problem)
            return self._app_token(form.get("scope", ""))
        if grant == "authorization_code":
            return self._code_token(form)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self._device_token(form.get("device_code", ""))
        if grant == "refresh_token":
            with self._lock:
                known = self._refresh_tokens.get(form.get("refresh_token", ""))
            if known is None:
                return 400, _oauth_error(
                    "invalid_grant", "AADSTS70000: The refresh token is invalid."
                )
            return self._user_tokens(known[0], form.get("scope") or known[1])
        return 400, _oauth_error(
            "unsupported_grant_type", f"AADSTS70003: {grant!r} is not supported."
        )

    def _client_authentication(self, form: dict[str, str]) -> str | None:
        assertion = form.get("client_assertion")
        if assertion:
            if self.settings.client_public_key_pem is None:
                return "AADSTS700027: No certificate is registered for this client."
            try:
                verify_client_assertion(
                    assertion,
                    client_id=self.settings.client_id,
                    audience=f"{self.authority}/oauth2/v2.0/token",
                    public_key_pem=self.settings.client_public_key_pem,
                )
            except TokenError as exc:
                return exc.reason
            return None
        if not secrets.compare_digest(form.get("client_secret", ""), self.settings.client_secret):
            return "AADSTS7000215: Invalid client secret provided."
        return None

    def _app_token(self, scope: str) -> tuple[int, dict[str, Any]]:
        scopes = scope.split()
        resource = next((s[: -len("/.default")] for s in scopes if s.endswith("/.default")), None)
        if resource is None:
            return 400, _oauth_error(
                "invalid_scope",
                "AADSTS1002012: The provided value for scope is not valid. Client credential "
                "flows must have a scope value with /.default suffixed to the resource identifier.",
            )
        token, lifetime = self.issuer.issue(
            {
                "aud": resource,
                "appid": self.settings.client_id,
                "azp": self.settings.client_id,
                "idtyp": "app",
                "oid": f"sp-{self.settings.client_id}",
                "sub": f"sp-{self.settings.client_id}",
                "roles": APP_ROLES,
            }
        )
        return 200, {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    def _device_token(self, device_code: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            code = self._device_codes.get(device_code)
            if code is None:
                return 400, _oauth_error("invalid_grant", "AADSTS70000: unknown device code.")
            if code.expires_at < time.time():
                return 400, _oauth_error("expired_token", "AADSTS70020: The device code expired.")
            if code.denied:
                return 400, _oauth_error("authorization_declined", "AADSTS70019: declined.")
            code.polls += 1
            if code.approved_mailbox is None:
                if code.polls <= self.settings.device_code_pending_polls:
                    return 400, _oauth_error(
                        "authorization_pending",
                        "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
                    )
                code.approved_mailbox = 0
            del self._device_codes[device_code]
        return self._user_tokens(code.approved_mailbox, code.scope)

    def _user_tokens(
        self, mailbox: int, scope: str, *, nonce: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        user = self.world.users[mailbox]
        resource_scopes = [
            s for s in scope.split() if s not in ("openid", "profile", "offline_access")
        ]
        scp = " ".join(s.rpartition("/")[2] for s in resource_scopes) or "User.Read"
        token, lifetime = self.issuer.issue(
            {
                "aud": GRAPH_AUDIENCE,
                "appid": self.settings.client_id,
                "azp": self.settings.client_id,
                "scp": scp,
                "oid": user.object_id,
                "sub": user.object_id,
                "upn": user.email,
                "name": user.display_name,
            }
        )
        id_token, _ = self.issuer.issue(
            {
                "aud": self.settings.client_id,
                "oid": user.object_id,
                "sub": user.object_id,
                "preferred_username": user.email,
                "name": user.display_name,
                "ver": "2.0",
                "tid": self.settings.tenant,
                **({"nonce": nonce} if nonce else {}),
            }
        )
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[refresh] = (mailbox, scope)
        return 200, {
            "token_type": "Bearer",
            "scope": " ".join(resource_scopes) or "User.Read",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": client_info(user.object_id, self.settings.tenant),
        }


def _oauth_error(error: str, description: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": description,
        "error_codes": [int(description[6:].split(":")[0])]
        if description.startswith("AADSTS")
        else [],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": secrets.token_hex(8),
        "correlation_id": secrets.token_hex(8),
    }
