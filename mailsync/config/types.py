"""Annotated field types shared by the config sections.

Each validator raises ValueError with a sentence that already says what is
allowed: the loader puts that sentence straight into the start-up message, so
a user reading it knows the fix without opening the docs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, ValidationInfo

from mailsync.addresses import normalise_domain, normalise_email

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def _env_var_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(
            f"expected the NAME of an environment variable (letters, digits and _, "
            f"like MAILSYNC_CLIENT_SECRET), not {_redact(value)}; put the secret itself "
            "in that environment variable, never in the file"
        )
    return value


def _redact(value: str) -> str:
    """Show enough of a mistaken value to recognise it, never the whole secret."""
    return repr(value[:3] + "…") if len(value) > 6 else "that value"


def _email(value: str) -> str:
    return normalise_email(value)


def _domain(value: str) -> str:
    return normalise_domain(value)


def _guid(value: str) -> str:
    if not _GUID.match(value.strip()):
        raise ValueError(
            f"{value!r} is not a GUID like 11111111-2222-3333-4444-555555555555 "
            "(copy it from the app registration's Overview page in Entra ID)"
        )
    return value.strip().lower()


def _tenant(value: str) -> str:
    """A tenant is a GUID, a verified domain, or one of Entra's multi-tenant aliases."""
    text = value.strip().lower()
    if text in {"common", "organizations", "consumers"} or _GUID.match(text):
        return text
    try:
        return normalise_domain(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a tenant: use the directory (tenant) id GUID, "
            "a domain such as contoso.onmicrosoft.com, or 'organizations'"
        ) from None


def _https_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(
            f"{value!r} is not an https URL; msal and Graph only talk TLS "
            "(for the local sandbox, trust its CA with ca_bundle instead of using http)"
        )
    return value.strip().rstrip("/")


def _thumbprint(value: str) -> str:
    text = value.replace(":", "").replace(" ", "")
    if not _HEX.match(text) or len(text) not in (40, 64):
        raise ValueError(
            f"{value!r} is not a certificate thumbprint: expected 40 hex digits (SHA-1) "
            "or 64 (SHA-256), as shown under Certificates & secrets in Entra ID"
        )
    return text.upper()


def _regex(value: str) -> str:
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"the regular expression {value!r} does not compile: {exc}") from None
    if compiled.match(""):
        raise ValueError(f"the regular expression {value!r} matches the empty string")
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Paths in a file are relative to that file, so a daemon's cwd does not matter."""
    base = (info.context or {}).get("base_dir")
    path = value.expanduser()
    if not path.is_absolute() and isinstance(base, Path):
        path = base / path
    return path


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    path = _resolve_path(value, info)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


EnvVarName = Annotated[str, BeforeValidator(_strip), AfterValidator(_env_var_name)]
Email = Annotated[str, AfterValidator(_email)]
Domain = Annotated[str, AfterValidator(_domain)]
Guid = Annotated[str, AfterValidator(_guid)]
TenantId = Annotated[str, AfterValidator(_tenant)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
Thumbprint = Annotated[str, AfterValidator(_thumbprint)]
Regex = Annotated[str, AfterValidator(_regex)]
RelativePath = Annotated[Path, AfterValidator(_resolve_path)]
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
