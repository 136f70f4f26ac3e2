"""The convergence-under-chaos loop, for every provider's chaos test.

A real ``mailsync sync --once`` subprocess is SIGKILLed at random points
while the mailboxes change between runs, then restarted until one pass ends
cleanly. The caller brings the sandbox (faults configured) and the config
(Graph, EWS or both) and checks the store against the ground truth after.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mailsync.sandbox.runner import SandboxHandle

SYNC = [sys.executable, "-c", "from mailsync.cli import main; main()"]


def start_sync(config: Path, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [*SYNC, "--config", str(config), "sync", "--once"],
        stdout=out,
        stderr=out,
        env={**os.environ, "COLUMNS": "120"},
    )


def mutate(sandbox: SandboxHandle, rng: random.Random) -> None:
    """New mail, deletions, moves and meeting changes between two runs."""
    for address in sandbox.mailboxes:
        sandbox.deliver(address, rng.randint(1, 6))
    live = sorted(
        (copy["mailbox"], copy["id"])
        for truth in sandbox.truth_messages()
        for copy in truth["copies"]
        if not copy["removed"]
    )
    for address, item_id in rng.sample(live, min(4, len(live))):
        action = rng.choice(["delete", "move", "hard"])
        if action == "move":
            sandbox.move(address, item_id, rng.choice(["archive", "sentitems", "inbox"]))
        else:
            sandbox.delete(address, item_id, hard=action == "hard")
    meetings = sandbox.truth_meetings()
    if meetings:
        meeting = rng.choice(meetings)
        if rng.random() < 0.5:
            sandbox.cancel_meeting(meeting["uid"])
        else:
            sandbox.update_meeting(
                meeting["uid"], subject="Moved: " + meeting["subject"], shift_minutes=30
            )


def kill_after_requests(
    process: subprocess.Popen[bytes],
    served: Callable[[], int],
    count: int,
    *,
    timeout: float = 120.0,
) -> None:
    """SIGKILL ``process`` once the server has answered ``count`` more requests.

    Counting requests instead of seconds puts the kill inside the sync however
    slow the machine is (a busy CI box spends seconds importing before the
    first request). A process that ends first is simply waited for.
    """
    start = served()
    deadline = time.monotonic() + timeout
    while process.poll() is None and served() - start < count and time.monotonic() < deadline:
        time.sleep(0.005)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()


def kill_then_converge(
    sandbox: SandboxHandle,
    config: Path,
    log: Path,
    rng: random.Random,
    *,
    kills: int,
    max_final_runs: int = 15,
    kill_after: tuple[float, float] = (0.8, 3.0),
    final_pass: Callable[[], bool] | None = None,
) -> list[int]:
    """Kill ``kills`` runs at random points (mutating between), then rerun until one ends 0.

    The first run after the kills is always a fresh subprocess (the restart
    after SIGKILL). With ``final_pass`` (one in-process pass over every
    mailbox, True when all ended OK) the runs after it go in-process, as a
    daemon would reschedule them: with faults on every request, a run ends at
    its first throttle and convergence takes many short runs, which a fresh
    interpreter per run would make minutes slower without proving more.

    Returns the exit codes of the final runs (an in-process pass counts 0 or
    3, as ``sync --once`` would exit); the last is 0 when a pass ended cleanly.
    """
    for _ in range(kills):
        process = start_sync(config, log)
        time.sleep(rng.uniform(*kill_after))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
        mutate(sandbox, rng)
    codes: list[int] = []
    for run in range(max_final_runs):
        if final_pass is None or run == 0:
            codes.append(start_sync(config, log).wait(timeout=300))
        else:
            codes.append(0 if final_pass() else 3)
        if codes[-1] == 0:
            break
    return codes
