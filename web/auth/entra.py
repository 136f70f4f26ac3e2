"""Validate Microsoft Entra ID access tokens against the tenant's published keys.

The add-in gets its token from Office SSO or nested app authentication; we
check what Microsoft documents for a protected web API: an RS256 signature by
a key in the tenant's JWKS, our audience, the tenant's issuer, and the
lifetime. Keys are cached; a token signed with a key id we have not seen
triggers one refetch (Entra rotates keys), but at most once per
``min_refetch_seconds`` so forged tokens with random key ids cannot turn the
service into a JWKS-fetching amplifier.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import InvalidTokenError, PyJWKError, PyJWKSetError

from web.auth.errors import IdentityProviderUnavailable, NotAuthenticated

ALGORITHMS = ("RS256",)
MAX_TOKEN_LENGTH = 16_384


@dataclass(frozen=True, slots=True)
class EntraIdentity:
    """The claims we map to a user (object id, sign-in name) and when the token expires."""

    object_id: str | None
    username: str | None
    tenant_id: str | None
    expires_at: datetime | None = None


class JwksCache:
    """The tenant's signing keys by key id, fetched on demand and kept for a while."""

    def __init__(
        self,
        url: str,
        http: httpx.Client,
        *,
        cache_seconds: float = 3600.0,
        min_refetch_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._http = http
        self._cache_seconds = cache_seconds
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> PyJWK | None:
        with self._lock:
            now = self._clock()
            if (
                self._fetched_at is None
                or now - self._fetched_at >= self._cache_seconds
                or (kid not in self._keys and now - self._fetched_at >= self._min_refetch)
            ):
                self._fetch(now)
            return self._keys.get(kid)

    def _fetch(self, now: float) -> None:
        try:
            response = self._http.get(self._url, timeout=10.0)
            response.raise_for_status()
            document = response.json()
            key_set = PyJWKSet.from_dict(document)
        except (httpx.HTTPError, ValueError, PyJWKSetError, PyJWKError) as exc:
            if self._keys:
                # Keep serving with the keys we have; retry after the refetch interval.
                self._fetched_at = now - self._cache_seconds + self._min_refetch
                return
            raise IdentityProviderUnavailable(
                f"cannot fetch the signing keys from {self._url}: {exc}"
            ) from exc
        self._keys = {key.key_id: key for key in key_set.keys if key.key_id}
        self._fetched_at = now


class EntraTokenValidator:
    def __init__(
        self,
        keys: JwksCache,
        *,
        audience: str,
        issuer: str,
        leeway_seconds: int = 60,
    ) -> None:
        self._keys = keys
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway_seconds

    def validate(self, token: str) -> EntraIdentity:
        if len(token) > MAX_TOKEN_LENGTH:
            raise NotAuthenticated("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError:
            raise NotAuthenticated("not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise NotAuthenticated(f"token algorithm {header.get('alg')!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise NotAuthenticated("token has no key id")
        key = self._keys.key(kid)
        if key is None:
            raise NotAuthenticated("token is signed with a key the tenant does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("token has expired") from None
        except jwt.InvalidAudienceError:
            raise NotAuthenticated("token is meant for another audience") from None
        except jwt.InvalidIssuerError:
            raise NotAuthenticated("token is from another issuer") from None
        except InvalidTokenError as exc:
            raise NotAuthenticated(f"token rejected: {exc}") from None
        return EntraIdentity(
            object_id=_text(claims.get("oid")),
            username=_text(
                claims.get("preferred_username") or claims.get("upn") or claims.get("email")
            ),
            tenant_id=_text(claims.get("tid")),
            expires_at=_instant(claims.get("exp")),
        )


def _instant(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
