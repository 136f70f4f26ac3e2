"""The one shape of every error answer: ``{"detail": …, "errors": [{"field", "message"}]}``.

The add-in, scripts and Graph's notification calls all read errors the same
way, so the app's exception handlers and the routes that answer an error
themselves (the Graph endpoints, which must not raise into the app's 422s)
build it here.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from web.errors import InvalidInput


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status)


def field_problem(status: int, error: InvalidInput) -> JSONResponse:
    """``error`` names one field: ``detail`` is ``field: message``, and the field is listed."""
    return problem(status, str(error), [{"field": error.field, "message": error.message}])
