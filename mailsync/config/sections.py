"""The validated shape of mailsync's TOML configuration, one model per section.

Every model forbids unknown keys: a misspelt key that was silently ignored
would leave a default in force that the operator believes they changed.
Every model is frozen: configuration is read once at start-up and shared by
the daemon's jobs, so nothing may mutate it behind another job's back.
``config.example.toml`` at the repository root documents every field here and
a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from mailsync.config.database_url import DEFAULT_DATABASE_URL, normalise_database_url
from mailsync.config.errors import KeyedValueError
from mailsync.config.types import (
    Domain,
    Email,
    EnvVarName,
    ExistingFile,
    Guid,
    HttpsUrl,
    Regex,
    RelativePath,
    TenantId,
    Thumbprint,
)
from rules import RuleSet, load_rules, parse_rules_document
from rules.settings import RulesSettings as EngineRulesSettings

# Graph's well-known mail folder names (mailFolders/{name}); anything else is a
# folder the user created and belongs in ``extra_folders``.
WELL_KNOWN_FOLDERS = (
    "inbox",
    "sentitems",
    "archive",
    "deleteditems",
    "drafts",
    "junkemail",
    "outbox",
    "clutter",
    "conversationhistory",
)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class StoreSettings(Section):
    """Where the central store lives."""

    url: str = Field(default=DEFAULT_DATABASE_URL, validate_default=True)
    password_env: EnvVarName | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        context = info.context or {}
        base_dir = context.get("base_dir", Path.cwd())
        from_file = normalise_database_url(value, base_dir, allow_password=False)
        # MAILSYNC_DATABASE_URL wins, but a broken value in the file is still reported.
        env_url = context.get("env_database_url")
        return env_url if isinstance(env_url, str) else from_file


class TenantSettings(Section):
    """The Entra ID app registration mailsync signs in with (Microsoft Graph and EWS OAuth)."""

    tenant_id: TenantId = Field(examples=["11111111-2222-3333-4444-555555555555"])
    client_id: Guid = Field(examples=["66666666-7777-8888-9999-000000000000"])
    auth: Literal["client_credentials", "device_code"] = "client_credentials"
    client_secret_env: EnvVarName | None = None
    certificate_path: ExistingFile | None = None
    certificate_thumbprint: Thumbprint | None = None
    certificate_password_env: EnvVarName | None = None
    authority_host: HttpsUrl = "https://login.microsoftonline.com"
    graph_url: HttpsUrl = "https://graph.microsoft.com"
    ca_bundle: ExistingFile | None = None
    token_cache_path: RelativePath | None = None
    token_cache_key_env: EnvVarName = "MAILSYNC_TOKEN_KEY"

    @model_validator(mode="after")
    def _one_credential(self) -> TenantSettings:
        has_secret = self.client_secret_env is not None
        has_cert = self.certificate_path is not None or self.certificate_thumbprint is not None
        if self.auth == "device_code":
            if has_secret or has_cert:
                raise KeyedValueError(
                    "client_secret_env" if has_secret else "certificate_path",
                    "auth = 'device_code' signs a person in and uses no app credential; "
                    "remove client_secret_env / certificate_*, or use "
                    "auth = 'client_credentials'",
                )
            return self
        if has_secret and has_cert:
            raise KeyedValueError(
                "client_secret_env",
                "both client_secret_env and a certificate are set; keep exactly one "
                "(a certificate is the stronger choice)",
            )
        if not has_secret and not has_cert:
            raise KeyedValueError(
                "client_secret_env",
                "auth = 'client_credentials' needs an app credential: set "
                'client_secret_env = "MAILSYNC_CLIENT_SECRET", or certificate_path '
                "and certificate_thumbprint",
            )
        if has_cert and (self.certificate_path is None or self.certificate_thumbprint is None):
            raise KeyedValueError(
                "certificate_thumbprint" if self.certificate_path else "certificate_path",
                "a certificate needs both certificate_path (the PEM with the private key) "
                "and certificate_thumbprint",
            )
        if self.certificate_password_env is not None and self.certificate_path is None:
            raise KeyedValueError("certificate_password_env", "is set but certificate_path is not")
        return self


class EwsSettings(Section):
    """Exchange Server on-premises through EWS (mailboxes with provider = "ews")."""

    url: HttpsUrl | None = None
    auth: Literal["ntlm", "basic", "oauth"] = "ntlm"
    username_env: EnvVarName | None = None
    password_env: EnvVarName | None = None
    impersonation: bool = False
    ca_bundle: ExistingFile | None = None

    @model_validator(mode="after")
    def _credentials_match_auth(self) -> EwsSettings:
        has_login = self.username_env is not None or self.password_env is not None
        if self.auth in ("ntlm", "basic") and not (self.username_env and self.password_env):
            raise KeyedValueError(
                "password_env" if self.username_env else "username_env",
                f"auth = '{self.auth}' needs username_env and password_env "
                '(for example username_env = "MAILSYNC_EWS_USERNAME")',
            )
        if self.auth == "oauth" and has_login:
            raise KeyedValueError(
                "username_env" if self.username_env else "password_env",
                "auth = 'oauth' signs in with the [tenant] app; remove username_env / password_env",
            )
        if self.auth == "oauth" and not self.impersonation:
            # An app token is no user: Exchange opens a mailbox for it only through
            # ExchangeImpersonation, so without it every mailbox would fail at its first call.
            raise KeyedValueError(
                "impersonation",
                "auth = 'oauth' signs in as the [tenant] app, which Exchange lets open a "
                "mailbox only by impersonating it; set impersonation = true (and grant the "
                "app the ApplicationImpersonation role / full_access_as_app), or use "
                "auth = 'ntlm' with a service account",
            )
        return self


class SyncSettings(Section):
    """How and what the daemon pulls from each mailbox."""

    interval_seconds: int = Field(default=300, ge=1, le=86_400)
    jitter_seconds: int = Field(default=30, ge=0)
    page_size: int = Field(default=200, ge=1, le=1000)
    folders: tuple[str, ...] = ("inbox", "sentitems")
    extra_folders: tuple[str, ...] = ()
    calendar: bool = True
    calendar_days_back: int = Field(default=90, ge=0, le=3650)
    calendar_days_ahead: int = Field(default=365, ge=0, le=3650)
    write_back_category: bool = False
    category_name: str = Field(default="Tracked to CRM", min_length=1, max_length=255)
    max_backoff_seconds: int = Field(default=3600, ge=1)

    @field_validator("folders")
    @classmethod
    def _well_known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(name.strip().lower() for name in value)
        for name in names:
            if name not in WELL_KNOWN_FOLDERS:
                raise ValueError(
                    f"{name!r} is not a well-known folder name; use one of "
                    f"{', '.join(WELL_KNOWN_FOLDERS)}, and put folders you created "
                    "in extra_folders"
                )
        if len(set(names)) != len(names):
            raise ValueError("a folder is listed twice")
        return names

    @field_validator("extra_folders")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(name.strip() for name in value)
        if any(not name for name in names):
            raise ValueError("a folder name is empty")
        return names

    @model_validator(mode="after")
    def _jitter_below_interval(self) -> SyncSettings:
        if self.jitter_seconds >= self.interval_seconds:
            raise KeyedValueError(
                "jitter_seconds",
                f"jitter_seconds ({self.jitter_seconds}) must be smaller than "
                f"interval_seconds ({self.interval_seconds})",
            )
        if self.max_backoff_seconds < self.interval_seconds:
            raise KeyedValueError(
                "max_backoff_seconds",
                f"max_backoff_seconds ({self.max_backoff_seconds}) must be at least "
                f"interval_seconds ({self.interval_seconds})",
            )
        return self


class MailboxSettings(Section):
    """One mailbox (and its calendar) the daemon syncs."""

    address: Email = Field(examples=["jane.doe@example.com"])
    provider: Literal["graph", "ews"] = "graph"
    enabled: bool = True
    owner_email: Email | None = None
    tracking_policy: Literal["rules", "manual"] = "rules"


class RulesSettings(Section):
    """Built-in matching, custom rules inline (``[[rules.rule]]``) and in a rules file.

    The rules engine has its own settings model (``rules.settings``);
    ``engine_settings()`` hands it the keys it knows, and a test keeps the two
    key sets in step so no key here is silently ignored.
    """

    file: ExistingFile | None = None
    tracking_code_pattern: Regex = r"\bOPP-\d{6}\b"
    internal_only_excluded: bool = True
    blocked_addresses: tuple[Email, ...] = ()
    blocked_domains: tuple[Domain, ...] = ()
    internal_domains: tuple[Domain, ...] = ()
    extra_free_mail_domains: tuple[Domain, ...] = ()
    retro_window_days: int = Field(default=90, ge=1, le=3650)
    rule: tuple[dict[str, Any], ...] = ()

    def engine_settings(self) -> EngineRulesSettings:
        known = EngineRulesSettings.model_fields
        return EngineRulesSettings.model_validate(
            {name: getattr(self, name) for name in type(self).model_fields if name in known}
        )

    def custom_rules(self) -> RuleSet:
        """The config's ``[[rules.rule]]`` first, then the rules file's, in order."""
        inline, _ = parse_rules_document({"rules": {"rule": list(self.rule)}}, "[[rules.rule]]")
        from_file = load_rules(self.file) if self.file is not None else RuleSet()
        return RuleSet((*inline.rules, *from_file.rules))


DEFAULT_HEARTBEAT_SECONDS = 10.0
"""procrastinate's own default heartbeat interval."""

