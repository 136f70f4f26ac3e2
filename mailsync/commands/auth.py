"""`mailsync auth login`: sign in once, before the daemon needs a token.

A delegated (device-code) setup has no credential of its own: someone has to
sign in interactively, and the daemon then lives on the refresh token in the
encrypted cache. Doing that in a command of its own keeps the daemon free of
prompts. For an app-only setup the same command fetches one token, which is
the quickest way to learn whether the tenant, the app and its secret or
certificate are right before a sync fails with the same error.
"""

from __future__ import annotations

import os

import click

from mailsync.auth.token_cache import PersistentTokenCache, TokenCacheError
from mailsync.auth.tokens import DeviceCodeTokenSource, authority_url, graph_scope
from mailsync.commands.context import AppContext, pass_app
from mailsync.config import ConfigError
from mailsync.config.errors import ConfigProblem
from mailsync.config.sections import TenantSettings
from mailsync.providers.base import AuthFailed, TemporaryFailure
from mailsync.runtime import token_source_for


class SignInFailed(click.ClickException):
    """The authority refused or could not be reached: one line, no traceback."""


def _tenant(app: AppContext) -> TenantSettings:
    tenant = app.settings.tenant
    if tenant is None:
        raise ConfigError(
            app.config_path,
            [
                ConfigProblem(
                    "tenant",
                    "there is no [tenant] section, so there is nothing to sign in to",
                    "add [tenant] with tenant_id and client_id (and auth = 'device_code' "
                    "for a delegated sign-in)",
                )
            ],
        )
    return tenant


def _persistent_cache(app: AppContext, tenant: TenantSettings) -> PersistentTokenCache:
    """The cache the sync reads; a sign-in that would only live in memory is refused.

    Without a cache file or key the refresh token would be gone when this
    command exits, and the daemon would fail with "not signed in" later.
    """
    if tenant.token_cache_path is None:
        raise ConfigError(
            app.config_path,
            [
                ConfigProblem(
                    "tenant.token_cache_path",
                    "is not set, so a device-code sign-in would be lost when the command ends",
                    'set token_cache_path = "mailsync-tokens.bin" in [tenant]',
                )
            ],
        )
    if not os.environ.get(tenant.token_cache_key_env):
        raise ConfigError(
            app.config_path,
            [
                ConfigProblem(
                    "tenant.token_cache_key_env",
                    f"the environment variable {tenant.token_cache_key_env} is not set, so the "
                    "token cache cannot be encrypted",
                    f"export {tenant.token_cache_key_env}=$(python -c 'from cryptography.fernet "
                    "import Fernet; print(Fernet.generate_key().decode())')",
                )
            ],
        )
    try:
        return PersistentTokenCache.from_env(tenant.token_cache_path, tenant.token_cache_key_env)
    except TokenCacheError as exc:
        raise click.ClickException(str(exc)) from exc


def _device_code_login(app: AppContext, tenant: TenantSettings) -> None:
    source = DeviceCodeTokenSource(
        client_id=tenant.client_id,
        authority=authority_url(str(tenant.authority_host), tenant.tenant_id),
        scope=graph_scope(str(tenant.graph_url)),
        cache=_persistent_cache(app, tenant),
        ca_bundle=tenant.ca_bundle,
    )
    before = set(source.signed_in_users())
    source.sign_in(lambda message: click.echo(message))
    users = source.signed_in_users()
    new = [user for user in users if user not in before] or users
    click.echo(f"Signed in as {', '.join(new)}; the token is kept in {tenant.token_cache_path}.")


def _client_credentials_check(app: AppContext, tenant: TenantSettings) -> None:
    token_source_for(app.settings, tenant).access_token()
    click.echo(
        f"App-only token acquired for client {tenant.client_id} in tenant {tenant.tenant_id}: "
        "the app registration and its credential work."
    )


@click.group("auth")
def auth_group() -> None:
    """Sign in to Microsoft Entra ID (device code) or check the app's credential."""


@auth_group.command("login")
@pass_app
def login_command(app: AppContext) -> None:
    """Device code: sign a person in and cache the token. App-only: fetch one token as a check."""
    tenant = _tenant(app)
    try:
        if tenant.auth == "device_code":
            _device_code_login(app, tenant)
        else:
            _client_credentials_check(app, tenant)
    except (AuthFailed, TemporaryFailure) as exc:
        raise SignInFailed(str(exc)) from exc
