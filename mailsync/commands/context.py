"""What every command gets from the top-level group: settings and the store, on demand.

Settings are loaded lazily so ``--help`` and commands that need no
configuration work even when the config file is broken; a command that does
need them gets a ``ConfigError``, which the top-level group prints without a
traceback. One engine per process, disposed when the command ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_engine, make_session_factory
from mailsync.config import Settings, load_settings


@dataclass
class AppContext:
    """The ``ctx.obj`` of every mailsync command (use ``@pass_app``)."""

    config_path: Path | None
    _settings: Settings | None = field(default=None, init=False, repr=False)
    _engine: Engine | None = field(default=None, init=False, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @property
    def database_label(self) -> str:
        """The store's URL with any password hidden, for messages."""
        return make_url(self.settings.database_url).render_as_string(hide_password=True)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


pass_app = click.make_pass_decorator(AppContext)
