"""End-to-end Graph sync throughput against the sandbox, its raw floor, requests and memory.

Prints, for one sandbox mailbox of N messages served over HTTPS, with the
sandbox company's CRM imported (so the rules link, and tracked messages'
bodies are fetched through ``$batch`` as in production):
- end-to-end items/s (msal + Graph driver + engine + rules + SQLite store);
- the raw floor: exactly the HTTP requests the sync made (every delta page and
  every ``$batch`` of bodies, same URLs, headers and bodies, recorded from the
  sync's own client), replayed in order and JSON-parsed, nothing else; the
  ``$batch`` requests between two delta pages go out in waves as wide as the
  sync's (the mailbox budget's slots less the page fetched ahead), so the sync
  gets no credit for parallel requests the floor could make as well;
- Graph delta requests used against the bound ceil(n/page)+3 per folder;
- peak RSS of a full sync of a 50k- and a 200k-message mailbox (each in its own
  process, the sandbox in another) and their ratio.

The machine is shared, so throughput is sampled ``--repeat`` times, floor and
sync alternating after one untimed warm-up sync (which also warms the
sandbox's caches for both); the best of each is reported, every sample is
printed. The last line is one JSON object. ``--quick`` runs small sizes in seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bench_store import SEED, prepare_store

from mailsync.providers.graph.driver import CALENDAR_FOLDER, GraphProvider
from mailsync.runtime import GraphFactory, registry_for, sync_engine_for
from mailsync.sandbox.runner import SandboxHandle, running_sandbox

PAGE_SIZE = 500
SECRET_ENV = "MAILSYNC_BENCH_SECRET"


@dataclass(frozen=True, slots=True)
class SentRequest:
    """One HTTP request exactly as the sync's client sent it."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    content: bytes


@dataclass
class SyncRun:
    items: int
    seconds: float
    requests: dict[str, int]
    sent: list[SentRequest] = field(default_factory=list)
    body_parallelism: int = 1


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


def sync_once(sandbox: SandboxHandle, workdir: Path, *, record: bool = False) -> SyncRun:
    """A full sync of the first mailbox into a fresh SQLite store holding the sandbox's CRM."""
    store = prepare_store(sandbox, workdir, write_config)
    settings, engine, sessions = store.settings, store.engine, store.sessions
    registry = registry_for(settings)
    factory = registry.factories["graph"]
    assert isinstance(factory, GraphFactory)
    sent: list[SentRequest] = []
    if record:

        def keep(request: httpx.Request) -> None:
            sent.append(
                SentRequest(
                    request.method,
                    str(request.url),
                    tuple((k, v) for k, v in request.headers.items() if k != "content-length"),
                    request.read(),
                )
            )

        factory.client.event_hooks = {"request": [keep], "response": []}
    sync_engine = sync_engine_for(settings, sessions)
    address = sandbox.mailboxes[0]
    provider = registry.provider_for("graph", address)
    started = time.perf_counter()
    outcome = sync_engine.sync_mailbox(1, provider)
    elapsed = time.perf_counter() - started
    if not outcome.ok:
        raise SystemExit(f"bench sync failed: {outcome}")
    engine.dispose()
    requests = dict(factory.transports[address].requests)
    assert isinstance(provider, GraphProvider)
    return SyncRun(
        outcome.items + outcome.failures, elapsed, requests, sent, provider.body_parallelism()
    )


def raw_floor(
    sandbox: SandboxHandle, sent: list[SentRequest], width: int
) -> tuple[int, float, dict[str, int]]:
    """Replay the sync's requests, fetch + JSON parse only: (items, seconds, items per folder).

    Delta pages one after another (each names the next); the ``$batch``
    requests recorded between two of them in waves of ``width``, as the sync
    sends them.
    """
    per_folder: dict[str, int] = {}
    items = 0

    def fetch(client: httpx.Client, request: SentRequest) -> Any:
        response = client.request(
            request.method, request.url, headers=dict(request.headers), content=request.content
        )
        return json.loads(response.content)

    with (
        httpx.Client(verify=sandbox.ssl_context(), timeout=120) as client,
        ThreadPoolExecutor(max_workers=max(1, width)) as pool,
    ):
        started = time.perf_counter()
        waiting: list[SentRequest] = []
        for request in [*sent, None]:
            if request is not None and request.url.endswith("/$batch"):
                waiting.append(request)
                continue
            for start in range(0, len(waiting), width):
                list(pool.map(lambda r: fetch(client, r), waiting[start : start + width]))
            waiting = []
            if request is None:
                break
            body = fetch(client, request)
            if "value" in body:
                items += len(body["value"])
                folder = _folder_of(request.url)
                per_folder[folder] = per_folder.get(folder, 0) + len(body["value"])
        elapsed = time.perf_counter() - started
    return items, elapsed, per_folder


