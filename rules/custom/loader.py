"""TOML → validated ``RuleSet``, collecting every error with rule, key and what is allowed.

A rules file holds ``[[rule]]`` tables; the main config file holds them as
``[[rules.rule]]`` beside the built-in settings of ``[rules]``. Either works.

    [[rule]]
    name = "Acme renewals"          # required, unique, not a built-in's name
    enabled = true                  # default true
    stop_processing = false         # default false: later custom rules still run
    [rule.when]                     # every condition must hold (a list: any of it)
    from_domain = ["acme.com"]
    subject = "renewal"
    [rule.then]                     # applied in this order
    link_opportunity = "OPP-000123"
    add_category = "CRM"

Conditions: ``from``/``to``/``cc``/``participant`` (address globs; a meeting's
organizer counts as from, attendees as to), the same with ``_domain`` (domain
globs), ``subject``/``body`` (regex, case-insensitive), ``folder`` (globs),
``categories`` (any of), ``header_present`` (all of), ``header_equals``
(table of name = value glob), ``direction`` (inbound/outbound/internal),
``has_attachments`` (bool), ``account`` (a table of ``name``/``owner``/
``domain`` that some account matched so far must satisfy).

Actions: ``link_opportunity`` (code), ``link_account`` (name), ``link_contact``
(address), ``link_open_opportunity_in_stage`` (the matched account's one open
opportunity in that stage; several become suggestions), ``ignore`` (do not
store), ``store_without_body``, ``add_category`` (Outlook categories).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from crm_store.items import Direction, TargetKind
from rules.custom.actions import (
    Action,
    AddCategory,
    Ignore,
    LinkOpenOpportunityInStage,
    LinkRecord,
    StoreWithoutBody,
)
from rules.custom.conditions import (
    ROLE_GROUPS,
    AccountCondition,
    AddressCondition,
    CategoriesCondition,
    Condition,
    DirectionCondition,
    FolderCondition,
    HasAttachmentsCondition,
    HeaderEqualsCondition,
    HeaderPresentCondition,
    TextRegexCondition,
    compile_globs,
)
from rules.custom.errors import RuleError, RulesFileError
from rules.custom.ruleset import CustomRule, RuleSet

BUILT_IN_NAMES = frozenset(
    {"exclusions", "tracking_code", "thread", "participant", "domain", "inference"}
)
RULE_KEYS = ("name", "enabled", "stop_processing", "when", "then")
GLOBS = "a string or a list of strings, shell globs such as '*@acme.com'"
DOMAIN_GLOBS = "a string or a list of strings, domain globs such as 'acme.com' or '*.acme.de'"
REGEX = "a regular expression (Python syntax, matched case-insensitively)"


class _Problem(Exception):
    """A bad value inside one key; turned into a RuleError by the caller (never escapes)."""

    def __init__(self, problem: str, allowed: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.allowed = allowed


# --------------------------------------------------------------------------- value parsers


def _strings(value: Any, allowed: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise _Problem(f"expected {allowed}, got {value!r}", allowed)
    out: list[str] = []
    for entry in items:
        if not isinstance(entry, str) or not entry.strip():
            raise _Problem(f"expected a non-empty string, got {entry!r}", allowed)
        out.append(entry.strip())
    return tuple(out)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Problem(f"expected true or false, got {value!r}", "true or false")
    return value


def _string(value: Any, allowed: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Problem(f"expected {allowed}, got {value!r}", allowed)
    return value.strip()


def _regex(value: Any) -> re.Pattern[str]:
    text = _string(value, REGEX)
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise _Problem(f"bad regex {text!r}: {exc}", REGEX) from exc


# --------------------------------------------------------------------------- conditions


def _address(role_group: str, domain_only: bool) -> Callable[[str, Any], Condition]:
    def build(key: str, value: Any) -> Condition:
        globs = _strings(value, DOMAIN_GLOBS if domain_only else GLOBS)
        if domain_only:
            globs = tuple(g.lower().lstrip("@") for g in globs)
        elif any("@" not in g and "*" not in g for g in globs):
            bad = next(g for g in globs if "@" not in g and "*" not in g)
            raise _Problem(f"{bad!r} is not an address glob (use {key}_domain for a domain)", GLOBS)
        return AddressCondition(
            key, ROLE_GROUPS[role_group], globs, compile_globs(globs), domain_only
        )

    return build


def _text(key: str, value: Any) -> Condition:
    return TextRegexCondition(key, _regex(value))


def _folder(key: str, value: Any) -> Condition:
    globs = _strings(value, "a folder name or a list of them (globs allowed)")
    return FolderCondition(key, globs, compile_globs(globs))


def _categories(key: str, value: Any) -> Condition:
    names = _strings(value, "a category name or a list of them")
    return CategoriesCondition(key, frozenset(n.casefold() for n in names))


def _header_present(key: str, value: Any) -> Condition:
    names = _strings(value, "a header name or a list of them")
    return HeaderPresentCondition(key, tuple(n.lower() for n in names))


def _header_equals(key: str, value: Any) -> Condition:
    allowed = "a table of header name = value glob, e.g. { X-Mailer = 'Salesforce*' }"
    if not isinstance(value, dict) or not value:
        raise _Problem(f"expected {allowed}, got {value!r}", allowed)
    expected = []
    for name, glob in value.items():
        text = _string(glob, allowed)
        expected.append((str(name).lower(), text, compile_globs((text,))))
    return HeaderEqualsCondition(key, tuple(expected))


_DIRECTIONS = ", ".join(repr(d.value) for d in Direction if d is not Direction.UNKNOWN)


def _direction(key: str, value: Any) -> Condition:
    names = _strings(value, f"one of {_DIRECTIONS} or a list of them")
    found: set[Direction] = set()
    for name in names:
        try:
            found.add(Direction(name.lower()))
        except ValueError:
            raise _Problem(f"unknown direction {name!r}", f"one of {_DIRECTIONS}") from None
    return DirectionCondition(key, frozenset(found))


def _has_attachments(key: str, value: Any) -> Condition:
    return HasAttachmentsCondition(key, _bool(value))


_ACCOUNT_FIELDS = "a table with any of name (glob), owner (address), domain (glob)"


def _account(key: str, value: Any) -> Condition:
    if not isinstance(value, dict) or not value:
        raise _Problem(f"expected {_ACCOUNT_FIELDS}, got {value!r}", _ACCOUNT_FIELDS)
    unknown = sorted(set(value) - {"name", "owner", "domain"})
    if unknown:
        raise _Problem(f"unknown account field(s) {unknown}", _ACCOUNT_FIELDS)
    name = compile_globs(_strings(value["name"], GLOBS)) if "name" in value else None
    owner = (
        frozenset(o.lower() for o in _strings(value["owner"], "an address or a list of them"))
        if "owner" in value
        else None
    )
    domain = compile_globs(_strings(value["domain"], DOMAIN_GLOBS)) if "domain" in value else None
    text = ", ".join(f"{k}={value[k]!r}" for k in sorted(value))
    return AccountCondition(key, name, owner, domain, text)


CONDITIONS: dict[str, Callable[[str, Any], Condition]] = {
    "from": _address("from", False),
    "to": _address("to", False),
    "cc": _address("cc", False),
    "participant": _address("participant", False),
    "from_domain": _address("from", True),
    "to_domain": _address("to", True),
    "cc_domain": _address("cc", True),
    "participant_domain": _address("participant", True),
    "subject": _text,
    "body": _text,
    "folder": _folder,
    "categories": _categories,
    "header_present": _header_present,
    "header_equals": _header_equals,
    "direction": _direction,
    "has_attachments": _has_attachments,
    "account": _account,
}


# --------------------------------------------------------------------------- actions


def _link(kind: TargetKind, allowed: str) -> Callable[[Any], Action]:
    def build(value: Any) -> Action:
        key = _string(value, allowed)
        return LinkRecord(kind, key.upper() if kind is TargetKind.OPPORTUNITY else key)

    return build


def _ignore(value: Any) -> Action | None:
    return Ignore() if _bool(value) else None


def _without_body(value: Any) -> Action | None:
    return StoreWithoutBody() if _bool(value) else None


ACTIONS: dict[str, Callable[[Any], Action | None]] = {
    "link_opportunity": _link(TargetKind.OPPORTUNITY, "an opportunity code such as 'OPP-000123'"),
    "link_account": _link(TargetKind.ACCOUNT, "an account name"),
    "link_contact": _link(TargetKind.CONTACT, "a contact's email address"),
    "link_open_opportunity_in_stage": lambda v: LinkOpenOpportunityInStage(
        _string(v, "a stage name such as 'Negotiation'")
    ),
    "ignore": _ignore,
    "store_without_body": _without_body,
    "add_category": lambda v: AddCategory(_strings(v, "a category name or a list of them")),
}
_LINKING = {"link_opportunity", "link_account", "link_contact", "link_open_opportunity_in_stage"}


# --------------------------------------------------------------------------- rules


def _one_of(keys: Any) -> str:
    return ", ".join(sorted(keys))


def _parse_rule(
    position: int, raw: Any, seen: set[str], errors: list[RuleError]
) -> CustomRule | None:
    label = f"#{position}"
    if not isinstance(raw, dict):
        errors.append(
            RuleError(label, "", f"a rule must be a table, got {raw!r}", "[[rule]] tables")
        )
        return None
    start = len(errors)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(
            RuleError(label, "name", f"missing or empty name (got {name!r})", "a non-empty string")
        )
    else:
        name = name.strip()
        label = name
        if name in BUILT_IN_NAMES:
            errors.append(
                RuleError(
                    name,
                    "name",
                    "this name belongs to a built-in matcher",
                    f"any name except {_one_of(BUILT_IN_NAMES)}",
                )
            )
        elif name in seen:
            errors.append(RuleError(name, "name", "two rules have this name", "unique names"))
        seen.add(name)
    for key in sorted(set(raw) - set(RULE_KEYS)):
        errors.append(RuleError(label, key, "unknown key", _one_of(RULE_KEYS)))
    flags = {"enabled": True, "stop_processing": False}
    for flag in flags:
        if flag in raw:
            try:
                flags[flag] = _bool(raw[flag])
            except _Problem as p:
                errors.append(RuleError(label, flag, p.problem, p.allowed))
    conditions = _parse_section(label, raw, "when", CONDITIONS, errors)
    actions = _parse_actions(label, raw, errors)
    if len(errors) > start:
        return None
    return CustomRule(
        name=label,
        conditions=tuple(conditions),
        actions=tuple(actions),
        enabled=flags["enabled"],
        stop_processing=flags["stop_processing"],
    )


def _parse_section(
    label: str,
    raw: Mapping[str, Any],
    section: str,
    table: Mapping[str, Callable[[str, Any], Condition]],
    errors: list[RuleError],
) -> list[Condition]:
    body = raw.get(section)
    if not isinstance(body, dict) or not body:
        errors.append(
            RuleError(label, section, f"a rule needs a non-empty [{section}] table", _one_of(table))
        )
        return []
    out: list[Condition] = []
    for key, value in body.items():
        build = table.get(key)
        if build is None:
            errors.append(RuleError(label, f"{section}.{key}", "unknown condition", _one_of(table)))
            continue
        try:
            out.append(build(key, value))
        except _Problem as p:
            errors.append(RuleError(label, f"{section}.{key}", p.problem, p.allowed))
    return out


def _parse_actions(label: str, raw: Mapping[str, Any], errors: list[RuleError]) -> list[Action]:
    body = raw.get("then")
    if not isinstance(body, dict) or not body:
        errors.append(
            RuleError(label, "then", "a rule needs a non-empty [then] table", _one_of(ACTIONS))
        )
        return []
    out: list[Action] = []
    for key, value in body.items():
        build = ACTIONS.get(key)
        if build is None:
            errors.append(RuleError(label, f"then.{key}", "unknown action", _one_of(ACTIONS)))
            continue
        try:
            action = build(value)
        except _Problem as p:
            errors.append(RuleError(label, f"then.{key}", p.problem, p.allowed))
            continue
        if action is not None:
            out.append(action)
    if body.get("ignore") is True and _LINKING & set(body):
        errors.append(
            RuleError(
                label,
                "then.ignore",
                "ignore cannot be combined with link actions",
                "either ignore = true or link actions",
            )
        )
    return out


# --------------------------------------------------------------------------- documents


def _rule_tables(document: Mapping[str, Any], errors: list[RuleError], source: str) -> list[Any]:
    allowed = "[[rule]] tables (rules file) or [rules] with [[rules.rule]] (config file)"
    if "rules" in document and isinstance(document["rules"], dict):
        # The config file: its other [rules] keys are the config loader's to check.
        tables = document["rules"].get("rule", [])
    elif "rule" in document:
        tables = document["rule"]
        for key in sorted(set(document) - {"rule"}):
            errors.append(RuleError(source, key, "unknown top-level key", allowed))
    else:
        return []
    if not isinstance(tables, list):
        errors.append(RuleError(source, "rule", "expected an array of tables", allowed))
        return []
    return tables


def parse_rules_document(
    document: Mapping[str, Any], source: str = "<rules>"
) -> tuple[RuleSet, list[RuleError]]:
    """Validate an already-parsed TOML document; the set holds only the valid rules."""
    errors: list[RuleError] = []
    seen: set[str] = set()
    rules = [
        rule
        for position, raw in enumerate(_rule_tables(document, errors, source), start=1)
        if (rule := _parse_rule(position, raw, seen, errors)) is not None
    ]
    return RuleSet(tuple(rules)), errors


def parse_rules_text(text: str, source: str = "<rules>") -> tuple[RuleSet, list[RuleError]]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return RuleSet(), [RuleError(source, "", f"not valid TOML: {exc}", "TOML syntax")]
    return parse_rules_document(document, source)


def check_rules_file(path: Path | str) -> list[RuleError]:
    """Every problem in a rules (or config) file; empty when it is good."""
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [RuleError(str(file), "", f"cannot read the file: {exc}", "a readable UTF-8 file")]
    return parse_rules_text(text, str(file))[1]


def load_rules(source: Path | str) -> RuleSet:
    """A ``Path`` is read as a file, a ``str`` is TOML text. Raises ``RulesFileError``.

    Bad configuration fails at start (invariant 6), so loading refuses a file
    with any error rather than running the rules that happened to parse.
    """
    if isinstance(source, Path):
        name = str(source)
        try:
            text = source.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesFileError(
                name, [RuleError(name, "", f"cannot read the file: {exc}", "a readable UTF-8 file")]
            ) from exc
        ruleset, errors = parse_rules_text(text, name)
    else:
        name = "<rules>"
        ruleset, errors = parse_rules_text(source, name)
    if errors:
        raise RulesFileError(name, errors)
    return ruleset
