"""Run a background service in the main thread until SIGTERM or SIGINT asks it to stop.

The single-process daemon and the cluster ticker both stop the same way: the
signal only sets their stop event (a handler must not block), the main thread
then stops the scheduler, and the previous handlers come back so a caller (a
test, the CLI) is left as it was.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)


def run_until_signalled(
    start: Callable[[], None],
    stop: Callable[[], None],
    stop_event: threading.Event,
    *,
    stopping: str,
) -> None:
    """Start, wait for ``stop_event`` (set by SIGTERM/SIGINT or by anyone), then stop.

    ``stopping`` is logged on a signal to say what the service does before it exits.
    """

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: %s", signum, stopping)
        stop_event.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        start()
        stop_event.wait()
    finally:
        stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
