"""EWS sync throughput (``sync_throughput.py --provider ews``): the figures Graph gets.

One sandbox mailbox of N messages, served over EWS (SOAP over HTTPS, NTLM)
by the sandbox's EWS endpoint in the sandbox's own process
(``sandbox serve --ews-port``), with the sandbox company's CRM imported so
the rules link and tracked messages' bodies are read (GetItem), as in
production:
- end-to-end items/s (exchangelib EWS driver + engine + rules + SQLite store);
- the raw floor: exactly the SOAP requests the sync sent (every
  SyncFolderItems and GetItem, same URL, headers and body, recorded at the
  sync's own HTTP adapter), replayed one after another on one NTLM session
  and parsed by lxml (the parser exchangelib uses), nothing else. Its rate is
  the sync's item count over the replay's time, so the ratio is the time ratio;
- SyncFolderItems calls against the bound ceil(n/512)+3 per folder, n being
  the changes the folder reported (512 is the most MaxChangesReturned allows);
- peak RSS of a full sync of a 50k- and a 200k-message mailbox, each in its
  own process, and their ratio.

As for Graph: throughput is sampled ``--repeat`` times, floor and sync
alternating after one untimed warm-up sync; best of each is reported and every
sample printed. The last line is one JSON object with the Graph bench's keys.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from bench_store import SEED, prepare_store
from exchangelib.protocol import BaseProtocol
from lxml import etree
from requests_ntlm import HttpNtlmAuth

from mailsync.providers.ews.connection import TrustedCaAdapter
from mailsync.runtime import registry_for, sync_engine_for
from mailsync.sandbox.runner import SandboxHandle, running_sandbox

PAGE_SIZE = 512  # SyncFolderItems' MaxChangesReturned ceiling
USER_ENV, PASSWORD_ENV = "MAILSYNC_BENCH_EWS_USER", "MAILSYNC_BENCH_EWS_PASSWORD"
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
M = "{http://schemas.microsoft.com/exchange/services/2006/messages}"
T = "{http://schemas.microsoft.com/exchange/services/2006/types}"
UNSENT_HEADERS = frozenset({"authorization", "content-length", "cookie"})


@dataclass(frozen=True, slots=True)
class SentSoap:
    """One SOAP request exactly as the sync's HTTP adapter sent it (auth aside)."""

    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class RecordingAdapter(TrustedCaAdapter):
    """The driver's adapter, also keeping every answered SOAP request (not NTLM's 401 legs)."""

    sink: list[SentSoap] | None = None

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        response = super().send(request, *args, **kwargs)
        sink = RecordingAdapter.sink
        if sink is not None and request.body and response.status_code != 401:
            body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
            headers = tuple(
                (k, v) for k, v in request.headers.items() if k.lower() not in UNSENT_HEADERS
            )
            sink.append(SentSoap(str(request.url), headers, body))
        return response


@dataclass
class SyncRun:
    items: int
    seconds: float
    sent: list[SentSoap] = field(default_factory=list)


def ews_info(sandbox: SandboxHandle) -> Mapping[str, str]:
    info = sandbox.info.get("ews")
    if not isinstance(info, dict):
        raise SystemExit("the sandbox was started without --ews-port")
    return info


def write_config(directory: Path, sandbox: SandboxHandle, db_url: str) -> Path:
    ews = ews_info(sandbox)
    os.environ[USER_ENV], os.environ[PASSWORD_ENV] = ews["username"], ews["password"]
    path = directory / "bench.toml"
    path.write_text(
        f'[store]\nurl = "{db_url}"\n'
        f'[ews]\nurl = "{ews["url"]}"\nauth = "ntlm"\nusername_env = "{USER_ENV}"\n'
        f'password_env = "{PASSWORD_ENV}"\nimpersonation = true\nca_bundle = "{ews["ca_path"]}"\n'
        f"[sync]\npage_size = {PAGE_SIZE}\n"
        + "".join(f'[[mailboxes]]\naddress = "{a}"\nprovider = "ews"\n' for a in sandbox.mailboxes),
        encoding="utf-8",
    )
    return path


def sync_once(sandbox: SandboxHandle, workdir: Path, *, record: bool = False) -> SyncRun:
    """A full sync of the first mailbox into a fresh SQLite store holding the sandbox's CRM."""
    store = prepare_store(sandbox, workdir, write_config)
    settings, engine, sessions = store.settings, store.engine, store.sessions
    registry = registry_for(settings)
    # After the connection is built (it installs its CA adapter), before the first request.
    BaseProtocol.HTTP_ADAPTER_CLS = RecordingAdapter
    sent: list[SentSoap] = []
    RecordingAdapter.sink = sent if record else None
    sync_engine = sync_engine_for(settings, sessions)
    provider = registry.provider_for("ews", sandbox.mailboxes[0])
    started = time.perf_counter()
    outcome = sync_engine.sync_mailbox(1, provider)
    elapsed = time.perf_counter() - started
    RecordingAdapter.sink = None
    if not outcome.ok:
        raise SystemExit(f"bench sync failed: {outcome}")
    engine.dispose()
    return SyncRun(outcome.items + outcome.failures, elapsed, sent)


