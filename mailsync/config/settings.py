"""The whole configuration: sections plus the checks that span them."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator

from mailsync.config.database_url import with_password
from mailsync.config.errors import ConfigError, ConfigProblem, KeyedValueError
from mailsync.config.pages import PagesSettings
from mailsync.config.push import PushSettings
from mailsync.config.reports import ReportsSettings
from mailsync.config.sections import (
    DaemonSettings,
    EwsSettings,
    MailboxSettings,
    RulesSettings,
    Section,
    StoreSettings,
    SyncSettings,
    TenantSettings,
)
from mailsync.config.web import WebSettings


class Settings(Section):
    """Validated configuration; build it with ``mailsync.config.load_settings``.

    ``tenant`` and ``ews`` are optional because a store-only installation
    (import, export, the web pages) needs neither; a mailbox that uses a
    provider requires that provider's section.
    """

    store: StoreSettings = Field(default_factory=StoreSettings)
    tenant: TenantSettings | None = None
    ews: EwsSettings | None = None
    sync: SyncSettings = Field(default_factory=SyncSettings)
    mailboxes: tuple[MailboxSettings, ...] = Field(default=())
    rules: RulesSettings = Field(default_factory=RulesSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    pages: PagesSettings = Field(default_factory=PagesSettings)
    reports: ReportsSettings = Field(default_factory=ReportsSettings)
    push: PushSettings = Field(default_factory=PushSettings)

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _mailboxes_have_their_provider(self) -> Settings:
        seen: set[str] = set()
        for index, mailbox in enumerate(self.mailboxes):
            if mailbox.address in seen:
                raise KeyedValueError(
                    f"mailboxes[{index}].address",
                    f"mailbox {mailbox.address} is listed twice in [[mailboxes]]; remove one",
                )
            seen.add(mailbox.address)
            if mailbox.provider == "graph" and self.tenant is None:
                raise KeyedValueError(
                    f"mailboxes[{index}].provider",
                    f"mailbox {mailbox.address} uses provider 'graph' but there is no [tenant] "
                    "section; add [tenant] with tenant_id and client_id",
                )
            if mailbox.provider == "ews" and self.ews is None:
                raise KeyedValueError(
                    f"mailboxes[{index}].provider",
                    f"mailbox {mailbox.address} uses provider 'ews' but there is no [ews] section; "
                    "add [ews] (an empty section means autodiscover with NTLM)",
                )
        if self.ews is not None and self.ews.auth == "oauth" and self.tenant is None:
            raise KeyedValueError(
                "ews.auth", "auth = 'oauth' signs in with the [tenant] app; add a [tenant] section"
            )
        if self.pages.signin == "entra":
            self._check_pages_signin()
        if self.daemon.mode == "cluster" and not self.store.url.startswith("postgresql"):
            raise KeyedValueError(
                "daemon.mode",
                "daemon mode 'cluster' shares mailboxes between processes through "
                "a job queue in PostgreSQL; set [store] url to a postgresql+psycopg:// URL or "
                "use mode = 'embedded'",
            )
        if self.push.enabled and self.daemon.mode != "cluster":
            raise KeyedValueError(
                "push.enabled",
                "push notifications queue syncs on the cluster's job queue; set "
                "[daemon] mode = 'cluster' (PostgreSQL) or push.enabled = false",
            )
        if self.push.enabled and self.push.safety_poll_seconds < self.sync.interval_seconds:
            # The safety poll is for mailboxes push already covers; polling them more
            # often than uncovered ones spends Graph's budget where it is least needed.
            raise KeyedValueError(
                "push.safety_poll_seconds",
                f"push.safety_poll_seconds ({self.push.safety_poll_seconds}) is shorter than "
                f"sync.interval_seconds ({self.sync.interval_seconds}), so mailboxes push "
                "covers would poll more often than those it does not; set "
                "push.safety_poll_seconds to at least sync.interval_seconds "
                "(the default is 3600), or lower sync.interval_seconds",
            )
        return self

    def _check_pages_signin(self) -> None:
        if self.tenant is None:
            raise KeyedValueError(
                "pages.signin",
                "signin = 'entra' signs people in with the [tenant] app registration; add a "
                "[tenant] section with tenant_id and client_id, or use signin = 'api_token'",
            )
        if self.tenant.client_secret_env is None and self.tenant.certificate_path is None:
            raise KeyedValueError(
                "pages.signin",
                "signin = 'entra' redeems the sign-in code as a confidential client; give "
                "[tenant] a client_secret_env or a certificate_path",
            )

    @property
    def source(self) -> Path | None:
        """The file these settings came from (None: built-in defaults)."""
        return self._source

    @property
    def database_url(self) -> str:
        """The URL to open, with the password from ``store.password_env`` when one is named."""
        if self.store.password_env is None:
            return self.store.url
        return with_password(self.store.url, self.read_secret("store.password_env"))

    @property
    def enabled_mailboxes(self) -> tuple[MailboxSettings, ...]:
        return tuple(mailbox for mailbox in self.mailboxes if mailbox.enabled)

    def read_secret(self, key: str) -> str:
        """The value of the environment variable that the ``*_env`` key ``key`` names.

        Read at the moment of use, never at load, so commands that need no
        secret (``db upgrade``, ``import``) run without them, and the secret
        never sits in the settings object.
        """
        section_name, _, field_name = key.partition(".")
        section = getattr(self, section_name, None)
        variable = getattr(section, field_name, None) if section is not None else None
        if not field_name.endswith("_env") or not isinstance(variable, str):
            raise ConfigError(
                self._source,
                [ConfigProblem(key, "no environment variable is named here", f"set {key}")],
            )
        value = os.environ.get(variable, "")
        if not value:
            raise ConfigError(
                self._source,
                [
                    ConfigProblem(
                        key,
                        f"names the environment variable {variable}, which is not set or empty",
                        f"export {variable}=… in the environment mailsync runs in",
                    )
                ],
            )
        return value
