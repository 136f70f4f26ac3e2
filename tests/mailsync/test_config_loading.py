"""Config loading: which file, which database, and the example that documents every key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from mailsync.config import (
    CONFIG_ENV,
    DATABASE_URL_ENV,
    ConfigError,
    Settings,
    load_settings,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"


def write(tmp_path: Path, text: str, name: str = "mailsync.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_at_all_means_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    # GIVEN an empty working directory and no config in the environment
    # WHEN settings are loaded
    settings = load_settings(environ={}, cwd=tmp_path)
    # THEN the store is mailsync.db in that directory and nothing else is configured
    assert settings.store.url == f"sqlite:///{tmp_path / 'mailsync.db'}"
    assert settings.source is None
    assert settings.tenant is None
    assert settings.mailboxes == ()


def test_mailsync_toml_in_the_working_directory_is_found(tmp_path: Path) -> None:
    # GIVEN ./mailsync.toml (what `mailsync init` writes)
    write(tmp_path, "[sync]\ninterval_seconds = 60\n")
    # WHEN settings are loaded without --config
    settings = load_settings(environ={}, cwd=tmp_path)
    # THEN that file is used
    assert settings.sync.interval_seconds == 60
    assert settings.source == tmp_path / "mailsync.toml"


def test_mailsync_config_env_chooses_the_file_and_explicit_path_beats_it(tmp_path: Path) -> None:
    # GIVEN two files, one named by MAILSYNC_CONFIG
    from_env = write(tmp_path, "[sync]\ninterval_seconds = 61\n", "env.toml")
    explicit = write(tmp_path, "[sync]\ninterval_seconds = 62\n", "explicit.toml")
    env = {CONFIG_ENV: str(from_env)}
    # WHEN loaded without and with an explicit --config path
    # THEN the environment chooses, unless a path is given
    assert load_settings(environ=env, cwd=tmp_path).sync.interval_seconds == 61
    assert load_settings(explicit, environ=env, cwd=tmp_path).sync.interval_seconds == 62


def test_database_url_env_wins_over_the_file(tmp_path: Path) -> None:
    # GIVEN a file naming one SQLite store and the environment naming PostgreSQL
    path = write(tmp_path, '[store]\nurl = "sqlite:///from-file.db"\n')
    env = {DATABASE_URL_ENV: "postgresql://mailsync:pw@127.0.0.1:5432/crm"}
    # WHEN settings are loaded
    settings = load_settings(path, environ=env, cwd=tmp_path)
    # THEN the environment's URL is used, pinned to psycopg 3 (a password is fine there)
    assert settings.database_url == "postgresql+psycopg://mailsync:pw@127.0.0.1:5432/crm"


def test_relative_sqlite_path_in_a_file_is_relative_to_that_file(tmp_path: Path) -> None:
    # GIVEN a config file in another directory naming a relative SQLite file
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    path = write(config_dir, '[store]\nurl = "sqlite:///data/store.db"\n')
    # WHEN loaded from a different working directory
    settings = load_settings(path, environ={}, cwd=tmp_path)
    # THEN the store sits next to the config file, whatever the daemon's cwd
    assert settings.store.url == f"sqlite:///{config_dir / 'data' / 'store.db'}"


def test_password_env_is_read_only_when_the_url_is_needed(tmp_path: Path) -> None:
    # GIVEN a PostgreSQL URL without password and password_env naming a variable
    path = write(
        tmp_path,
        '[store]\nurl = "postgresql://app@db.internal/crm"\npassword_env = "CRM_DB_PW"\n',
    )
    settings = load_settings(path, environ={}, cwd=tmp_path)
    monkey_env = {"CRM_DB_PW": "s3cret"}
    # WHEN the URL is asked for with and without the variable set
    with pytest.MonkeyPatch.context() as patch:
        for name, value in monkey_env.items():
            patch.setenv(name, value)
        assert settings.database_url == "postgresql+psycopg://app:s3cret@db.internal/crm"
        patch.delenv("CRM_DB_PW")
        with pytest.raises(ConfigError) as missing:
            _ = settings.database_url
    # THEN a missing variable is a ConfigError naming the key and the variable
    assert "store.password_env" in str(missing.value)
    assert "CRM_DB_PW" in str(missing.value)


def test_the_example_loads_and_validates(tmp_path: Path) -> None:
    # GIVEN the documented example, WHEN loaded, THEN it is valid as shipped
    settings = load_settings(EXAMPLE, environ={}, cwd=tmp_path)
    assert settings.tenant is not None
    assert settings.ews is not None
    assert {m.provider for m in settings.mailboxes} == {"graph", "ews"}
    assert not settings.enabled_mailboxes  # example mailboxes must not sync by accident


def _keys(model: type[BaseModel], prefix: str) -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        inner = getattr(field.annotation, "__args__", (field.annotation,))
        nested = [a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)]
        if nested:
            keys |= _keys(nested[0], f"{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_the_example_documents_every_key() -> None:
    # GIVEN every key of every section of the settings model
    keys = _keys(Settings, "")
    text = EXAMPLE.read_text(encoding="utf-8")
    # WHEN looking for each as an active or commented-out assignment in the example
    missing = [
        key
        for key in sorted(keys)
        if not re.search(rf"^#? ?{re.escape(key.rpartition('.')[2])} = ", text, re.MULTILINE)
        and f"[[{key}]]" not in text
    ]
    # THEN none is undocumented
    assert missing == []


def test_the_packaged_example_is_the_documented_one() -> None:
    # GIVEN the copy `mailsync init` writes from, WHEN compared, THEN it is the same text
    from mailsync.commands.init import example_config_text

    assert example_config_text() == EXAMPLE.read_text(encoding="utf-8")


def test_every_rules_engine_setting_has_a_config_key() -> None:
    # GIVEN the rules engine's own settings model and the [rules] section
    from mailsync.config import RulesSettings
    from rules.settings import RulesSettings as EngineRulesSettings

    # THEN every engine setting can be set from the config file (none is unreachable)
    assert set(EngineRulesSettings.model_fields) <= set(RulesSettings.model_fields)


def test_rules_keys_reach_the_engine_and_inline_rules_load(tmp_path: Path) -> None:
    # GIVEN [rules] keys and one inline custom rule
    path = write(
        tmp_path,
        '[rules]\nblocked_domains = ["Spam.Example"]\nretro_window_days = 30\n'
        '[[rules.rule]]\nname = "Acme"\n[rules.rule.when]\nsubject = "renewal"\n'
        '[rules.rule.then]\nlink_opportunity = "OPP-000123"\n',
    )
    # WHEN loaded
    rules = load_settings(path, environ={}, cwd=tmp_path).rules
    # THEN the engine gets the values and the rule set holds the rule
    engine = rules.engine_settings()
    assert engine.blocked_domains == ("spam.example",)
    assert engine.retro_window_days == 30
    assert [rule.name for rule in rules.custom_rules().rules] == ["Acme"]


@pytest.mark.parametrize(
    ("daemon", "stalled"),
    [("", 60.0), ("heartbeat_seconds = 20\n", 120.0), ("stalled_worker_seconds = 45\n", 45.0)],
)
def test_the_stall_threshold_follows_the_heartbeat_unless_set(
    tmp_path: Path, daemon: str, stalled: float
) -> None:
    # GIVEN [daemon] with neither key, a slower heartbeat only, or the threshold itself
    path = write(tmp_path, f"[daemon]\n{daemon}")
    # WHEN loaded, THEN an unset threshold is six heartbeats; a set one is kept as written
    assert load_settings(path, environ={}, cwd=tmp_path).daemon.stalled_worker_seconds == stalled
