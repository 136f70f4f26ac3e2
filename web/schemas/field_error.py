"""A cross-field check's failure that still names the one field to fix.

Pydantic reports an error raised in a model validator at the model itself, so
a check spanning several fields of a selector (all four of a meeting's
identity, or none), or one that walks the raw input (unstorable text), would
be reported at ``body`` or ``item``. Such a check
raises ``field_error`` instead: the field, as the client spells it, travels in
the error's context, and the API's 422 handler (``web.app``) appends it to the
model's path, whether the model came from the query string or a JSON body
(``item.end``). The config loader's ``KeyedValueError`` does the same for keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import PydanticCustomError

FIELD_KEY = "named_field"
"""Where in the error's context the field's name travels (no pydantic error uses it)."""


def field_error(field: str, message: str) -> PydanticCustomError:
    """The error to raise from a model validator: ``message`` about ``field`` of that model.

    ``field`` may be a path below the model (``to[0].name``); ``message`` is not
    prefixed with it, since the handler prints ``field: message``.
    """
    return PydanticCustomError("value_error", message, {FIELD_KEY: field})


def field_path(error: Mapping[str, Any]) -> tuple[Any, ...]:
    """The error's location, ending at the field a cross-field check named, if any."""
    location = tuple(error.get("loc", ()))
    context = error.get("ctx") or {}
    field = context.get(FIELD_KEY) if isinstance(context, Mapping) else None
    return (*location, field) if isinstance(field, str) and field else location
