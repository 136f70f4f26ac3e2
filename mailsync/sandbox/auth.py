"""The identity side of the sandbox: TLS material, signed tokens, device codes.

msal insists on an https authority, so the sandbox makes a throwaway CA with
``trustme`` and serves TLS with a leaf for 127.0.0.1/localhost; clients trust
the CA file. Access tokens are RS256 JWTs signed with a key generated at
start-up and published as a JWKS, so the same sandbox can act as the identity
provider for the web service; the sandbox also keeps a registry of what it
issued so that revocation works like Entra's (a token can be refused before
it expires).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GRAPH_AUDIENCE = "https://graph.microsoft.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Paths of the CA certificate (for clients) and the server's cert chain and key."""

    ca_path: Path
    cert_path: Path
    key_path: Path


def make_tls_files(directory: Path) -> TlsFiles:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    directory.mkdir(parents=True, exist_ok=True)
    ca_path = directory / "sandbox-ca.pem"
    cert_path = directory / "sandbox-cert.pem"
    key_path = directory / "sandbox-key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with cert_path.open("wb") as fh:
        for blob in leaf.cert_chain_pems:
            fh.write(blob.bytes())
    leaf.private_key_pem.write_to_path(str(key_path))
    return TlsFiles(ca_path, cert_path, key_path)


class TokenError(Exception):
    """A token the sandbox will not accept; ``reason`` ends up in the 401 body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    polls: int = 0
    approved_mailbox: int | None = None
    denied: bool = False


@dataclass(slots=True)
class TokenIssuer:
    """Signs and checks tokens; thread-safe."""

    issuer: str
    tenant_id: str
    lifetime: float = 3600.0
    kid: str = field(default_factory=lambda: secrets.token_hex(8))
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _issued: dict[str, float] = field(default_factory=dict)
    _revoked: set[str] = field(default_factory=set)
    _verified: dict[str, dict[str, Any]] = field(default_factory=dict)

    def issue(self, claims: dict[str, Any], lifetime: float | None = None) -> tuple[str, int]:
        """A signed JWT and its lifetime in seconds (the ``expires_in`` msal caches by)."""
        now = time.time()
        life = self.lifetime if lifetime is None else lifetime
        jti = secrets.token_urlsafe(12)
        body = {
            "iss": self.issuer,
            "tid": self.tenant_id,
            "iat": int(now),
            "nbf": int(now) - 5,
            "exp": now + life,
            "jti": jti,
            **claims,
        }
        with self._lock:
            self._issued[jti] = now
        return self.sign(body), max(0, int(life))

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        with self._lock:
            claims = self._verified.get(token)
        if claims is None:
            claims = self._check_signature(token)
            with self._lock:
                self._verified[token] = claims
        if claims.get("aud") != audience:
            raise TokenError(f"Invalid audience {claims.get('aud')!r}.")
        if float(claims["exp"]) <= time.time():
            raise TokenError("Lifetime validation failed, the token is expired.")
        with self._lock:
            if claims["jti"] in self._revoked:
                raise TokenError("The token has been revoked.")
        return claims

    def _check_signature(self, token: str) -> dict[str, Any]:
        try:
            head, body, sig = token.split(".")
            self._key.public_key().verify(
                b64url_decode(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            claims: dict[str, Any] = json.loads(b64url_decode(body))
        except (ValueError, InvalidSignature) as exc:
            raise TokenError(
                "IDX14100: JWT is not well formed or its signature is invalid."
            ) from exc
        return claims

    def revoke_all(self) -> int:
        """Refuse every token issued so far (e.g. the app's secret was rotated)."""
        with self._lock:
            self._revoked.update(self._issued)
            return len(self._issued)

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": b64url(numbers.e.to_bytes(3, "big")),
                    "issuer": self.issuer,
                }
            ]
        }

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def verify_client_assertion(
    assertion: str, *, client_id: str, audience: str, public_key_pem: bytes
) -> None:
    """Check a certificate credential (RS256 or PS256 JWT, as msal makes them)."""
    try:
        head, body, sig = assertion.split(".")
        header = json.loads(b64url_decode(head))
        claims = json.loads(b64url_decode(body))
        key = serialization.load_pem_public_key(public_key_pem)
        assert isinstance(key, rsa.RSAPublicKey)
        message, signature = f"{head}.{body}".encode(), b64url_decode(sig)
        if header.get("alg") == "PS256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            key.verify(signature, message, pss, hashes.SHA256())
        elif header.get("alg") == "RS256":
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise TokenError(f"AADSTS5002730: unsupported assertion algorithm {header.get('alg')}")
    except (ValueError, InvalidSignature, AssertionError) as exc:
        raise TokenError("AADSTS700027: Client assertion failed signature validation.") from exc
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise TokenError("AADSTS700023: Client assertion issuer or subject is not the client.")
    if claims.get("aud") != audience:
        raise TokenError(f"AADSTS700024: Client assertion audience is not {audience}.")
    if float(claims.get("exp", 0)) <= time.time():
        raise TokenError("AADSTS700024: Client assertion is expired.")


def client_info(uid: str, utid: str) -> str:
    return b64url(json.dumps({"uid": uid, "utid": utid}).encode())


def user_code_for(device_code: str) -> str:
    digest = hashlib.sha256(device_code.encode()).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}"
