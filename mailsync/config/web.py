"""The ``[web]`` section: where the HTTP service listens and whom it trusts.

The service answers the Outlook add-in (running in Office's web view on a
Microsoft origin or on our own host) and, later, managers' browsers. So it
must know its public URL (what the add-in's manifest points at), which
browser origins may call it, and how to check the Entra ID access tokens the
add-in obtains: the tenant, the audience our app registration gives tokens,
and the issuer and key set (JWKS) those tokens are signed with.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from mailsync.config.errors import KeyedValueError
from mailsync.config.sections import Section
from mailsync.config.types import EnvVarName, TenantId

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

MICROSOFT_LOGIN = "https://login.microsoftonline.com"


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _service_url(value: str) -> str:
    """https, or http on loopback only (development and the sandbox)."""
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ValueError(f"{value!r} is not a URL like https://crm.example.com")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"{value!r} uses plain http on a non-loopback host; Office loads add-ins and "
            "tokens only over https (http is accepted for 127.0.0.1/localhost only)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} must not carry a query, fragment or credentials")
    return text


def _origin(value: str) -> str:
    """A browser origin: scheme://host[:port], nothing after it."""
    text = _service_url(value)
    parts = urlsplit(text)
    if parts.path:
        raise ValueError(
            f"{value!r} is not an origin: drop the path (an origin is scheme://host[:port])"
        )
    return text.lower()


ServiceUrl = Annotated[str, AfterValidator(_service_url)]
Origin = Annotated[str, AfterValidator(_origin)]


class EntraSettings(Section):
    """How to validate the Entra ID access tokens the add-in sends (Office SSO / NAA)."""

    tenant_id: TenantId = Field(examples=["11111111-2222-3333-4444-555555555555"])
    audience: str = Field(min_length=1, max_length=400)
    issuer: ServiceUrl | None = None
    jwks_url: ServiceUrl | None = None
    jwks_cache_seconds: int = Field(default=3600, ge=60, le=86_400)
    leeway_seconds: int = Field(default=60, ge=0, le=300)

    @model_validator(mode="after")
    def _tenant_for_defaults(self) -> EntraSettings:
        if self.tenant_id in ("common", "organizations", "consumers") and self.issuer is None:
            raise KeyedValueError(
                "issuer",
                f"tenant_id {self.tenant_id!r} is a multi-tenant alias, so tokens cannot be "
                "checked against one issuer; use the directory (tenant) id GUID",
            )
        return self

    @property
    def effective_issuer(self) -> str:
        """Entra v2.0 tokens' ``iss`` for this tenant unless configured otherwise."""
        return self.issuer or f"{MICROSOFT_LOGIN}/{self.tenant_id}/v2.0"

    @property
    def effective_jwks_url(self) -> str:
        return self.jwks_url or f"{MICROSOFT_LOGIN}/{self.tenant_id}/discovery/v2.0/keys"


class WebSettings(Section):
    """The HTTP service started by `mailsync serve` and `mailsync run`."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    port: int = Field(default=8400, ge=1, le=65_535)
    public_base_url: ServiceUrl = "http://127.0.0.1:8400"
    allowed_origins: tuple[Origin, ...] = ()
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=50 * 1_048_576)
    max_concurrent_requests: int = Field(default=10, ge=1, le=1000)
    metrics_token_env: EnvVarName | None = None
    entra: EntraSettings | None = None

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_base_url)
        return f"{parts.scheme}://{parts.netloc}".lower()
