"""mailsync configuration: a TOML file validated into frozen pydantic settings.

Use ``load_settings()`` (the CLI does it once, from ``--config``); catch
``ConfigError`` only to print it. Secrets are read on use with
``settings.read_secret("tenant.client_secret_env")``.
"""

from mailsync.config.database_url import DEFAULT_DATABASE_FILE, DEFAULT_DATABASE_URL
from mailsync.config.errors import ConfigError, ConfigProblem
from mailsync.config.loader import (
    CONFIG_ENV,
    DATABASE_URL_ENV,
    DEFAULT_CONFIG_NAME,
    load_settings,
    locate_config,
)
from mailsync.config.sections import (
    WELL_KNOWN_FOLDERS,
    DaemonSettings,
    EwsSettings,
    MailboxSettings,
    RulesSettings,
    StoreSettings,
    SyncSettings,
    TenantSettings,
)
from mailsync.config.settings import Settings
from mailsync.config.web import EntraSettings, WebSettings

__all__ = [
    "CONFIG_ENV",
    "DATABASE_URL_ENV",
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_DATABASE_FILE",
    "DEFAULT_DATABASE_URL",
    "WELL_KNOWN_FOLDERS",
    "ConfigError",
    "ConfigProblem",
    "DaemonSettings",
    "EntraSettings",
    "EwsSettings",
    "MailboxSettings",
    "RulesSettings",
    "Settings",
    "StoreSettings",
    "SyncSettings",
    "TenantSettings",
    "WebSettings",
    "load_settings",
    "locate_config",
]
