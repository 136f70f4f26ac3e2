"""The application factory: settings and a session factory in, a FastAPI app out.

Everything the routes need lives on ``app.state.web`` (a ``WebState``), so a
test builds an app against its own database, identity provider and clock
without touching globals. Manager pages (issue 6) add their routers here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import session_scope
from crm_store.links import UnknownRecord
from crm_store.sync_writes import InvalidPage
from mailsync.config import Settings
from web.api import API_PREFIX, api_router
from web.api.metrics import metrics_router
from web.auth.entra import EntraTokenValidator, JwksCache
from web.auth.errors import IdentityProviderUnavailable, NotAuthenticated
from web.auth.principal import Authenticator
from web.auth.scrape_token import scrape_token_from
from web.errors import Conflict, Forbidden, InvalidInput, NotFound
from web.hot_reads import HotReads
from web.middleware import AdmissionMiddleware, BodyLimitMiddleware, SecurityHeadersMiddleware
from web.pages import add_pages
from web.problem import field_problem, problem
from web.rules_context import RulesContext, rules_settings_from
from web.schemas.field_error import field_path
from web.state import WebState
from web.static import ADDIN_PREFIX, ADDIN_STATIC, OFFICE_JS_DIST, mount_addin_files

log = logging.getLogger(__name__)

OFFICE_ORIGINS = (
    "https://outlook.office.com",
    "https://outlook.office365.com",
    "https://outlook.live.com",
    "https://outlook.cloud.microsoft",
)
"""Where Outlook on the web runs add-in code from; the only foreign origins we answer."""

DOCS_PATH = "/api/docs"


def create_app(
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    jwks_http: httpx.Client | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    static_dir: Path = ADDIN_STATIC,
    office_js_dir: Path = OFFICE_JS_DIST,
) -> FastAPI:
    web = settings.web
    hot_reads = HotReads.beside(session_factory, web.max_concurrent_requests)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        hot_reads.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="mailsync",
        summary="Outlook add-in API of mailsync: who is who in the CRM, and item links.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=DOCS_PATH,
        redoc_url=None,
    )
    app.state.web = WebState(
        web=web,
        sessions=session_factory,
        authenticator=Authenticator(_entra_validator(settings, jwks_http), clock, session_factory),
        rules=RulesContext(
            rules_settings_from(settings.rules),
            settings.rules.internal_domains,
            settings.rules.custom_rules(),
            [mailbox.address for mailbox in settings.mailboxes],
        ),
        hot_reads=hot_reads,
        clock=clock,
    )
    app.include_router(api_router())
    app.include_router(
        metrics_router(
            scrape_token_from(settings),
            settings.daemon.stalled_worker_seconds,
            push_enabled=settings.push.enabled,
        )
    )
    add_pages(app, settings)
    _add_health(app)
    _add_error_handlers(app)
    mount_addin_files(app, static_dir, office_js_dir)
    origins = list(dict.fromkeys([web.public_origin, *web.allowed_origins, *OFFICE_ORIGINS]))
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type"],
        allow_credentials=False,
        max_age=600,
    )
    app.add_middleware(
        SecurityHeadersMiddleware,
        https=web.public_base_url.startswith("https://"),
        addin_prefix=ADDIN_PREFIX,
        docs_path=DOCS_PATH,
    )
    app.add_middleware(AdmissionMiddleware, limit=web.max_concurrent_requests, prefix="/api/")
    app.add_middleware(BodyLimitMiddleware, max_bytes=web.max_body_bytes)
    return app


def _entra_validator(settings: Settings, http: httpx.Client | None) -> EntraTokenValidator | None:
    entra = settings.web.entra
    if entra is None:
        return None
    keys = JwksCache(
        entra.effective_jwks_url,
        http or httpx.Client(follow_redirects=False),
        cache_seconds=entra.jwks_cache_seconds,
    )
    return EntraTokenValidator(
        keys,
        audience=entra.audience,
        issuer=entra.effective_issuer,
        leeway_seconds=entra.leeway_seconds,
    )


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"], summary="Alive, and the store answers")
    def healthz(request: Request) -> JSONResponse:
        state: WebState = request.app.state.web
        try:
            with session_scope(state.sessions) as session:
                session.execute(text("SELECT 1"))
        except OperationalError as exc:
            log.warning("health check: store unreachable: %s", exc.orig)
            return JSONResponse({"status": "degraded", "store": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "store": "ok"})


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'to', 0, 'address') → 'to[0].address'; the request part is dropped
    unless it is all there is (a query string wrong as a whole is 'query')."""
    parts = list(location)
    part_of_request = "body"
    if parts and parts[0] in ("body", "query", "path", "header"):
        part_of_request, parts = parts[0], parts[1:]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or part_of_request


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_name(field_path(error)),
                "message": str(error.get("msg", "invalid")),
            }
            for error in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
        return problem(422, summary or "invalid request", errors)

    @app.exception_handler(InvalidInput)
    async def invalid_input(_: Request, exc: InvalidInput) -> JSONResponse:
        return field_problem(422, exc)

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(_: Request, exc: NotAuthenticated) -> JSONResponse:
        response = problem(401, f"not signed in: {exc.reason}")
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    @app.exception_handler(IdentityProviderUnavailable)
    async def idp_down(_: Request, exc: IdentityProviderUnavailable) -> JSONResponse:
        log.error("%s", exc)
        return problem(503, "cannot check sign-in right now: the identity provider is unreachable")

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return problem(403, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(UnknownRecord)
    async def unknown_record(_: Request, exc: UnknownRecord) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return problem(409, str(exc))

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error answered with 409: %s", exc.orig)
        return problem(409, "this conflicts with a record that was written at the same time")

    @app.exception_handler(InvalidPage)
    async def invalid_page(_: Request, exc: InvalidPage) -> JSONResponse:
        return problem(422, str(exc))
