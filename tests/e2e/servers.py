"""Run an ASGI app under uvicorn on a loopback port in a thread, for as long as a test needs it.

The port is bound before the app is built, so the app can be told its own public URL
(the web service needs it for CORS and the add-in's URLs).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

START_TIMEOUT_S = 10.0


@contextmanager
def serve_on_loopback(build_app: Callable[[str], Any]) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) of ``build_app(base_url)`` while it runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(build_app(base_url), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    waited = 0.0
    while not server.started:
        if not thread.is_alive() or waited > START_TIMEOUT_S:
            sock.close()
            raise RuntimeError(f"uvicorn did not start on {base_url}")
        started.wait(0.01)
        waited += 0.01
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
