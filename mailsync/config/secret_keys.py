"""Refuse secrets written into the config file, before anything else looks at it.

Config files get committed, copied into tickets and pasted into chats; a
client secret in one is a leaked secret. A key whose name says it holds a
secret (``client_secret``, ``password``, ``api_key`` …) is removed from the
data, so it is never echoed back in another error message, and reported with
the ``*_env`` key to use instead.
"""

from __future__ import annotations

import re
from typing import Any

from mailsync.config.errors import ConfigProblem
from mailsync.config.explain import dotted, model_at

_SECRET_NAME = re.compile(
    r"(^|_)(secret|password|passwd|pwd|passphrase|api_?key|token|access_token|"
    r"refresh_token|private_key|token_cache_key|key)$"
)


def looks_like_secret_key(name: str) -> bool:
    lowered = name.lower()
    return not lowered.endswith("_env") and bool(_SECRET_NAME.search(lowered))


def pop_secret_values(raw: dict[str, Any]) -> list[ConfigProblem]:
    """Remove secret-named keys from ``raw`` (in place) and report each one."""
    problems: list[ConfigProblem] = []
    _walk(raw, [], problems)
    return problems


def _walk(node: dict[str, Any], loc: list[int | str], problems: list[ConfigProblem]) -> None:
    for name in list(node):
        value = node[name]
        here: list[int | str] = [*loc, name]
        if looks_like_secret_key(name) and not isinstance(value, dict | list):
            del node[name]
            problems.append(_problem(here))
        elif isinstance(value, dict):
            _walk(value, here, problems)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    _walk(item, [*here, index], problems)


def _problem(loc: list[int | str]) -> ConfigProblem:
    name = str(loc[-1])
    env_key = f"{name}_env"
    sections = [str(part).upper() for part in loc[:-1] if isinstance(part, str)]
    # The tenant's credentials are the common case; keep their names short.
    prefix = [] if sections == ["TENANT"] else sections
    variable = "_".join(["MAILSYNC", *prefix, name.upper()])
    parent = model_at(loc[:-1])
    if parent is not None and env_key in parent.model_fields:
        fix = (
            f'delete it and write {env_key} = "{variable}", then put the value in the '
            f"environment variable {variable}"
        )
    else:
        fix = (
            "delete it; secrets never go in the config file. Keys ending in _env name "
            "the environment variable that holds a secret (see config.example.toml)"
        )
    return ConfigProblem(
        dotted(loc), "looks like a secret written into the config file (refused)", fix
    )
