"""Wire settings into a working sync: tokens, HTTP client, drivers, engine, daemon.

Everything process-wide (the msal application and its encrypted cache, the
pooled HTTP client) is built once here and shared by every mailbox; each
mailbox gets its own transport so request counts and refreshes stay per
mailbox. The provider registry maps a mailbox's provider name to a factory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy.orm import Session, sessionmaker

from crm_store.our_addresses import our_addresses
from mailsync.auth.token_cache import PersistentTokenCache
from mailsync.auth.tokens import (
    AppOnlyTokenSource,
    DeviceCodeTokenSource,
    TokenSource,
    authority_url,
    certificate_credential,
    graph_scope,
)
from mailsync.budget import BudgetLimits, InProcessBudget, RequestBudget
from mailsync.config import Settings
from mailsync.config.sections import TenantSettings
from mailsync.direction import InternalConfig, InternalParties
from mailsync.engine import EngineSettings, SyncEngine
from mailsync.linking import ContactAddressLinker, Linker
from mailsync.outcome import BackoffPolicy
from mailsync.providers.base import MailboxProvider, PermanentFailure
from mailsync.providers.ews import (
    EwsConnection,
    EwsConnectionSettings,
    EwsProvider,
    EwsSyncSettings,
)
from mailsync.providers.ews.connection import EWS_SCOPE
from mailsync.providers.graph import GraphProvider, GraphSyncSettings, GraphTransport
from mailsync.providers.graph.transport import new_http_client
from mailsync.rules_linker import RulesLinkers
from rules.free_mail import free_mail_domains

GRAPH_API_VERSION = "v1.0"

ProviderFactory = Callable[[str], MailboxProvider]


def token_source_for(settings: Settings, tenant: TenantSettings) -> TokenSource:
    scope = graph_scope(str(tenant.graph_url))
    if tenant.auth == "device_code":
        return DeviceCodeTokenSource(
            client_id=tenant.client_id,
            authority=authority_url(str(tenant.authority_host), tenant.tenant_id),
            scope=scope,
            cache=PersistentTokenCache.from_env(
                tenant.token_cache_path, tenant.token_cache_key_env
            ),
            ca_bundle=tenant.ca_bundle,
        )
    return _app_only_token_source(settings, tenant, scope)


def _app_only_token_source(
    settings: Settings, tenant: TenantSettings, scope: str
) -> AppOnlyTokenSource:
    """The [tenant] app's own credential (certificate, else client secret) for one API's scope.

    Graph and EWS use the same app registration and differ only in the scope asked for.
    """
    cache = PersistentTokenCache.from_env(tenant.token_cache_path, tenant.token_cache_key_env)
    authority = authority_url(str(tenant.authority_host), tenant.tenant_id)
    if tenant.certificate_path is not None:
        passphrase = (
            settings.read_secret("tenant.certificate_password_env")
            if tenant.certificate_password_env
            else None
        )
        credential: str | dict[str, object] = certificate_credential(
            tenant.certificate_path, tenant.certificate_thumbprint, passphrase
        )
    else:
        credential = settings.read_secret("tenant.client_secret_env")
    return AppOnlyTokenSource(
        client_id=tenant.client_id,
        authority=authority,
        credential=credential,
        scope=scope,
        cache=cache,
        ca_bundle=tenant.ca_bundle,
    )


@dataclass
class ProviderRegistry:
    """Provider name → factory of a mailbox's driver."""

    factories: dict[str, ProviderFactory] = field(default_factory=dict)

    def register(self, name: str, factory: ProviderFactory) -> None:
        self.factories[name] = factory

    def provider_for(self, name: str, address: str) -> MailboxProvider:
        try:
            factory = self.factories[name]
        except KeyError:
            raise PermanentFailure(
                f"provider {name!r} is not configured (known: {', '.join(self.factories)})"
            ) from None
        return factory(address)


@dataclass
class GraphFactory:
    """Builds GraphProviders sharing one HTTP client and one token source."""

    client: httpx.Client
    tokens: TokenSource
    graph_api: str
    page_size: int
    sync: GraphSyncSettings
    budget: RequestBudget | None = None
    transports: dict[str, GraphTransport] = field(default_factory=dict)

    def __call__(self, address: str) -> MailboxProvider:
        return GraphProvider(address, self.transport_for(address), self.sync)

    def transport_for(self, address: str) -> GraphTransport:
        """The mailbox's own transport (its request counts and budget); also for subscriptions."""
        transport = GraphTransport(
            client=self.client,
            tokens=self.tokens,
            graph_url=self.graph_api,
            page_size=self.page_size,
            budget=self.budget,
            mailbox=address,
        )
        self.transports[address] = transport
        return transport


def budget_limits(settings: Settings) -> BudgetLimits:
    daemon = settings.daemon
    return BudgetLimits(
        max_concurrent_requests=daemon.mailbox_max_concurrent_requests,
        requests_per_window=daemon.mailbox_requests_per_10_minutes,
        max_concurrent_syncs=daemon.tenant_max_concurrent_syncs,
    )