def operation(body: bytes) -> tuple[str, str | None]:
    """(operation, folder of a SyncFolderItems) of a recorded request."""
    op = etree.fromstring(body).find(f"{SOAP}Body")[0]
    name = etree.QName(op).localname
    folder = None
    if name == "SyncFolderItems":
        distinguished = op.find(f"{M}SyncFolderId/{T}DistinguishedFolderId")
        folder = distinguished.get("Id") if distinguished is not None else "folder-by-id"
    return name, folder


def raw_floor(sandbox: SandboxHandle, sent: list[SentSoap]) -> tuple[float, dict[str, int]]:
    """Replay the sync's SOAP requests, fetch + XML parse only: (seconds, changes per folder)."""
    ews = ews_info(sandbox)
    folders = [operation(r.body)[1] for r in sent]
    changes: dict[str, int] = {}
    with requests.Session() as session:
        session.trust_env = False
        session.verify = ews["ca_path"]
        session.auth = HttpNtlmAuth(ews["username"], ews["password"])
        started = time.perf_counter()
        for request, folder in zip(sent, folders, strict=True):
            response = session.post(request.url, data=request.body, headers=dict(request.headers))
            root = etree.fromstring(response.content)
            if folder is not None:
                found = root.find(f".//{M}Changes")
                changes[folder] = changes.get(folder, 0) + (len(found) if found is not None else 0)
        elapsed = time.perf_counter() - started
    return elapsed, changes


def rss_child(messages: int) -> None:
    """Run in a fresh process: full sync of one mailbox, print peak RSS in KiB."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(
            in_process=False, seed=SEED, mailboxes=1, messages_per_mailbox=messages, ews_port=0
        ) as sandbox,
    ):
        run = sync_once(sandbox, Path(tmp))
    print(
        json.dumps(
            {"items": run.items, "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        )
    )


def measure_rss(messages: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(messages)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return dict(json.loads(out.splitlines()[-1]))


def _same_requests(a: list[SentSoap], b: list[SentSoap]) -> bool:
    return sorted(r.body for r in a) == sorted(r.body for r in b)


def run(quick: bool, messages: int | None, repeat: int) -> None:
    """The bench for ``--provider ews``; prints the figures and the JSON line."""
    messages = messages or (2_000 if quick else 20_000)
    small, large = (5_000, 20_000) if quick else (50_000, 200_000)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_sandbox(
            in_process=False, seed=SEED, mailboxes=1, messages_per_mailbox=messages, ews_port=0
        ) as sandbox,
    ):
        # Untimed: records the requests the floor replays and warms the endpoint for both.
        # exchangelib's version probe (ConvertId) is once per process, not per sync.
        warm = sync_once(sandbox, Path(tmp) / "warm", record=True)
        warm.sent = [r for r in warm.sent if operation(r.body)[0] != "ConvertId"]
        floors: list[float] = []
        syncs: list[SyncRun] = []
        changes: dict[str, int] = {}
        for rep in range(repeat):
            floor_s, changes = raw_floor(sandbox, warm.sent)
            floors.append(floor_s)
            sync_run = sync_once(sandbox, Path(tmp) / f"run{rep}", record=True)
            if not _same_requests(sync_run.sent, warm.sent):
                raise SystemExit("the sync's requests changed between runs: the floor is not fair")
            syncs.append(sync_run)
    load = os.getloadavg()[0]
    items = syncs[0].items
    sync_rates = [r.items / r.seconds for r in syncs]
    floor_rates = [items / seconds for seconds in floors]
    msgs_per_s, floor_per_s = max(sync_rates), max(floor_rates)
    ops: dict[str, int] = {}
    for request in warm.sent:
        name = operation(request.body)[0]
        ops[name] = ops.get(name, 0) + 1
    requests_used = ops.get("SyncFolderItems", 0)
    bound = sum(math.ceil(n / PAGE_SIZE) + 3 for n in changes.values())
    print(
        f"mailbox: {messages} messages planned; {items} items synced "
        f"(changes reported: {', '.join(f'{f}={n}' for f, n in changes.items())}); "
        "sandbox CRM imported; EWS over HTTPS with NTLM"
    )
    print(
        f"end-to-end: {msgs_per_s:,.0f} items/s best of {len(syncs)} "
        f"(samples {', '.join(f'{r:,.0f}' for r in sync_rates)})"
    )
    print(
        f"raw floor: {floor_per_s:,.0f} items/s best of {len(floors)} "
        f"(samples {', '.join(f'{r:,.0f}' for r in floor_rates)}); the floor replays exactly "
        f"the sync's {len(warm.sent)} SOAP requests "
        f"({', '.join(f'{n} {op}' for op, n in sorted(ops.items()))}), fetch + lxml parse only"
    )
    ratios = [s / f for s, f in zip(sync_rates, floor_rates, strict=True)]
    print(
        f"ratio to floor: {msgs_per_s / floor_per_s:.2f} (target >= 0.70); "
        f"per pair {', '.join(f'{r:.2f}' for r in ratios)}, "
        f"median {statistics.median(ratios):.2f}; "
        f"1-min load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"SyncFolderItems calls: {requests_used} (bound {bound} = ceil(n/{PAGE_SIZE})+3 per folder"
        f" over {', '.join(changes)})"
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
                "requests": requests_used,
                "request_bound": bound,
                "rss_ratio_200k_50k": round(ratio, 3),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="timed floor/sync pairs")
    parser.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child is not None:
        rss_child(args.rss_child)
        return
    run(args.quick, args.messages, args.repeat)


if __name__ == "__main__":
    main()
