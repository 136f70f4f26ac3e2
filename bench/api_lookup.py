"""Latency of GET /api/v1/lookup with 1M contacts on PostgreSQL under 50 concurrent clients.

A fresh schema in the PostgreSQL test database is migrated with the real
Alembic revisions and bulk-loaded with COPY: accounts of ~10 contacts each
(one domain per account), one email per contact, two open opportunities per
account. The web service runs in its own process (uvicorn, the real app,
authenticating every request with a personal API token), so the client's
work does not share its GIL. 50 client tasks each ask for a known contact's
address plus an unknown colleague at the same company (contact + domain
lookups, rules suggestions), paced so the 50 together send ``--rate``
requests per second (0 = as fast as the server answers: a saturation test,
where latency is queueing, not work).

Last line: {"p50_ms", "p99_ms", "contacts"}. Target p99 ≤ 20 ms.
``--quick``: 20k contacts and fewer requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG_URL = os.environ.get(
    "MAILSYNC_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLIENTS = 50
CONTACTS_PER_ACCOUNT = 10
SELLERS = 50


def conninfo(url: str) -> str:
    parsed = make_url(url)
    return (
        f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} "
        f"user={parsed.username or 'postgres'} dbname={parsed.database or 'test'}"
    )


def schema_url(schema: str) -> str:
    return (
        make_url(PG_URL)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


def load(schema: str, contacts: int) -> str:
    """Migrate and COPY the CRM in; returns an API token for a seller."""
    from crm_store.migrate import upgrade

    upgrade(schema_url(schema))
    accounts = max(1, contacts // CONTACTS_PER_ACCOUNT)
    started = time.perf_counter()
    with psycopg.connect(conninfo(PG_URL)) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        with conn.cursor() as cur:
            with cur.copy("COPY users (id, email, display_name, role) FROM STDIN") as copy:
                for n in range(1, SELLERS + 1):
                    copy.write_row((n, f"rep{n}@ourco.example", f"Rep {n}", "salesperson"))
            with cur.copy("COPY accounts (id, name, owner_id) FROM STDIN") as copy:
                for a in range(1, accounts + 1):
                    copy.write_row((a, f"Account {a}", a % SELLERS + 1))
            with cur.copy("COPY account_domains (id, account_id, domain) FROM STDIN") as copy:
                for a in range(1, accounts + 1):
                    copy.write_row((a, a, f"acct{a}.example"))
            columns = "id, code, name, account_id, stage, status, owner_id"
            with cur.copy(f"COPY opportunities ({columns}) FROM STDIN") as copy:
                for a in range(1, accounts + 1):
                    for k in range(2):
                        ident = 2 * a - 1 + k
                        copy.write_row(
                            (
                                ident,
                                f"OPP-{ident:06d}",
                                f"Deal {ident}",
                                a,
                                "proposal",
                                "open",
                                a % SELLERS + 1,
                            )
                        )
            with cur.copy(
                "COPY contacts (id, first_name, last_name, account_id) FROM STDIN"
            ) as copy:
                for c in range(1, contacts + 1):
                    copy.write_row(
                        (c, f"First{c}", f"Last{c}", (c - 1) // CONTACTS_PER_ACCOUNT + 1)
                    )
            with cur.copy(
                "COPY contact_emails (id, contact_id, email, position) FROM STDIN"
            ) as copy:
                for c in range(1, contacts + 1):
                    account = (c - 1) // CONTACTS_PER_ACCOUNT + 1
                    copy.write_row((c, c, f"person{c}@acct{account}.example", 0))
            for table in (
                "users",
                "accounts",
                "account_domains",
                "opportunities",
                "contacts",
                "contact_emails",
            ):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            cur.execute("ANALYZE")
        conn.commit()
    print(
        f"loaded {contacts:,} contacts, {accounts:,} accounts in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )

    from crm_store.database import make_engine, make_session_factory, session_scope
    from crm_store.models import User
    from web.auth.api_tokens import issue_token

    engine = make_engine(schema_url(schema))
    with session_scope(make_session_factory(engine), write=True) as session:
        user = session.get_one(User, 1)
        token = issue_token(session, user, name="bench").token
    engine.dispose()
    return token


def serve(url: str, port: int) -> None:
    """The server process: the real app on loopback, quiet logs."""
    import uvicorn

    from crm_store.database import make_engine, make_session_factory
    from mailsync.config import Settings
    from web.app import create_app

    engine = make_engine(url, pool_size=20, max_overflow=20)
    settings = Settings.model_validate({"rules": {"internal_domains": ["ourco.example"]}})
    app = create_app(settings, make_session_factory(engine))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=120,
    )


async def drive(port: int, token: str, contacts: int, requests: int, rate: float) -> list[float]:
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    per_client = requests // CLIENTS
    interval = CLIENTS / rate if rate > 0 else 0.0
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=60.0
    ) as client:

        async def one_client(seed: int, count: int, record: bool) -> None:
            rnd = random.Random(seed)
            next_at = time.perf_counter() + rnd.random() * interval
            for _ in range(count):
                if interval:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_at += interval
                c = rnd.randint(1, contacts)
                account = (c - 1) // CONTACTS_PER_ACCOUNT + 1
                params = [
                    ("address", f"person{c}@acct{account}.example"),
                    ("address", f"new{rnd.randint(1, 10**6)}@acct{account}.example"),
                ]
                started = time.perf_counter()
                response = await client.get("/api/v1/lookup", params=params)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"lookup answered {response.status_code}: {response.text}")
                if record:
                    latencies.append(elapsed * 1000)

        await asyncio.gather(*(one_client(n, 10, False) for n in range(CLIENTS)))  # warm-up
        await asyncio.gather(*(one_client(1000 + n, per_client, True) for n in range(CLIENTS)))
    return latencies


def wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server process exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k contacts, fewer requests")
    parser.add_argument("--contacts", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument(
        "--rate",
        type=float,
        default=250.0,
        help="requests per second of all 50 clients together (0: unpaced)",
    )
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    contacts = args.contacts or (20_000 if args.quick else 1_000_000)
    requests = args.requests or (2_500 if args.quick else 15_000)
    schema = f"mailsync_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(conninfo(PG_URL), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    server: subprocess.Popen[bytes] | None = None
    try:
        token = load(schema, contacts)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", schema_url(schema), "--port", str(port)],
            cwd=REPO,
        )
        wait_ready(port, server)
        started = time.perf_counter()
        latencies = asyncio.run(drive(port, token, contacts, requests, args.rate))
        wall = time.perf_counter() - started
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(conninfo(PG_URL), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"{len(latencies)} lookups by {CLIENTS} clients at {args.rate or 'max'} req/s target: "
        f"{len(latencies) / wall:.0f} req/s achieved, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {latencies[-1]:.1f} ms; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(json.dumps({"p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "contacts": contacts}))


if __name__ == "__main__":
    main()
