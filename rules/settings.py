"""Settings of the built-in matchers (the ``[rules]`` table of the config file).

A pydantic model so the config loader can embed it and report a wrong key by
name; the engine compiles the patterns once when it is built.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_TRACKING_CODE = r"\bOPP-\d{6}\b"


class RulesSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tracking_code_pattern: str = Field(
        default=DEFAULT_TRACKING_CODE,
        description="Regex of an opportunity code in subject or body; a group named "
        "`code` selects the code inside the match.",
    )
    internal_only_excluded: bool = Field(
        default=True, description="Never store mail or meetings among our own users only."
    )
    blocked_addresses: tuple[str, ...] = Field(
        default=(), description="Addresses whose correspondence is never stored."
    )
    blocked_domains: tuple[str, ...] = Field(
        default=(), description="Domains (and their subdomains) never stored."
    )
    extra_free_mail_domains: tuple[str, ...] = Field(
        default=(), description="Consumer domains added to the shipped free-mail list."
    )
    retro_window_days: int = Field(
        default=90, ge=1, description="Days the metadata of unmatched items is kept."
    )

    @field_validator("tracking_code_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression {value!r}: {exc}") from exc
        return value

    @field_validator("blocked_addresses", "blocked_domains", "extra_free_mail_domains")
    @classmethod
    def _lower(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().lower().lstrip("@") for v in values if v.strip())
