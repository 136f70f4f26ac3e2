"""What one deployment of the Outlook add-in is made of, checked before any manifest is built.

Both manifests are generated from one validated :class:`AddinConfig`, so a bad base URL or id
is refused once, with a message that names the option and the fix, instead of producing a
manifest that Outlook rejects at sideload time (or, worse, one that loads code over plain HTTP).
Nothing here has a default host: every URL is derived from the base URL the caller passes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from urllib.parse import SplitResult, urlsplit

# Fixed namespace for uuid5: the same deployment id always yields the same add-in id, so a
# regenerated manifest updates the installed add-in instead of appearing as a second one.
ADDIN_ID_NAMESPACE = uuid.UUID("6f1c2a8e-4d3b-5c7a-9e1f-0b2d4c6a8e10")

LOCALHOST_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

_DEPLOYMENT_ID = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,62}[a-z0-9])?")
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SEMVER = re.compile(r"(0|[1-9][0-9]{0,4})\.(0|[1-9][0-9]{0,4})\.(0|[1-9][0-9]{0,4})")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
# RFC 3986 path characters (unreserved, sub-delims without quote-like ones, ':' '@' '/', and
# percent escapes). Anything else would have to be escaped in XML or JSON or is not a URL.
_PATH = re.compile(r"(?:[A-Za-z0-9\-._~!$&()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
_MAX_BASE_URL = 1024  # manifests cap URLs at 2048; leave room for the file paths appended.


class ManifestConfigError(ValueError):
    """A deployment setting that cannot go into a manifest; the message says which and why."""

    def __init__(self, option: str, problem: str, fix: str) -> None:
        self.option = option
        self.problem = problem
        self.fix = fix
        super().__init__(f"{option}: {problem}. {fix}")


@dataclass(frozen=True)
class BaseUrl:
    """A checked origin (+ optional path prefix) under which web serves the add-in."""

    scheme: str
    host: str
    port: int | None
    path: str  # "" or "/prefix" without trailing slash

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if self.port is None else f"{host}:{self.port}"
        return f"{self.scheme}://{netloc}"

    @property
    def domain(self) -> str:
        """host[:port] as the unified manifest's validDomains expects it (no scheme)."""
        return self.origin.split("://", 1)[1]

    def join(self, relative: str) -> str:
        return f"{self.origin}{self.path}/{relative.lstrip('/')}"


def parse_base_url(
    raw: str, *, allow_http_localhost: bool = False, option: str = "--base-url"
) -> BaseUrl:
    """Accept only URLs that are safe to put into a manifest Outlook will load code from.

    https is required because Office refuses add-in pages over http (and a manifest pointing at
    http would let anyone on the path inject script into every salesperson's mailbox). Plain
    http is allowed only for a loopback host and only when the caller opts in, for development.
    Query strings, fragments and credentials are refused rather than silently dropped: each
    file URL is built by appending a path, which would corrupt them or leak secrets.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ManifestConfigError(option, "is empty", "Pass the https URL web is served at.")
    if raw != raw.strip() or any(ch.isspace() or ord(ch) < 0x20 for ch in raw):
        raise ManifestConfigError(
            option, f"{raw!r} contains whitespace or control characters", "Remove them."
        )
    if len(raw) > _MAX_BASE_URL:
        raise ManifestConfigError(
            option, f"is {len(raw)} characters long", f"Use at most {_MAX_BASE_URL}."
        )
    try:
        parts: SplitResult = urlsplit(raw)
        port = parts.port
    except ValueError as error:
        raise ManifestConfigError(
            option, f"{raw!r} is not a valid URL ({error})", "Use https://host[:port][/path]."
        ) from error
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in {"https", "http"}:
        raise ManifestConfigError(
            option,
            f"scheme {parts.scheme or '(none)'!r} is not allowed",
            "Office loads add-ins only over https: use https://host[:port][/path].",
        )
    if parts.username is not None or parts.password is not None:
        raise ManifestConfigError(
            option,
            "contains credentials (user:password@)",
            "Manifests are public: remove the credentials from the URL.",
        )
    if "?" in raw or parts.query:
        raise ManifestConfigError(
            option, "has a query string", "Remove '?…': file paths are appended to the base URL."
        )
    if "#" in raw or parts.fragment:
        raise ManifestConfigError(
            option, "has a fragment", "Remove '#…': file paths are appended to the base URL."
        )
    if not host:
        raise ManifestConfigError(option, f"{raw!r} has no host", "Use https://host[:port][/path].")
    if host not in LOCALHOST_NAMES and not _HOSTNAME.fullmatch(host):
        raise ManifestConfigError(
            option,
            f"host {host!r} is not a valid DNS name",
            "Use the host name of the web service (IDNA/punycode for non-ASCII names).",
        )
    if scheme == "http":
        if host not in LOCALHOST_NAMES:
            raise ManifestConfigError(
                option,
                f"{raw!r} is not https",
                "Office loads add-ins only over https: serve web behind TLS, pass its https URL.",
            )
        if not allow_http_localhost:
            raise ManifestConfigError(
                option,
                f"{raw!r} is plain http",
                "Use https, or pass --allow-http-localhost for local development only.",
            )
    path = parts.path.rstrip("/")
    if not _PATH.fullmatch(path) or "/../" in f"{path}/" or "/./" in f"{path}/":
        raise ManifestConfigError(
            option,
            f"path {parts.path!r} contains characters or segments not allowed here",
            "Use a plain path prefix such as /crm.",
        )
    return BaseUrl(scheme=scheme, host=host, port=port, path=path)


def check_deployment_id(raw: str) -> str:
    """Deployment ids become part of uuid5 input and of file names: keep them boring."""
    if not isinstance(raw, str) or not _DEPLOYMENT_ID.fullmatch(raw):
        raise ManifestConfigError(
            "--deployment-id",
            f"{raw!r} is not a valid deployment id",
            "Use 1-64 lower-case letters, digits, '.' or '-', starting and ending with a letter "
            "or digit (for example 'contoso-prod').",
        )
    return raw


def check_client_id(raw: str | None) -> str | None:
    """The Entra ID application (client) id is a GUID; anything else breaks SSO silently."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not _GUID.fullmatch(raw):
        raise ManifestConfigError(
            "--client-id",
            f"{raw!r} is not a GUID",
            "Copy the Application (client) ID of the add-in's Entra ID app registration.",
        )
    return raw.lower()


