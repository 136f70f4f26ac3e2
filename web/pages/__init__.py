"""Manager pages (issue 6): server-rendered HTML under /pages, on the API's app and store.

``add_pages`` is the one call the app factory makes; everything the pages
need (templates, the session signer, the msal sign-in client, report
thresholds) lives on ``app.state.pages``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from mailsync.config import Settings
from web.pages import dashboard, records, search, signin_routes, suggestions
from web.pages.rendering import make_environment, page
from web.pages.session import SessionSigner
from web.pages.signin_client import SignInClient
from web.pages.state import PagesState
from web.pages.viewer import BadCsrfToken, SignInRequired

STATIC = Path(__file__).resolve().parent.parent / "static" / "pages"


def add_pages(app: FastAPI, settings: Settings) -> None:
    options = settings.pages
    signer = None
    signin = None
    if options.signin == "entra":
        signer = SessionSigner(
            settings.read_secret("pages.session_key_env"), options.session_hours * 3600
        )
        signin = SignInClient.from_settings(settings)
    state = PagesState(
        templates=make_environment(),
        reports=settings.reports,
        signer=signer,
        signin=signin,
        public_base_url=settings.web.public_base_url,
    )
    app.state.pages = state
    for module in (signin_routes, dashboard, records, search, suggestions):
        app.include_router(module.router)
    app.mount("/pages/static", StaticFiles(directory=STATIC), name="pages-static")

    @app.get("/pages", include_in_schema=False)
    def pages_root() -> Response:
        return RedirectResponse("/pages/", status_code=308)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _: SignInRequired) -> Response:
        if state.signin is None:
            return page(state.templates, request, "pages/signin_off.html", {}, status=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/pages/login?next={quote(target)}", status_code=303)

    @app.exception_handler(BadCsrfToken)
    async def bad_csrf(request: Request, _: BadCsrfToken) -> Response:
        context = {"error": "this form expired or came from another site; reload and retry"}
        return page(state.templates, request, "pages/signin_error.html", context, status=403)
