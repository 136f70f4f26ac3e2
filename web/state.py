"""What the app holds for its whole life: settings, sessions, token checks, the rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from mailsync.config.web import WebSettings
from web.auth.principal import Authenticator
from web.hot_reads import HotReads
from web.rules_context import RulesContext


@dataclass(frozen=True)
class WebState:
    web: WebSettings
    sessions: sessionmaker[Session]
    authenticator: Authenticator
    rules: RulesContext
    hot_reads: HotReads
    clock: Callable[[], datetime]