def graph_factory(settings: Settings, budget: RequestBudget | None = None) -> GraphFactory:
    """``budget`` defaults to an in-process one; cluster workers pass the shared one."""
    tenant = settings.tenant
    if tenant is None:
        raise PermanentFailure("no [tenant] section: Graph mailboxes cannot be synced")
    sync = settings.sync
    return GraphFactory(
        client=new_http_client(tenant.ca_bundle),
        tokens=token_source_for(settings, tenant),
        graph_api=f"{str(tenant.graph_url).rstrip('/')}/{GRAPH_API_VERSION}",
        page_size=sync.page_size,
        sync=GraphSyncSettings(
            mail_folders=(*sync.folders, *sync.extra_folders),
            calendar=sync.calendar,
            calendar_days_back=sync.calendar_days_back,
            calendar_days_ahead=sync.calendar_days_ahead,
            fetch_ahead=settings.daemon.mailbox_max_concurrent_requests >= 2,
        ),
        budget=budget or InProcessBudget(budget_limits(settings)),
    )


@dataclass
class EwsFactory:
    """Builds EwsProviders sharing one exchangelib configuration (one session pool)."""

    connection: EwsConnection
    sync: EwsSyncSettings

    def __call__(self, address: str) -> MailboxProvider:
        return EwsProvider(address, self.connection, self.sync)


def ews_factory(settings: Settings) -> EwsFactory:
    """The [ews] section wired up; secrets are read from the environment now."""
    ews = settings.ews
    if ews is None:
        raise PermanentFailure("no [ews] section: EWS mailboxes cannot be synced")
    sync = settings.sync
    tokens = None
    client_id = tenant_id = ""
    if ews.auth == "oauth":
        tenant = settings.tenant
        if tenant is None:
            raise PermanentFailure("[ews] auth = 'oauth' needs the [tenant] app registration")
        tokens = ews_token_source(settings, tenant)
        client_id, tenant_id = tenant.client_id, tenant.tenant_id
    login = ews.auth in ("ntlm", "basic")
    connection = EwsConnection(
        EwsConnectionSettings(
            url=str(ews.url) if ews.url else None,
            auth=ews.auth,
            impersonation=ews.impersonation,
            username=settings.read_secret("ews.username_env") if login else None,
            password=settings.read_secret("ews.password_env") if login else None,
            ca_bundle=ews.ca_bundle,
        ),
        tokens=tokens,
        client_id=client_id,
        tenant_id=tenant_id,
    )
    return EwsFactory(
        connection,
        EwsSyncSettings(
            mail_folders=(*sync.folders, *sync.extra_folders),
            calendar=sync.calendar,
            calendar_days_back=sync.calendar_days_back,
            calendar_days_ahead=sync.calendar_days_ahead,
            page_size=sync.page_size,
        ),
    )


def ews_token_source(settings: Settings, tenant: TenantSettings) -> TokenSource:
    """The [tenant] app's msal token source, asking for Exchange's scope instead of Graph's."""
    return _app_only_token_source(settings, tenant, EWS_SCOPE)


def registry_for(settings: Settings, budget: RequestBudget | None = None) -> ProviderRegistry:
    registry = ProviderRegistry()
    if settings.tenant is not None:
        registry.register("graph", graph_factory(settings, budget))
    if settings.ews is not None and any(m.provider == "ews" for m in settings.mailboxes):
        registry.register("ews", ews_factory(settings))
    return registry


def internal_config(settings: Settings) -> InternalConfig:
    """The configured half of who is ours (``[rules]`` and ``[[mailboxes]]``)."""
    rules = settings.rules
    return InternalConfig(
        tuple(rules.internal_domains),
        tuple(m.address for m in settings.mailboxes),
        free_mail_domains(rules.extra_free_mail_domains),
    )


def internal_parties(settings: Settings, sessions: sessionmaker[Session]) -> InternalParties:
    """Who is ours now, by the one definition web uses too (``InternalParties.known``).

    For a one-off command; a syncing process keeps it current in its live index.
    """
    with sessions() as session:
        return internal_config(settings).parties(our_addresses(session))


def default_linker(session: Session) -> Linker:
    return ContactAddressLinker.load(session)


def rules_linkers_for(settings: Settings, sessions: sessionmaker[Session]) -> RulesLinkers:
    """The configured rules over a CRM index built once for this process (see RulesLinkers)."""
    return RulesLinkers(
        sessions,
        settings.rules.engine_settings(),
        settings.rules.custom_rules(),
        internal=internal_config(settings),
    )


def sync_engine_for(settings: Settings, sessions: sessionmaker[Session]) -> SyncEngine:
    """The engine, whose message direction follows the live index's view of who is ours."""
    sync = settings.sync
    linkers = rules_linkers_for(settings, sessions)
    return SyncEngine(
        sessions,
        linkers,
        linkers.internal,
        EngineSettings(
            backoff=BackoffPolicy(sync.interval_seconds, sync.max_backoff_seconds),
            write_back_category=sync.write_back_category,
            category_name=sync.category_name,
        ),
    )
