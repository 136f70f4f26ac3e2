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
    """A session that never waits forever (msal passes no timeout of its own).

    The CA bundle is passed on every request, not only set on the session:
    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override
    ``session.verify``, which would silently distrust the configured CA.
    """

    def __init__(self, ca_bundle: Path | None) -> None:
        super().__init__()
        self._ca_bundle = str(ca_bundle) if ca_bundle is not None else None

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("timeout", MSAL_TIMEOUT_SECONDS)
        if self._ca_bundle is not None:
            kwargs["verify"] = self._ca_bundle
        return super().request(method, url, *args, **kwargs)


def msal_http_client(ca_bundle: Path | None) -> requests.Session:
    return _TimeoutSession(ca_bundle)
