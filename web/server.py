"""Run the web service with uvicorn: in the foreground (`mailsync serve`) or beside the daemon.

``BackgroundWeb`` serves from a thread so `mailsync run` can keep its main
thread for the daemon's signal handling; stopping it lets in-flight requests
finish (uvicorn's graceful shutdown), then the thread ends.

`mailsync serve --workers N` runs N worker processes (uvicorn's supervisor),
because one Python process answers on one core at a time: the add-in's
lookups are CPU-bound in Python, so a 2-core host needs two processes to use
both cores. Each worker builds its own app from the same configuration
(``worker_app``), found the way the parent found it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_engine, make_session_factory
from mailsync.config import Settings, load_settings
from mailsync.config.loader import CONFIG_ENV
from web.app import create_app
from web.auth.scrape_token import scrape_token_from

STARTUP_TIMEOUT_SECONDS = 15.0

SERVER_OPTIONS: dict[str, Any] = {
    "proxy_headers": True,
    "forwarded_allow_ips": "127.0.0.1",
    "server_header": False,
    "log_level": "info",
    "timeout_graceful_shutdown": 10,
}


def build_server(
    settings: Settings, sessions: sessionmaker[Session], host: str, port: int
) -> uvicorn.Server:
    app = create_app(settings, sessions)
    config = uvicorn.Config(app, host=host, port=port, **SERVER_OPTIONS)
    return uvicorn.Server(config)


def serve(
    settings: Settings,
    sessions: sessionmaker[Session],
    host: str,
    port: int,
    *,
    workers: int = 1,
    config_path: Path | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (uvicorn installs the handlers in the main thread)."""
    # A missing scrape token fails here, in the command, not in each spawned worker.
    scrape_token_from(settings)
    if workers <= 1:
        build_server(settings, sessions, host, port).run()
        return
    if config_path is not None:
        # Worker processes are spawned: they find the configuration through the environment.
        os.environ[CONFIG_ENV] = str(config_path.resolve())
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        **SERVER_OPTIONS,
    )


def worker_app() -> FastAPI:
    """The app of one `mailsync serve --workers N` process, from the parent's configuration."""
    settings = load_settings()
    return create_app(settings, make_session_factory(make_engine(settings.database_url)))


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
