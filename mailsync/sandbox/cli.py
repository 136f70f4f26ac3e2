"""``mailsync sandbox …``: run the Graph look-alike, write its company's CRM files.

Attach to the main CLI with ``main.add_command(sandbox_group)``. ``serve``
prints one line ``SANDBOX-READY {json}`` (base URL, CA path, tenant, client
id and secret) once it listens, which is how ``running_sandbox(in_process=False)``
and ``make demo`` find it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from mailsync.sandbox.ews.beside import ews_beside
from mailsync.sandbox.faults import ALL_REQUEST_FAULTS, FaultKind
from mailsync.sandbox.runner import READY_PREFIX, serve, write_crm


def _kinds(_: click.Context, __: click.Parameter, value: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    allowed = ", ".join(k.value for k in FaultKind)
    for kind in kinds:
        if kind not in {k.value for k in FaultKind}:
            raise click.BadParameter(f"unknown fault kind {kind!r}; allowed: {allowed}")
    return kinds


def _anchor(_: click.Context, __: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO date/time, e.g. 2025-06-01T00:00:00+00:00"
        ) from exc
    if parsed.tzinfo is None:
        raise click.BadParameter("the anchor needs a time zone, e.g. 2025-06-01T00:00:00+00:00")
    return parsed


@click.group("sandbox")
def sandbox_group() -> None:
    """A local Microsoft Graph look-alike with a generated company (for demos and tests)."""


@sandbox_group.command("serve")
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--mailboxes", type=click.IntRange(1, 20_000), default=3, show_default=True)
@click.option("--messages-per-mailbox", type=click.IntRange(0), default=500, show_default=True)
@click.option("--meetings-per-mailbox", type=click.IntRange(0), default=None)
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option(
    "--fault-kinds",
    callback=_kinds,
    default=",".join(k.value for k in ALL_REQUEST_FAULTS),
    show_default=True,
    help="Comma-separated: 429,503,410,401,drop.",
)
@click.option("--malformed-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--max-page-size", type=click.IntRange(1), default=999, show_default=True)
@click.option("--default-page-size", type=click.IntRange(1), default=10, show_default=True)
@click.option("--token-lifetime", type=float, default=3600.0, show_default=True)
@click.option("--max-retry-after", type=float, default=2.0, show_default=True)
@click.option("--max-concurrency-per-mailbox", type=click.IntRange(1), default=None)
@click.option("--require-immutable-id", is_flag=True, default=False)
@click.option("--anchor", callback=_anchor, default=None, help="'Now' of the generated data (ISO).")
@click.option("--tenant", default=None)
@click.option("--client-id", default=None)
@click.option("--client-secret", default=None, envvar="MAILSYNC_SANDBOX_CLIENT_SECRET")
@click.option("--device-code-interval", type=click.IntRange(0), default=1, show_default=True)
@click.option("--device-code-pending-polls", type=click.IntRange(0), default=1, show_default=True)
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option(
    "--ews-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also serve the same world over EWS on this port (0 picks one).",
)
@click.option(
    "--ews-password",
    default=None,
    envvar="MAILSYNC_SANDBOX_EWS_PASSWORD",
    help="Password of the EWS service account (default: random, printed in the ready line).",
)
def serve_command(
    port: int,
    seed: int,
    mailboxes: int,
    messages_per_mailbox: int,
    fault_rate: float,
    ews_port: int | None,
    ews_password: str | None,
    **options: Any,
) -> None:
    """Serve Graph, the token endpoints and /_sandbox admin API over HTTPS on 127.0.0.1.

    With --ews-port, the same mailboxes are served over EWS too (a hybrid
    Exchange organisation in one process).
    """

    def ready(info: dict[str, Any]) -> None:
        click.echo(READY_PREFIX + json.dumps(info), nl=True)
        click.echo(
            f"mailsync sandbox on {info['base_url']} (CA {info['ca_path']}, "
            f"tenant {info['tenant']}, "
            f"{len(info['mailboxes'])} mailboxes); Ctrl-C stops it.",
            err=True,
        )
        if "ews" in info:
            click.echo(f"EWS on {info['ews']['url']} as {info['ews']['username']}", err=True)

    beside = ews_beside(ews_port, password=ews_password) if ews_port is not None else None
    serve(
        port,
        seed,
        mailboxes,
        messages_per_mailbox,
        fault_rate,
        ready=ready,
        beside=beside,
        **options,
    )


@sandbox_group.command("write-crm")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--mailboxes", type=click.IntRange(1, 500), default=3, show_default=True)
def write_crm_command(directory: Path, seed: int, mailboxes: int) -> None:
    """Write users/accounts/contacts/opportunities CSVs of the sandbox company."""
    for kind, path in write_crm(directory, seed=seed, mailboxes=mailboxes).items():
        click.echo(f"{kind}: {path}")
