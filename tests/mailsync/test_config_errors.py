"""Bad configuration stops start-up with one message naming the key, the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsync.config import DATABASE_URL_ENV, ConfigError, load_settings

TENANT = """
[tenant]
tenant_id = "contoso.onmicrosoft.com"
client_id = "66666666-7777-8888-9999-000000000000"
"""


def error_for(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    path = tmp_path / "mailsync.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ or {}, cwd=tmp_path)
    return caught.value


def test_unknown_key_names_the_key_the_file_and_suggests_the_right_one(tmp_path: Path) -> None:
    # GIVEN a misspelt key in [sync]
    error = error_for(tmp_path, "[sync]\nintervall_seconds = 60\n")
    # THEN the message names the dotted key, the file, and what was meant
    message = str(error)
    assert "sync.intervall_seconds: unknown key" in message
    assert str(tmp_path / "mailsync.toml") in message
    assert 'did you mean "interval_seconds"' in message


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[daemon]\nworkers = 4\n")
    assert "daemon.workers: unknown key" in str(error)
    allowed = str(error).split("the keys allowed in [daemon] are: ", 1)[1]
    assert {"mode", "tick_seconds", "worker_concurrency"} <= set(allowed.split(", "))


def test_unknown_section_is_reported_at_top_level(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[synk]\ninterval_seconds = 60\n")
    assert "synk: unknown key" in str(error)
    assert 'did you mean "sync"' in str(error)


def test_wrong_type_names_the_key_what_was_given_and_an_example(tmp_path: Path) -> None:
    # GIVEN a duration written as text
    error = error_for(tmp_path, '[sync]\ninterval_seconds = "5m"\n')
    # THEN the message says a whole number is expected and shows one
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert problem.key == "sync.interval_seconds"
    assert "expected a whole number" in problem.problem
    assert '"5m"' in problem.problem
    assert problem.fix == "write interval_seconds = 300"


def test_value_out_of_range_names_the_limit(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[sync]\npage_size = 5000\n")
    assert "sync.page_size" in str(error)
    assert "less than or equal to 1000" in str(error)


def test_bad_choice_lists_the_allowed_values(tmp_path: Path) -> None:
    error = error_for(tmp_path, TENANT + 'client_secret_env = "X"\nauth = "password"\n')
    assert "tenant.auth" in str(error)
    assert "'client_credentials' or 'device_code'" in str(error)


def test_secret_in_the_file_is_refused_and_points_to_the_env_key(tmp_path: Path) -> None:
    # GIVEN a client secret pasted into the file
    error = error_for(tmp_path, TENANT + 'client_secret = "Qx8~verysecretvalue"\n')
    message = str(error)
    # THEN it is refused, the fix names client_secret_env, and the secret is not echoed
    assert "tenant.client_secret: looks like a secret" in message
    assert 'client_secret_env = "MAILSYNC_CLIENT_SECRET"' in message
    assert "verysecretvalue" not in message
    # and the consequential "no credential" complaint is not piled on top
    assert len(error.problems) == 1


def test_secret_value_in_an_env_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    error = error_for(tmp_path, TENANT + 'client_secret_env = "Qx8~verysecretvalue"\n')
    assert "tenant.client_secret_env" in str(error)
    assert "NAME of an environment variable" in str(error)
    assert "verysecretvalue" not in str(error)


def test_a_scrape_token_in_the_file_is_refused_and_points_to_metrics_token_env(
    tmp_path: Path,
) -> None:
    # GIVEN the Prometheus scrape token pasted into [web]
    error = error_for(tmp_path, '[web]\nmetrics_token = "Zq3rD9promscrapevalue"\n')
    message = str(error)
    # THEN refused, the fix names the env key (and a variable), and the token is not echoed
    assert "web.metrics_token: looks like a secret" in message
    assert 'metrics_token_env = "MAILSYNC_WEB_METRICS_TOKEN"' in message
    assert "promscrapevalue" not in message


def test_password_in_the_store_url_is_refused(tmp_path: Path) -> None:
    error = error_for(tmp_path, '[store]\nurl = "postgresql://app:hunter2@db/crm"\n')
    assert "store.url" in str(error)
    assert "password_env" in str(error)
    assert "hunter2" not in str(error)


def test_missing_required_key_says_what_to_add_and_where(tmp_path: Path) -> None:
    # GIVEN a [tenant] without client_id
    error = error_for(tmp_path, '[tenant]\ntenant_id = "organizations"\nclient_secret_env = "X"\n')
    # THEN the fix shows the line to add, in the right section
    assert "tenant.client_id: required key is missing" in str(error)
    assert 'add client_id = "66666666-7777-8888-9999-000000000000" in [tenant]' in str(error)


def test_missing_key_in_an_array_of_tables_names_the_entry(tmp_path: Path) -> None:
    error = error_for(
        tmp_path,
        TENANT + 'client_secret_env = "X"\n[[mailboxes]]\naddress = "a@b.com"\n'
        '[[mailboxes]]\nprovider = "graph"\n',
    )
    assert "mailboxes[1].address: required key is missing" in str(error)
    assert "[[mailboxes]] entry number 2" in str(error)


def test_cross_key_error_names_the_key_to_change(tmp_path: Path) -> None:
    # GIVEN a Graph mailbox but no [tenant]
    error = error_for(tmp_path, '[[mailboxes]]\naddress = "jane@example.com"\n')
    # THEN the mailbox's provider key is blamed and [tenant] is the fix
    assert "mailboxes[0].provider" in str(error)
    assert "add [tenant]" in str(error)


def test_client_credentials_without_a_credential(tmp_path: Path) -> None:
    error = error_for(tmp_path, TENANT)
    assert "tenant.client_secret_env" in str(error)
    assert "certificate_path" in str(error)


def test_bad_regex_names_the_regex(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[rules]\ntracking_code_pattern = 'OPP-(\\d{6}'\n")
    assert "rules.tracking_code_pattern" in str(error)
    assert "OPP-(\\\\d{6}" in str(error) or "OPP-(\\d{6}" in str(error)


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "[sync]\ninterval_seconds = \n")
    assert "not valid TOML" in str(error)
    assert "line 2" in str(error)


def test_missing_config_file_names_how_it_was_chosen(tmp_path: Path) -> None:
    # GIVEN --config pointing nowhere
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.toml", environ={}, cwd=tmp_path)
    # THEN the message says so and how to create it
    assert "does not exist" in str(caught.value)
    assert "mailsync --config" in str(caught.value)
    assert "init" in str(caught.value)


def test_bad_database_url_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={DATABASE_URL_ENV: "mysql://x/y"}, cwd=tmp_path)
    assert DATABASE_URL_ENV in str(caught.value)
    assert "not supported" in str(caught.value)


def test_cluster_mode_needs_postgresql(tmp_path: Path) -> None:
    error = error_for(tmp_path, '[daemon]\nmode = "cluster"\n')
    assert "daemon.mode" in str(error)
    assert "postgresql" in str(error)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    # GIVEN three independent mistakes
    error = error_for(
        tmp_path, '[sync]\npage_size = "x"\nfolders = ["inbox", "Kunden"]\n[daemon]\nmode = "x"\n'
    )
    # THEN all three are in the one message, each with its key
    assert [p.key for p in error.problems] == ["sync.page_size", "sync.folders", "daemon.mode"]
    assert str(error).startswith("3 configuration errors in ")


def test_bad_inline_custom_rule_names_the_rule_and_the_key(tmp_path: Path) -> None:
    # GIVEN an inline rule with an unknown condition
    error = error_for(
        tmp_path,
        '[[rules.rule]]\nname = "Acme"\n[rules.rule.when]\nsubjekt = "x"\n'
        "[rules.rule.then]\nignore = true\n",
    )
    # THEN the rule, the key and what is allowed are named
    assert "rules.rule[Acme].when.subjekt: unknown condition" in str(error)
    assert "allowed:" in str(error)


def test_missing_rules_file_is_named(tmp_path: Path) -> None:
    error = error_for(tmp_path, '[rules]\nfile = "nope.toml"\n')
    assert "rules.file" in str(error)
    assert "no such file" in str(error)


def test_a_stall_threshold_of_zero_is_refused_naming_the_key(tmp_path: Path) -> None:
    # GIVEN a threshold that would take every worker for dead at once
    error = error_for(tmp_path, "[daemon]\nstalled_worker_seconds = 0\n")
    # THEN the key and the limit are named
    assert "daemon.stalled_worker_seconds" in str(error)
    assert "greater than 0" in str(error)


def test_cluster_keys_are_checked_together(tmp_path: Path) -> None:
    # GIVEN a heartbeat slower than half the stall timeout, THEN the key and the fix are named
    error = error_for(tmp_path, "[daemon]\nheartbeat_seconds = 20\nstalled_worker_seconds = 30\n")
    assert "daemon.stalled_worker_seconds" in str(error)
    assert "at least twice" in str(error)


def test_push_needs_cluster_mode_and_a_notification_url(tmp_path: Path) -> None:
    # GIVEN push switched on in embedded mode, THEN the error says to use cluster mode
    error = error_for(
        tmp_path,
        '[push]\nenabled = true\nnotification_url = "https://crm.example.com/n"\n',
    )
    assert "push.enabled" in str(error) and "cluster" in str(error)
    # GIVEN push on without a URL, THEN notification_url is named
    error = error_for(tmp_path, "[push]\nenabled = true\n")
    assert "push.notification_url" in str(error)
    # GIVEN a plain-http URL on a public host, THEN it is refused (Graph wants https)
    error = error_for(tmp_path, '[push]\nnotification_url = "http://crm.example.com/n"\n')
    assert "push.notification_url" in str(error) and "https" in str(error)