STALL_HEARTBEATS = 6
"""Missed heartbeats after which a worker is taken for dead, unless configured otherwise.

procrastinate's default is three (10 s beats, 30 s timeout). We wait twice that: a
worker busy with a large page on a loaded store can beat late, and taking a live
worker for dead queues its running sync a second time, while a dead worker's sync
waiting one more minute costs only freshness. With the default beat it is 60 s.
"""


class DaemonSettings(Section):
    """How `mailsync run` schedules mailboxes, and the Graph budget every sync shares.

    The budget keys apply in both modes: embedded mode enforces them inside
    its one process, cluster mode across every worker through PostgreSQL.
    """

    mode: Literal["embedded", "cluster"] = "embedded"
    tick_seconds: float = Field(default=10.0, gt=0, le=3600)
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    heartbeat_seconds: float = Field(default=DEFAULT_HEARTBEAT_SECONDS, gt=0, le=600)
    # Default: STALL_HEARTBEATS heartbeats (see _stall_from_heartbeat).
    stalled_worker_seconds: float = Field(
        default=STALL_HEARTBEATS * DEFAULT_HEARTBEAT_SECONDS, gt=0, le=86_400
    )
    retry_max_attempts: int = Field(default=5, ge=0, le=50)
    retry_exponential_seconds: int = Field(default=2, ge=2, le=60)
    tenant_max_concurrent_syncs: int = Field(default=32, ge=1, le=10_000)
    tenant_busy_retry_seconds: float = Field(default=5.0, gt=0, le=3600)
    mailbox_max_concurrent_requests: int = Field(default=4, ge=1, le=4)
    mailbox_requests_per_10_minutes: int = Field(default=10_000, ge=1, le=10_000)

    @model_validator(mode="before")
    @classmethod
    def _stall_from_heartbeat(cls, data: Any) -> Any:
        """Unset, the stall threshold follows the heartbeat: a slower beat needs a longer wait."""
        if not isinstance(data, dict) or "stalled_worker_seconds" in data:
            return data
        heartbeat = data.get("heartbeat_seconds", DEFAULT_HEARTBEAT_SECONDS)
        if isinstance(heartbeat, bool) or not isinstance(heartbeat, int | float) or heartbeat <= 0:
            return data  # the field's own check reports a bad heartbeat
        return {**data, "stalled_worker_seconds": min(STALL_HEARTBEATS * heartbeat, 86_400)}

    @model_validator(mode="after")
    def _heartbeat_below_stall(self) -> DaemonSettings:
        if self.stalled_worker_seconds < 2 * self.heartbeat_seconds:
            raise KeyedValueError(
                "stalled_worker_seconds",
                f"stalled_worker_seconds ({self.stalled_worker_seconds:g}) must be at least twice "
                f"heartbeat_seconds ({self.heartbeat_seconds:g}), or a live worker that misses "
                "one beat would have its jobs run a second time",
            )
        return self