def check_version(raw: str) -> str:
    """Both manifest formats agree only on n.n.n with at most five digits per part."""
    if not isinstance(raw, str) or not _SEMVER.fullmatch(raw):
        raise ManifestConfigError(
            "--addin-version",
            f"{raw!r} is not MAJOR.MINOR.PATCH",
            "Use three numbers of at most five digits each, e.g. 1.2.0.",
        )
    return raw


def check_text(option: str, raw: str, max_length: int) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > max_length:
        raise ManifestConfigError(
            option,
            f"{raw!r} must be 1-{max_length} characters",
            f"Shorten it to at most {max_length} characters.",
        )
    if any(ord(ch) < 0x20 for ch in raw):
        raise ManifestConfigError(option, "contains control characters", "Remove them.")
    return raw


def _package_version() -> str:
    """Default the add-in version to mailsync's own, so a release bumps the add-in too."""
    try:
        version = metadata.version("mailsync")
    except metadata.PackageNotFoundError:
        return "0.1.0"
    match = _SEMVER.match(version)
    return match.group(0) if match else "0.1.0"


def _default_deployment_id(base: BaseUrl) -> str:
    return "localhost" if base.host in LOCALHOST_NAMES else base.host


@dataclass(frozen=True)
class AddinConfig:
    """Inputs of one deployment. Construct with :meth:`create`, which validates everything."""

    base: BaseUrl
    deployment_id: str
    version: str
    client_id: str | None = None
    display_name: str = "mailsync CRM"
    provider_name: str = "mailsync"
    description: str = (
        "Shows who the people on an email or meeting are in the CRM and links the item to "
        "an account, contact or opportunity with one click."
    )
    short_description: str = "Link Outlook emails and meetings to CRM records."
    support_url: str = field(default="")
    privacy_url: str = field(default="")
    terms_url: str = field(default="")

    @classmethod
    def create(
        cls,
        base_url: str,
        *,
        deployment_id: str | None = None,
        version: str | None = None,
        client_id: str | None = None,
        display_name: str = "mailsync CRM",
        provider_name: str = "mailsync",
        allow_http_localhost: bool = False,
        support_url: str | None = None,
        privacy_url: str | None = None,
        terms_url: str | None = None,
    ) -> AddinConfig:
        """Validate every input; the deployment id defaults to the base URL's host.

        Defaulting to the host keeps `addin manifest --base-url URL` a one-argument command
        while giving two deployments on different hosts different add-in ids. A deployment
        that may move host should pass an explicit --deployment-id to keep its id.
        """
        base = parse_base_url(base_url, allow_http_localhost=allow_http_localhost)
        page_urls = {}
        for option, given, default_path in (
            ("--support-url", support_url, ""),
            ("--privacy-url", privacy_url, ""),
            ("--terms-url", terms_url, ""),
        ):
            if given is None:
                page_urls[option] = base.join(default_path)
            else:
                checked = parse_base_url(
                    given, allow_http_localhost=allow_http_localhost, option=option
                )
                page_urls[option] = f"{checked.origin}{checked.path or '/'}"
        return cls(
            base=base,
            deployment_id=check_deployment_id(
                deployment_id if deployment_id is not None else _default_deployment_id(base)
            ),
            version=check_version(version if version is not None else _package_version()),
            client_id=check_client_id(client_id),
            display_name=check_text("--display-name", display_name, 30),
            provider_name=check_text("--provider-name", provider_name, 32),
            support_url=page_urls["--support-url"],
            privacy_url=page_urls["--privacy-url"],
            terms_url=page_urls["--terms-url"],
        )

    @property
    def addin_id(self) -> str:
        """Same GUID in both manifests and across runs for one deployment id."""
        return str(uuid.uuid5(ADDIN_ID_NAMESPACE, f"mailsync-addin:{self.deployment_id}"))

    @property
    def sso_resource(self) -> str | None:
        """Application ID URI Office SSO asks Entra ID for: api://<host>/<client id>."""
        if self.client_id is None:
            return None
        return f"api://{self.base.domain}/{self.client_id}"
