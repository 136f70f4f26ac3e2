"""The requests session msal talks to the authority through.

msal contacts the authority (discovery, token endpoint) with its own HTTP
client; a tenant behind a private CA (the sandbox, a TLS-inspecting proxy)
needs that client to trust the CA bundle, so we hand msal a configured session.
"""

from __future__ import annotations

from pathlib import Path

import requests

MSAL_TIMEOUT_SECONDS = 30.0


class _TimeoutSession(requests.Session):
    """A session that never waits forever: msal passes no timeout of its own."""

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("timeout", MSAL_TIMEOUT_SECONDS)
        return super().request(method, url, *args, **kwargs)


def msal_http_client(ca_bundle: Path | None) -> requests.Session:
    session = _TimeoutSession()
    if ca_bundle is not None:
        session.verify = str(ca_bundle)
    return session
