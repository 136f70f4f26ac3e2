"""The sandbox as Microsoft Entra ID for the web service: signed access tokens and a JWKS.

Tokens look like the v2.0 access tokens Office SSO / nested app auth hand the
add-in: RS256, a ``kid`` header, and ``aud``, ``iss``, ``tid``, ``oid``,
``preferred_username``, ``iat``/``nbf``/``exp``. The key set is served over
real HTTP on loopback at Entra's path (``/{tenant}/discovery/v2.0/keys``) so
the web service fetches it exactly as it would from login.microsoftonline.com.
``rotate()`` starts signing with a new key, to exercise refetch on an unknown
key id.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class SigningKey:
    kid: str
    key: rsa.RSAPrivateKey


@dataclass
class EntraIdentityProvider:
    """Issues tokens for one tenant; publishes every key it has signed with."""

    base_url: str = "http://127.0.0.1"
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    keys: list[SigningKey] = field(default_factory=list)
    jwks_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys.append(SigningKey(uuid.uuid4().hex[:16], _new_key()))

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/v2.0"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/discovery/v2.0/keys"

    def rotate(self) -> str:
        """Sign from now on with a new key (the old one stays published)."""
        with self._lock:
            key = SigningKey(uuid.uuid4().hex[:16], _new_key())
            self.keys.append(key)
            return key.kid

    def access_token(
        self,
        *,
        audience: str,
        username: str,
        object_id: str | None = None,
        lifetime: float = 3600.0,
        issued_at: float | None = None,
        issuer: str | None = None,
        **claims: Any,
    ) -> str:
        now = time.time() if issued_at is None else issued_at
        body: dict[str, Any] = {
            "aud": audience,
            "iss": issuer or self.issuer,
            "tid": self.tenant_id,
            "oid": object_id or str(uuid.uuid5(uuid.NAMESPACE_URL, username)),
            "preferred_username": username,
            "name": username.partition("@")[0],
            "scp": "access_as_user",
            "ver": "2.0",
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now + lifetime),
            **claims,
        }
        signer = self.keys[-1]
        return jwt.encode(body, signer.key, algorithm="RS256", headers={"kid": signer.kid})

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            self.jwks_requests += 1
            keys = list(self.keys)
        published = []
        for key in keys:
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.key.public_key(), as_dict=True)
            published.append({**jwk, "kid": key.kid, "use": "sig", "alg": "RS256"})
        return {"keys": published}

    def asgi_app(self) -> Starlette:
        async def keys(request: Request) -> JSONResponse:
            if request.path_params["tenant"] != self.tenant_id:
                return JSONResponse({"error": "invalid_tenant"}, status_code=400)
            return JSONResponse(self.jwks())

        async def openid_configuration(request: Request) -> JSONResponse:
            return JSONResponse({"issuer": self.issuer, "jwks_uri": self.jwks_url})

        return Starlette(
            routes=[
                Route("/{tenant}/discovery/v2.0/keys", keys),
                Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
            ]
        )
