"""Run the web service with uvicorn: in the foreground (`mailsync serve`) or beside the daemon.

``BackgroundWeb`` serves from a thread so `mailsync run` can keep its main
thread for the daemon's signal handling; stopping it lets in-flight requests
finish (uvicorn's graceful shutdown), then the thread ends.
"""

from __future__ import annotations

import threading

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from mailsync.config import Settings
from web.app import create_app

STARTUP_TIMEOUT_SECONDS = 15.0


def build_server(
    settings: Settings, sessions: sessionmaker[Session], host: str, port: int
) -> uvicorn.Server:
    app = create_app(settings, sessions)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
        log_level="info",
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


def serve(settings: Settings, sessions: sessionmaker[Session], host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT (uvicorn installs the handlers in the main thread)."""
    build_server(settings, sessions, host, port).run()


class BackgroundWeb:
    """The web service in a thread next to the sync daemon (`mailsync run`)."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        web = settings.web
        self.server = build_server(settings, sessions, web.host, web.port)
        self._thread = threading.Thread(target=self.server.run, name="mailsync-web", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = threading.Event()
        while not self.server.started and self._thread.is_alive():
            deadline.wait(0.05)
        if not self.server.started:
            raise RuntimeError("the web service did not start; see the log above")

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
