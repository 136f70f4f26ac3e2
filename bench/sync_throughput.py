"""End-to-end Graph sync throughput against the sandbox, its raw floor, requests and memory.

Prints, for one sandbox mailbox of N messages served over HTTPS:
- end-to-end messages/s (msal + Graph driver + engine + SQLite store);
- the raw floor: the same delta pages fetched and JSON-parsed, nothing else;
- Graph delta requests used against the bound ceil(n/page)+3 per folder;
- peak RSS of a full sync of a 50k- and a 200k-message mailbox (each in its own
  process, the sandbox in another) and their ratio.
The last line is one JSON object. ``--quick`` runs small sizes in seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from crm_store.database import make_engine, make_session_factory, session_scope
from crm_store.migrate import upgrade
from mailsync.config import load_settings
from mailsync.mailboxes import register_mailboxes
from mailsync.providers.graph.driver import CALENDAR_FOLDER, GraphProvider
from mailsync.runtime import GraphFactory, registry_for, sync_engine_for
from mailsync.sandbox.runner import SandboxHandle, running_sandbox

PAGE_SIZE = 500
SECRET_ENV = "MAILSYNC_BENCH_SECRET"


def write_config(directory: Path, sandbox: SandboxHandle, db_url: str) -> Path:
    os.environ[SECRET_ENV] = sandbox.client_secret
    path = directory / "bench.toml"
    path.write_text(
        f'[store]\nurl = "{db_url}"\n[tenant]\ntenant_id = "{sandbox.tenant}"\n'
        f'client_id = "{sandbox.client_id}"\nclient_secret_env = "{SECRET_ENV}"\n'
        f'authority_host = "{sandbox.base_url}"\ngraph_url = "{sandbox.base_url}"\n'
        f'ca_bundle = "{sandbox.ca_path}"\n[sync]\npage_size = {PAGE_SIZE}\n'
        + "".join(f'[[mailboxes]]\naddress = "{a}"\n' for a in sandbox.mailboxes),
        encoding="utf-8",
    )
    return path


def raw_floor(sandbox: SandboxHandle, provider: GraphProvider) -> tuple[int, float, dict[str, int]]:
    """Items, seconds and items per folder for fetching + JSON-parsing the same pages."""
    token = sandbox.app_token()
    headers = {
        "Authorization": f"Bearer {token}",
        "Prefer": f'odata.maxpagesize={PAGE_SIZE}, IdType="ImmutableId"',
    }
    per_folder: dict[str, int] = {}
    started = time.perf_counter()
    with httpx.Client(verify=sandbox.ca_path, timeout=120) as client:
        for folder in provider.folders():
            url: str | None = provider.first_url(folder)
            count = 0
            while url:
                body = json.loads(client.get(url, headers=headers).content)
                count += len(body["value"])
                url = body.get("@odata.nextLink")
            per_folder[folder] = count
    return sum(per_folder.values()), time.perf_counter() - started, per_folder


def sync_once(sandbox: SandboxHandle, workdir: Path) -> tuple[int, float, int]:
    """(items, seconds, delta requests) of a full sync into a fresh SQLite store."""
    db_url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(db_url)
    settings = load_settings(write_config(workdir, sandbox, db_url))
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    with session_scope(sessions, write=True) as session:
        register_mailboxes(session, settings.mailboxes)
    registry = registry_for(settings)
    sync_engine = sync_engine_for(settings, sessions)
    address = sandbox.mailboxes[0]
    provider = registry.provider_for("graph", address)
    started = time.perf_counter()
    outcome = sync_engine.sync_mailbox(1, provider)
    elapsed = time.perf_counter() - started
    if not outcome.ok:
        raise SystemExit(f"bench sync failed: {outcome}")
    factory = registry.factories["graph"]
    assert isinstance(factory, GraphFactory)
    engine.dispose()
    return outcome.items + outcome.failures, elapsed, factory.transports[address].requests["delta"]


def rss_child(messages: int) -> None:
    """Run in a fresh process: full sync of one mailbox, print peak RSS in KiB."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(
            in_process=False,
            seed=3,
            mailboxes=1,
            messages_per_mailbox=messages,
            max_page_size=PAGE_SIZE,
        ) as sandbox,
    ):
        items, _, _ = sync_once(sandbox, Path(tmp))
    print(
        json.dumps(
            {"items": items, "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        )
    )


def measure_rss(messages: int) -> dict[str, Any]:
    out = (
        subprocess.run(
            [sys.executable, __file__, "--rss-child", str(messages)],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    return dict(json.loads(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds")
    parser.add_argument("--provider", choices=["graph", "ews"], default="graph")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child is not None:
        rss_child(args.rss_child)
        return
    if args.provider == "ews":
        raise SystemExit("--provider ews: the EWS driver is not benchmarked yet")
    messages = args.messages or (2_000 if args.quick else 20_000)
    small, large = (5_000, 20_000) if args.quick else (50_000, 200_000)

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(
            in_process=False,
            seed=3,
            mailboxes=1,
            messages_per_mailbox=messages,
            max_page_size=PAGE_SIZE,
        ) as sandbox,
    ):
        settings = load_settings(write_config(Path(tmp), sandbox, "sqlite:///unused.db"))
        factory = registry_for(settings).factories["graph"]
        provider = factory(sandbox.mailboxes[0])
        assert isinstance(provider, GraphProvider)
        floor_items, floor_s, per_folder = raw_floor(sandbox, provider)
        items, sync_s, requests = sync_once(sandbox, Path(tmp))
    bound = sum(math.ceil(n / PAGE_SIZE) + 3 for n in per_folder.values())
    msgs_per_s = items / sync_s
    floor_per_s = floor_items / floor_s
    print(
        f"mailbox: {messages} messages planned; {items} items synced "
        f"({', '.join(f'{f}={n}' for f, n in per_folder.items())})"
    )
    print(f"end-to-end: {msgs_per_s:,.0f} items/s ({sync_s:.1f}s)")
    print(f"raw floor (fetch + JSON parse): {floor_per_s:,.0f} items/s ({floor_s:.1f}s)")
    print(f"ratio to floor: {msgs_per_s / floor_per_s:.2f} (target >= 0.70)")
    print(
        f"Graph delta requests: {requests} (bound {bound} = ceil(n/{PAGE_SIZE})+3 per folder"
        f" over {', '.join(f for f in per_folder if f != CALENDAR_FOLDER)} and calendar)"
    )
    rss_small, rss_large = measure_rss(small), measure_rss(large)
    ratio = rss_large["max_rss_kib"] / rss_small["max_rss_kib"]
    print(
        f"peak RSS: {small} msgs {rss_small['max_rss_kib'] / 1024:.0f} MiB, "
        f"{large} msgs {rss_large['max_rss_kib'] / 1024:.0f} MiB, ratio {ratio:.2f} (target <= 1.1)"
    )
    print(
        json.dumps(
            {
                "msgs_per_s": round(msgs_per_s, 1),
                "floor_msgs_per_s": round(floor_per_s, 1),
                "ratio_to_floor": round(msgs_per_s / floor_per_s, 3),
                "requests": requests,
                "request_bound": bound,
                "rss_ratio_200k_50k": round(ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
