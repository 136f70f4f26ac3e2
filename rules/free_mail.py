"""The shipped list of free-mail domains (``free_mail_domains.toml``)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources


@cache
def shipped_free_mail_domains() -> frozenset[str]:
    """Read once per process; the list is package data, not configuration."""
    text = resources.files("rules").joinpath("free_mail_domains.toml").read_text("utf-8")
    domains = tomllib.loads(text)["domains"]
    return frozenset(str(d).strip().lower() for d in domains)
