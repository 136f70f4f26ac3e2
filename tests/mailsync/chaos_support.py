"""The convergence-under-chaos loop, for every provider's chaos test.

A real ``mailsync sync --once`` subprocess is SIGKILLed at random points
while the mailboxes change between runs, then restarted until one pass ends
cleanly. The caller brings the sandbox (faults configured) and the config
(Graph, EWS or both) and checks the store against the ground truth after.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

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


class SyncProcess(Protocol):
    """What the chaos loop needs of a running sync: a subprocess, or a forked one."""

    pid: int

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...


# A single-threaded process that imports the CLI once, then forks one real
# `mailsync sync --once` per request; each child runs main() and exits with its
# code, and can be SIGKILLed like any process. Forking saves the CLI's import
# (seconds on a busy box) on every run without changing what runs.
_FORK_SERVER = r"""
import json, os, sys
from mailsync.cli import main
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    if request["op"] == "start":
        pid = os.fork()
        if pid == 0:
            os.environ.clear()
            os.environ.update(request["env"])
            out = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.dup2(out, 1)
            os.dup2(out, 2)
            code = 0
            try:
                main.main(args=request["argv"], prog_name="mailsync")
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        answer = pid
    else:
        flags = os.WNOHANG if request["op"] == "poll" else 0
        done, status = os.waitpid(request["pid"], flags)
        answer = os.waitstatus_to_exitcode(status) if done else None
    print(json.dumps(answer), flush=True)
"""


class ForkedSync:
    def __init__(self, server: SyncForkServer, pid: int) -> None:
        self._server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.ask({"op": "poll", "pid": self.pid})
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._server.ask({"op": "wait", "pid": self.pid})
        assert self.returncode is not None
        return self.returncode


class SyncForkServer:
    """Starts `mailsync sync --once` runs as forks of one process that imported the CLI."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError("the sync fork server did not start")

    def ask(self, request: dict[str, object]) -> int | None:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = json.loads(self._process.stdout.readline())
        return None if answer is None else int(answer)

    def start_sync(self, config: Path, log: Path) -> ForkedSync:
        argv = ["--config", str(config), "sync", "--once"]
        env = {**os.environ, "COLUMNS": "120"}
        pid = self.ask({"op": "start", "argv": argv, "log": str(log), "env": env})
        assert pid is not None
        return ForkedSync(self, pid)

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)


def kill_after_requests(
    process: SyncProcess,
    served: Callable[[], int],
    count: int,
    *,
    timeout: float = 120.0,
) -> int:
    """SIGKILL ``process`` once the server has answered ``count`` more requests; its exit code.

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
    return process.wait()


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
