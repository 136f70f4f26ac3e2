"""OpenID Connect sign-in for the pages through msal's authorization code flow (with PKCE).

The app registration is the ``[tenant]`` one, as a confidential client. msal
no longer checks the ID token itself; the token comes straight from the
token endpoint over TLS (OpenID Connect allows TLS in place of a signature
check there), and we still insist that it was issued for our client id and
has not expired before trusting the user it names.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msal
import requests

from mailsync.auth.http_client import msal_http_client
from mailsync.auth.tokens import MICROSOFT_AUTHORITY_HOSTS, authority_url, certificate_credential
from mailsync.config import Settings

CALLBACK_PATH = "/pages/auth/callback"


class SignInFailed(Exception):
    """The identity provider refused or the answer did not fit our request; shown to the user."""


@dataclass(frozen=True, slots=True)
class SignedInIdentity:
    object_id: str | None
    username: str | None
    name: str


class SignInClient:
    def __init__(
        self,
        *,
        client_id: str,
        authority: str,
        credential: str | dict[str, Any],
        redirect_uri: str,
        ca_bundle: Path | None = None,
    ) -> None:
        self.client_id = client_id
        self.authority = authority
        self.redirect_uri = redirect_uri
        self._credential = credential
        self._ca_bundle = ca_bundle
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInClient:
        tenant = settings.tenant
        if tenant is None:  # the settings validator already refuses this
            raise SignInFailed("pages.signin = 'entra' needs a [tenant] section")
        credential: str | dict[str, Any]
        if tenant.certificate_path is not None:
            password = (
                settings.read_secret("tenant.certificate_password_env")
                if tenant.certificate_password_env
                else None
            )
            credential = certificate_credential(
                tenant.certificate_path, tenant.certificate_thumbprint, password
            )
        else:
            credential = settings.read_secret("tenant.client_secret_env")
        return cls(
            client_id=tenant.client_id,
            authority=authority_url(str(tenant.authority_host), tenant.tenant_id),
            credential=credential,
            redirect_uri=settings.web.public_base_url + CALLBACK_PATH,
            ca_bundle=tenant.ca_bundle,
        )

    def _application(self) -> msal.ConfidentialClientApplication:
        # Built on first use: msal fetches the authority's metadata in the
        # constructor, and an unreachable authority must fail one sign-in, not start-up.
        with self._lock:
            if self._app is None:
                microsoft = self.authority.split("/")[2].split(":")[0] in MICROSOFT_AUTHORITY_HOSTS
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self.client_id,
                        client_credential=self._credential,
                        authority=self.authority,
                        http_client=msal_http_client(self._ca_bundle),
                        instance_discovery=None if microsoft else False,
                        validate_authority=microsoft,
                    )
                except (requests.RequestException, ValueError) as exc:
                    raise SignInFailed(f"the sign-in service is unreachable: {exc}") from exc
            return self._app

    def start(self, login_hint: str | None = None) -> dict[str, Any]:
        """msal's flow dict; the browser goes to ``flow["auth_uri"]`` and the dict is kept."""
        flow: dict[str, Any] = self._application().initiate_auth_code_flow(
            scopes=[], redirect_uri=self.redirect_uri, login_hint=login_hint or None
        )
        return flow

    def finish(self, flow: dict[str, Any], answer: dict[str, str]) -> SignedInIdentity:
        """Redeem the code the browser brought back; the identity it proves."""
        if "error" in answer:
            raise SignInFailed(
                f"{answer['error']}: {answer.get('error_description', '')}".strip(": ")
            )
        try:
            result = self._application().acquire_token_by_auth_code_flow(flow, answer)
        except ValueError as exc:  # msal: state mismatch, nonce mismatch
            raise SignInFailed(f"the sign-in answer does not match this browser: {exc}") from exc
        except requests.RequestException as exc:
            raise SignInFailed(f"the sign-in service is unreachable: {exc}") from exc
        if "error" in result:
            raise SignInFailed(f"{result['error']}: {result.get('error_description', '')}")
        claims = result.get("id_token_claims") or {}
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise SignInFailed("the ID token was issued for another application")
        if float(claims.get("exp", 0)) < time.time() - 60:
            raise SignInFailed("the ID token has expired; sign in again")
        username = claims.get("preferred_username") or claims.get("email") or claims.get("upn")
        return SignedInIdentity(
            object_id=claims.get("oid"),
            username=str(username) if username else None,
            name=str(claims.get("name") or username or ""),
        )
