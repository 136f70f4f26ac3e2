"""What the manager pages hold for the app's life, next to the API's ``WebState``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from jinja2 import Environment

from mailsync.config.reports import ReportsSettings
from web.pages.session import SessionSigner
from web.pages.signin_client import SignInClient


@dataclass(frozen=True)
class PagesState:
    templates: Environment
    reports: ReportsSettings
    signer: SessionSigner | None
    signin: SignInClient | None
    public_base_url: str


def pages_state(request: Request) -> PagesState:
    state: PagesState = request.app.state.pages
    return state
