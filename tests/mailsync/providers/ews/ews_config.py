"""An EWS endpoint attached to a running Graph sandbox, and mailsync configs that use it.

The endpoint serves the sandbox's own world (same seeded company, same
changes, same ground truth) and shares its fault injector and TLS material,
so one sandbox can be a hybrid Exchange organisation: some mailboxes synced
over Graph, others over EWS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailsync.sandbox.ews import EwsAccount, EwsEndpoint, EwsEndpointSettings
from mailsync.sandbox.runner import SandboxHandle
from tests.mailsync.sync_support import SECRET_ENV

SERVICE = EwsAccount("svc-mailsync", "correct horse battery", impersonation=True)
USER_ENV = "MAILSYNC_TEST_EWS_USER"
PASSWORD_ENV = "MAILSYNC_TEST_EWS_PASSWORD"


@contextmanager
def ews_endpoint(sandbox: SandboxHandle) -> Iterator[EwsEndpoint]:
    server = sandbox.server
    assert server is not None, "the EWS endpoint joins an in-process sandbox"
    endpoint = EwsEndpoint(
        server.world,
        EwsEndpointSettings(accounts=(SERVICE,)),
        faults=server.faults,
        tls_files=server.tls,
    )
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


def write_hybrid_config(
    directory: Path,
    sandbox: SandboxHandle,
    endpoint: EwsEndpoint,
    db_url: str,
    providers: dict[str, str],
    *,
    page_size: int = 20,
) -> Path:
    """A mailsync.toml with each mailbox on the provider named for it; secrets in env only."""
    os.environ[USER_ENV] = f"{SERVICE.domain}\\{SERVICE.username}"
    os.environ[PASSWORD_ENV] = SERVICE.password
    os.environ[SECRET_ENV] = sandbox.client_secret
    tenant = ""
    if "graph" in providers.values():
        tenant = f"""
[tenant]
tenant_id = "{sandbox.tenant}"
client_id = "{sandbox.client_id}"
client_secret_env = "{SECRET_ENV}"
authority_host = "{sandbox.base_url}"
graph_url = "{sandbox.base_url}"
ca_bundle = "{sandbox.ca_path}"
"""
    mailboxes = "".join(
        f'\n[[mailboxes]]\naddress = "{address}"\nprovider = "{provider}"\n'
        for address, provider in providers.items()
    )
    path = directory / "mailsync.toml"
    path.write_text(
        f"""
[store]
url = "{db_url}"
{tenant}
[ews]
url = "{endpoint.url}"
auth = "ntlm"
username_env = "{USER_ENV}"
password_env = "{PASSWORD_ENV}"
impersonation = true
ca_bundle = "{endpoint.ca_path}"

[sync]
page_size = {page_size}
interval_seconds = 60
jitter_seconds = 0
{mailboxes}
""",
        encoding="utf-8",
    )
    return path