def _folder_of(url: str) -> str:
    if "/calendarView/" in url:
        return CALENDAR_FOLDER
    return url.split("/mailFolders/", 1)[1].split("/", 1)[0]


def rss_child(messages: int) -> None:
    """Run in a fresh process: full sync of one mailbox, print peak RSS in KiB."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(
            in_process=False,
            seed=SEED,
            mailboxes=1,
            messages_per_mailbox=messages,
            max_page_size=PAGE_SIZE,
        ) as sandbox,
    ):
        run = sync_once(sandbox, Path(tmp))
    print(
        json.dumps(
            {"items": run.items, "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
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


def _same_requests(a: list[SentRequest], b: list[SentRequest]) -> bool:
    def key(r: SentRequest) -> tuple[str, str, bytes]:
        return (r.method, r.url, r.content)

    return sorted(map(key, a)) == sorted(map(key, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds")
    parser.add_argument("--provider", choices=["graph", "ews"], default="graph")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="timed floor/sync pairs")
    parser.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child is not None:
        rss_child(args.rss_child)
        return
    if args.provider == "ews":
        # Same figures over EWS; that bench lives beside this one (bench/ews_throughput_support.py).
        from ews_throughput_support import run as run_ews

        run_ews(args.quick, args.messages, args.repeat)
        return
    messages = args.messages or (2_000 if args.quick else 20_000)
    small, large = (5_000, 20_000) if args.quick else (50_000, 200_000)

    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(
            in_process=False,
            seed=SEED,
            mailboxes=1,
            messages_per_mailbox=messages,
            max_page_size=PAGE_SIZE,
        ) as sandbox,
    ):
        # Untimed: records the requests the floor replays and warms the sandbox for both.
        warm = sync_once(sandbox, Path(tmp) / "warm", record=True)
        floors: list[tuple[int, float]] = []
        syncs: list[SyncRun] = []
        per_folder: dict[str, int] = {}
        for rep in range(args.repeat):
            floor_items, floor_s, per_folder = raw_floor(sandbox, warm.sent, warm.body_parallelism)
            floors.append((floor_items, floor_s))
            run = sync_once(sandbox, Path(tmp) / f"run{rep}", record=True)
            if not _same_requests(run.sent, warm.sent):
                raise SystemExit("the sync's requests changed between runs: the floor is not fair")
            syncs.append(run)
    load = os.getloadavg()[0]
    items = syncs[0].items
    sync_rates = [run.items / run.seconds for run in syncs]
    floor_rates = [n / seconds for n, seconds in floors]
    msgs_per_s, floor_per_s = max(sync_rates), max(floor_rates)
    requests = syncs[0].requests.get("delta", 0)
    batches = syncs[0].requests.get("batch", 0)
    bound = sum(math.ceil(n / PAGE_SIZE) + 3 for n in per_folder.values())
    print(
        f"mailbox: {messages} messages planned; {items} items synced "
        f"({', '.join(f'{f}={n}' for f, n in per_folder.items())}); sandbox CRM imported"
    )
    print(
        f"end-to-end: {msgs_per_s:,.0f} items/s best of {len(syncs)} "
        f"(samples {', '.join(f'{r:,.0f}' for r in sync_rates)})"
    )
    print(
        f"raw floor: {floor_per_s:,.0f} items/s best of {len(floors)} "
        f"(samples {', '.join(f'{r:,.0f}' for r in floor_rates)}); the floor replays exactly "
        f"the sync's {len(warm.sent)} HTTP requests ({requests} delta pages + {batches} $batch "
        f"of bodies, in waves of {warm.body_parallelism} as the sync sends them), "
        "fetch + JSON parse only"
    )
    ratios = [s / f for s, f in zip(sync_rates, floor_rates, strict=True)]
    print(
        f"ratio to floor: {msgs_per_s / floor_per_s:.2f} (target >= 0.70); "
        f"per pair {', '.join(f'{r:.2f}' for r in ratios)}, "
        f"median {statistics.median(ratios):.2f}; "
        f"1-min load average {load:.1f} on {os.cpu_count()} cores"
    )
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
