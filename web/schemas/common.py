"""Shared pieces of the API's JSON: camelCase on the wire, strict on the way in."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from crm_store.items import ItemKind, OriginKind, TargetKind
from mailsync.addresses import normalise_email
from web.schemas.field_error import field_error

MAX_ADDRESSES = 50
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class ApiModel(BaseModel):
    """Output model: camelCase JSON (what Office.js code expects), snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ApiInput(ApiModel):
    """Input model: unknown fields are refused, so a misspelt field is an error, not ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        bad = find_unstorable(data, "")
        if bad is None:
            return data
        why = "contains a NUL character or an unpaired surrogate, which no text field can store"
        raise field_error(bad, why) if bad else ValueError(why)


def find_unstorable(value: Any, path: str) -> str | None:
    """Path of the first string with NUL or a lone surrogate (PostgreSQL refuses both)."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_unstorable(key, path) or find_unstorable(item, f"{path}.{key}".lstrip("."))
            if found is not None:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = find_unstorable(item, f"{path}[{n}]")
            if found is not None:
                return found
    return None


def _email(value: str) -> str:
    return normalise_email(value)


EmailText = Annotated[str, StringConstraints(min_length=3, max_length=320), AfterValidator(_email)]
ShortText = Annotated[str, StringConstraints(max_length=300)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=998)]


class TargetRefIn(ApiInput):
    kind: TargetKind
    id: int = Field(ge=1, le=2**63 - 1)


class LinkPublic(ApiModel):
    """One link with its explanation (invariant 5)."""

    target_kind: TargetKind
    target_id: int
    target_name: str
    origin_kind: OriginKind
    origin: str
    actor: str | None
    reason: str
    created_at: datetime | None = None


class ItemRefPublic(ApiModel):
    kind: ItemKind
    id: int
    subject: str
