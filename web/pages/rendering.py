"""HTML and CSV answers of the manager pages, with the headers every page needs.

Pages carry no inline script at all, so the Content-Security-Policy can say
``script-src 'self'`` without nonces: any script that an e-mail or a record
name managed to smuggle into the markup would not run. Email bodies are
framed from ``/pages/messages/{id}/body`` only (``frame-src 'self'``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _when(value: datetime | date | None, style: str = "datetime") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d" if style == "date" else "%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _size(value: int) -> str:
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value} {unit}"
        value //= 1024
    return f"{value} GB"


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["size"] = _size
    env.globals["query"] = lambda **params: urlencode({k: v for k, v in params.items() if v})
    return env


def page(
    env: Environment, request: Request, template: str, context: Mapping[str, Any], status: int = 200
) -> HTMLResponse:
    html = env.get_template(template).render({"request": request, **context})
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"},
    )


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response:
    """A CSV download; cells that a spreadsheet would run as a formula are defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
