"""Syntax checks for email addresses and domains shared by config and CSV import.

Deliberately stricter than RFC 5322 (no quoted local parts, no IP literals):
these are addresses people type into a config file or a CRM export, and a
typo such as ``jane@acme`` or ``jane.acme.com`` should be caught, not stored.
Everything is lower-cased because the store and the matcher compare addresses
case-insensitively.
"""

from __future__ import annotations

import re

_LOCAL_PART = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def normalise_domain(text: str) -> str:
    """Return the domain lower-cased, or raise ValueError saying what is wrong with it."""
    domain = text.strip().lower().rstrip(".")
    if not domain:
        raise ValueError("empty domain")
    if "@" in domain:
        raise ValueError(f"{text.strip()!r} is an address, not a domain (drop the part before @)")
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253:
        raise ValueError(f"{text.strip()!r} is not a domain name like example.com")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"{text.strip()!r} is not a domain name like example.com")
    if labels[-1].isdigit():
        raise ValueError(f"{text.strip()!r} is not a domain name like example.com")
    return domain


def normalise_email(text: str) -> str:
    """Return the address lower-cased, or raise ValueError saying what is wrong with it."""
    address = text.strip().lower()
    if not address:
        raise ValueError("empty email address")
    local, at, domain = address.rpartition("@")
    if not at or not local:
        raise ValueError(f"{text.strip()!r} is not an email address like name@example.com")
    if len(local) > 64 or len(address) > 320 or not _LOCAL_PART.match(local):
        raise ValueError(f"{text.strip()!r} is not an email address like name@example.com")
    try:
        normalise_domain(domain)
    except ValueError:
        raise ValueError(
            f"{text.strip()!r} is not an email address like name@example.com"
        ) from None
    return address
