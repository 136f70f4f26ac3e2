"""Build input models inside a route and fail the way FastAPI's own parsing fails (422)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def build(model: type[M], location: str, values: dict[str, Any]) -> M:
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": (location, *error["loc"])} for error in exc.errors()]
        ) from None
