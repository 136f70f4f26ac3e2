"""Translate pydantic's validation errors into key / problem / fix for a person.

Pydantic knows the location and the kind of each error; it does not know what
the operator should type instead. This module walks the Settings model along
the error's location to find the field, its default or example, and the keys
allowed next to it (for "did you mean" suggestions).
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from mailsync.config.errors import ConfigProblem, KeyedValueError
from mailsync.config.settings import Settings

Loc = Sequence[int | str]

_KINDS = {
    "int": "a whole number",
    "bool": "true or false (no quotes)",
    "string": "a string in double quotes",
    "float": "a number",
    "tuple": 'a list like ["a", "b"]',
    "list": 'a list like ["a", "b"]',
    "model": "a table (a [section])",
    "dict": "a table (a [section])",
}


def dotted(loc: Loc) -> str:
    """``("mailboxes", 1, "address")`` → ``mailboxes[1].address``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, tuple, list):
        for arg in get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def model_at(loc: Loc) -> type[BaseModel] | None:
    """The model that holds the keys at ``loc`` (None when loc goes below a leaf)."""
    model: type[BaseModel] = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _inner_model(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def field_at(loc: Loc) -> FieldInfo | None:
    if not loc or isinstance(loc[-1], int):
        return None
    parent = model_at(loc[:-1])
    return parent.model_fields.get(loc[-1]) if parent is not None else None


def toml_value(value: Any) -> str:
    """A Python default written the way it would appear in the TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


def _example(field: FieldInfo | None) -> str | None:
    if field is None:
        return None
    if field.examples:
        return toml_value(field.examples[0])
    if field.default is not PydanticUndefined and field.default is not None:
        return toml_value(field.default)
    return None


def _section_words(loc: Loc) -> str:
    parent = loc[:-1]
    if not parent:
        return "at the top of the file"
    if isinstance(parent[-1], int):
        return f"in the [[{dotted(parent[:-1])}]] entry number {parent[-1] + 1}"
    return f"in [{dotted(parent)}]"


def _unknown_key(loc: Loc) -> ConfigProblem:
    name = str(loc[-1])
    parent = model_at(loc[:-1])
    allowed = sorted(parent.model_fields) if parent is not None else []
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    where = _section_words(loc)
    if close:
        fix = f'did you mean "{close[0]}"? rename the key {where}'
    elif allowed:
        fix = f"remove it; the keys allowed {where} are: {', '.join(allowed)}"
    else:
        fix = "remove it"
    return ConfigProblem(dotted(loc), "unknown key", fix)


def _missing_key(loc: Loc) -> ConfigProblem:
    example = _example(field_at(loc))
    name = str(loc[-1])
    where = _section_words(loc)
    fix = f"add {name} = {example} {where}" if example else f"add {name} {where}"
    return ConfigProblem(dotted(loc), "required key is missing", fix)


def _shown(loc: Loc, value: Any) -> str:
    """The offending value, except where it could be a secret pasted in the wrong place."""
    if loc and str(loc[-1]).endswith("_env"):
        return "that value"
    return toml_value(value) if not isinstance(value, dict) else "a table"


def _one(error: Any) -> ConfigProblem:
    loc: Loc = error["loc"]
    kind: str = error["type"]
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, KeyedValueError):
        parts = cause.key.replace("]", "").replace("[", ".").split(".")
        key_loc = [*loc, *(int(part) if part.isdigit() else part for part in parts)]
        return ConfigProblem(dotted(key_loc), str(cause), "")
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "missing":
        return _missing_key(loc)
    if kind in ("value_error", "assertion_error"):
        return ConfigProblem(dotted(loc), str(cause) if cause else error["msg"], "")
    message = error["msg"]
    got = _shown(loc, error.get("input"))
    example = _example(field_at(loc))
    name = str(loc[-1]) if loc and isinstance(loc[-1], str) else dotted(loc)
    if kind == "literal_error":
        return ConfigProblem(
            dotted(loc), f"{got} is not allowed", message.replace("Input should be", "use")
        )
    base = kind.split("_")[0]
    if base in _KINDS and kind.endswith(("_type", "_parsing")):
        fix = f"write {name} = {example}" if example else f"write {_KINDS[base]}"
        return ConfigProblem(dotted(loc), f"expected {_KINDS[base]}, got {got}", fix)
    fix = f"for example {name} = {example}" if example else "see config.example.toml"
    return ConfigProblem(dotted(loc), f"{got}: {message.lower()}", fix)


def describe_validation_error(exc: ValidationError) -> list[ConfigProblem]:
    return [_one(error) for error in exc.errors(include_url=False)]
