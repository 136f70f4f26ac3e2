"""msal authentication for the Graph driver: app-only and device-code tokens.

Tokens come from msal; the cache that holds them is persisted only encrypted
(``token_cache``), and every token source exposes the same two calls so the
HTTP transport can refresh once on a 401 without knowing which flow made it.
"""

from mailsync.auth.token_cache import PersistentTokenCache, TokenCacheError
from mailsync.auth.tokens import (
    AppOnlyTokenSource,
    DeviceCodeTokenSource,
    TokenSource,
    graph_scope,
)

__all__ = [
    "AppOnlyTokenSource",
    "DeviceCodeTokenSource",
    "PersistentTokenCache",
    "TokenCacheError",
    "TokenSource",
    "graph_scope",
]
