"""`rules check`: every error names the rule, the key and what is allowed; nothing half-loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules import RuleError, RulesFileError, check_rules_file, load_rules, parse_rules_text


def errors_of(toml: str) -> list[RuleError]:
    return parse_rules_text(toml, "rules.toml")[1]


GOOD = '[[rule]]\nname = "ok"\nwhen = { from_domain = "acme.com" }\nthen = { add_category = "A" }\n'


def test_a_good_file_has_no_errors(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD, "utf-8")
    assert check_rules_file(path) == []
    assert [r.name for r in load_rules(path).rules] == ["ok"]


def test_bad_regex_names_rule_key_and_the_regex() -> None:
    [error] = errors_of(
        '[[rule]]\nname = "Renewals"\nwhen = { subject = "renew(al" }\n'
        'then = { add_category = "A" }\n'
    )
    assert (error.rule, error.key) == ("Renewals", "when.subject")
    assert "bad regex 'renew(al'" in error.problem
    assert "regular expression" in error.allowed
    assert str(error).startswith("rule 'Renewals', key 'when.subject': bad regex 'renew(al'")


@pytest.mark.parametrize(
    ("body", "key", "problem", "allowed"),
    [
        (
            'when = { sender = "a@b.c" }\nthen = { ignore = true }',
            "when.sender",
            "unknown condition",
            "from, from_domain",
        ),
        (
            'when = { from = "a@b.c" }\nthen = { delete = true }',
            "then.delete",
            "unknown action",
            "add_category, ignore, link_account",
        ),
        (
            "when = { from = 42 }\nthen = { ignore = true }",
            "when.from",
            "expected a string or a list",
            "shell globs",
        ),
        (
            'when = { from = "acme.com" }\nthen = { ignore = true }',
            "when.from",
            "not an address glob (use from_domain",
            "shell globs",
        ),
        (
            'when = { direction = "sideways" }\nthen = { ignore = true }',
            "when.direction",
            "unknown direction 'sideways'",
            "'inbound', 'outbound', 'internal'",
        ),
        (
            'when = { has_attachments = "yes" }\nthen = { ignore = true }',
            "when.has_attachments",
            "expected true or false",
            "true or false",
        ),
        (
            'when = { account = { colour = "red" } }\nthen = { ignore = true }',
            "when.account",
            "unknown account field(s) ['colour']",
            "name (glob), owner (address)",
        ),
        (
            'when = { header_equals = "X-A" }\nthen = { ignore = true }',
            "when.header_equals",
            "expected a table",
            "X-Mailer",
        ),
        (
            'when = { from = "a@b.c" }\nthen = { link_opportunity = "" }',
            "then.link_opportunity",
            "expected an opportunity code",
            "OPP-000123",
        ),
        (
            'when = { from = "a@b.c" }\nthen = { ignore = true, link_account = "A" }',
            "then.ignore",
            "cannot be combined",
            "either ignore",
        ),
        ("when = {}\nthen = { ignore = true }", "when", "non-empty [when]", "subject"),
        ('when = { from = "a@b.c" }', "then", "non-empty [then]", "ignore"),
        (
            'enabled = "yes"\nwhen = { from = "a@b.c" }\nthen = { ignore = true }',
            "enabled",
            "expected true or false",
            "true or false",
        ),
        (
            'priority = 1\nwhen = { from = "a@b.c" }\nthen = { ignore = true }',
            "priority",
            "unknown key",
            "enabled, name, stop_processing, then, when",
        ),
    ],
)
def test_each_error_names_rule_key_problem_and_allowed(
    body: str, key: str, problem: str, allowed: str
) -> None:
    [error] = errors_of(f'[[rule]]\nname = "R1"\n{body}\n')
    assert error.rule == "R1"
    assert error.key == key
    assert problem in error.problem
    assert allowed in error.allowed


def test_missing_duplicate_and_reserved_names() -> None:
    toml = (
        '[[rule]]\nwhen = { from = "a@b.c" }\nthen = { ignore = true }\n'
        f"{GOOD}{GOOD}"
        '[[rule]]\nname = "thread"\nwhen = { from = "a@b.c" }\nthen = { ignore = true }\n'
    )
    found = {(e.rule, e.key, e.problem.split(" (")[0]) for e in errors_of(toml)}
    assert found == {
        ("#1", "name", "missing or empty name"),
        ("ok", "name", "two rules have this name"),
        ("thread", "name", "this name belongs to a built-in matcher"),
    }


def test_every_error_of_a_file_is_reported_at_once() -> None:
    toml = (
        '[[rule]]\nname = "a"\nwhen = { subject = "(" , body = "[" }\nthen = { add_category = 1 }\n'
    )
    assert {e.key for e in errors_of(toml)} == {"when.subject", "when.body", "then.add_category"}


def test_toml_syntax_error_and_unknown_top_level_key() -> None:
    [syntax] = errors_of('[[rule]\nname = "x"')
    assert syntax.rule == "rules.toml" and "not valid TOML" in syntax.problem
    [extra] = errors_of("[other]\nx = 1\n" + GOOD)
    assert extra.key == "other" and "unknown top-level key" in extra.problem


def test_load_rules_refuses_a_file_with_any_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        GOOD + '[[rule]]\nname = "bad"\nwhen = { subject = "(" }\nthen = { ignore = true }\n',
        "utf-8",
    )
    with pytest.raises(RulesFileError) as caught:
        load_rules(path)
    assert caught.value.errors[0].rule == "bad"
    assert str(path) in str(caught.value) and "bad regex '('" in str(caught.value)


def test_unreadable_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    [error] = check_rules_file(tmp_path / "missing.toml")
    assert "cannot read the file" in error.problem
    with pytest.raises(RulesFileError) as caught:
        load_rules(tmp_path / "missing.toml")
    assert "cannot read the file" in str(caught.value)
