"""The add-in's files and Office.js, served from this service (no CDN at run time).

``addin_manifest/static`` is served at /addin/ (the manifests point there)
and ``node_modules/@microsoft/office-js/dist`` (installed by ``npm ci``) at
/addin/office-js/, the path the add-in's pages load Office.js from.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from addin_manifest.addin import OFFICE_JS, STATIC_PREFIX

log = logging.getLogger(__name__)

REPOSITORY = Path(__file__).resolve().parent.parent
ADDIN_STATIC = REPOSITORY / "addin_manifest" / "static"
OFFICE_JS_DIST = REPOSITORY / "node_modules" / "@microsoft" / "office-js" / "dist"
ADDIN_PREFIX = f"/{STATIC_PREFIX}"
OFFICE_JS_PREFIX = f"{ADDIN_PREFIX}/{OFFICE_JS.partition('/')[0]}"


def mount_addin_files(
    app: FastAPI, static_dir: Path = ADDIN_STATIC, office_js_dir: Path = OFFICE_JS_DIST
) -> None:
    if office_js_dir.is_dir():
        app.mount(OFFICE_JS_PREFIX, StaticFiles(directory=office_js_dir), name="office-js")
    else:
        log.warning(
            "Office.js not found at %s: run `npm ci` in the repository; the task pane "
            "cannot start without it",
            office_js_dir,
        )
    if static_dir.is_dir():
        app.mount(ADDIN_PREFIX, StaticFiles(directory=static_dir, html=True), name="addin")
    else:
        log.warning("add-in files not found at %s", static_dir)
