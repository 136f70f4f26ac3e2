"""Free-mail domains: the shipped list (``free_mail_domains.toml``) and the configured extras."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import resources


@cache
def shipped_free_mail_domains() -> frozenset[str]:
    """Read once per process; the list is package data, not configuration."""
    text = resources.files("rules").joinpath("free_mail_domains.toml").read_text("utf-8")
    domains = tomllib.loads(text)["domains"]
    return frozenset(str(d).strip().lower() for d in domains)


def free_mail_domains(extra: Iterable[str] = ()) -> frozenset[str]:
    """The shipped list plus ``[rules] extra_free_mail_domains``: the one set the rules,
    the daemon's and the web service's view of who is ours all test against."""
    return shipped_free_mail_domains() | frozenset(extra)
