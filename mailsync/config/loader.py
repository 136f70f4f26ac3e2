"""Find the config file, read it, and turn every mistake into one readable ConfigError.

Order of precedence for the file: ``--config PATH``, then ``MAILSYNC_CONFIG``,
then ``./mailsync.toml`` (what ``mailsync init`` writes), then built-in
defaults. ``MAILSYNC_DATABASE_URL`` beats ``[store] url``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mailsync.config.database_url import normalise_database_url
from mailsync.config.errors import ConfigError, ConfigProblem
from mailsync.config.explain import describe_validation_error
from mailsync.config.secret_keys import pop_secret_values
from mailsync.config.sections import RulesSettings
from mailsync.config.settings import Settings
from rules import check_rules_file, parse_rules_document

CONFIG_ENV = "MAILSYNC_CONFIG"
DATABASE_URL_ENV = "MAILSYNC_DATABASE_URL"
DEFAULT_CONFIG_NAME = "mailsync.toml"


def locate_config(
    explicit: Path | None, environ: Mapping[str, str], cwd: Path
) -> tuple[Path | None, str]:
    """The file to read and how it was chosen (for messages), or None for defaults."""
    if explicit is not None:
        return _absolute(explicit, cwd), "--config"
    from_env = environ.get(CONFIG_ENV, "").strip()
    if from_env:
        return _absolute(Path(from_env), cwd), CONFIG_ENV
    default = cwd / DEFAULT_CONFIG_NAME
    if default.is_file():
        return default, "the working directory"
    return None, "built-in defaults"


def load_settings(
    config_path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Validated settings, or ConfigError naming every bad key, the file and the fix."""
    env = os.environ if environ is None else environ
    workdir = Path.cwd() if cwd is None else cwd
    path, chosen_by = locate_config(config_path, env, workdir)
    raw = _read_toml(path, chosen_by) if path is not None else {}
    base_dir = path.parent if path is not None else workdir

    problems = pop_secret_values(raw)
    if isinstance(raw.get("store", {}), dict):
        raw.setdefault("store", {})  # so the store's URL is resolved with this context
    context: dict[str, Any] = {"base_dir": base_dir}
    env_url = env.get(DATABASE_URL_ENV, "").strip()
    if env_url:
        context["env_database_url"] = _database_url_from_env(env_url, workdir)
    try:
        settings = Settings.model_validate(raw, context=context)
    except ValidationError as exc:
        # "client_secret_env is missing" only repeats the refused client_secret.
        replaced = {f"{problem.key}_env" for problem in problems}
        problems.extend(p for p in describe_validation_error(exc) if p.key not in replaced)
        raise ConfigError(path, problems) from None
    problems.extend(custom_rule_problems(settings.rules))
    if problems:
        raise ConfigError(path, problems)
    settings._source = path
    return settings


def custom_rule_problems(rules: RulesSettings) -> list[ConfigProblem]:
    """Custom rules are checked at start like every other key (invariant 6)."""
    problems: list[ConfigProblem] = []
    _, inline_errors = parse_rules_document({"rules": {"rule": list(rules.rule)}})
    for error in inline_errors:
        key = f"rules.rule[{error.rule}]" + (f".{error.key}" if error.key else "")
        fix = f"allowed: {error.allowed}" if error.allowed else ""
        problems.append(ConfigProblem(key, error.problem, fix))
    if rules.file is not None:
        for error in check_rules_file(rules.file):
            problems.append(
                ConfigProblem("rules.file", f"{rules.file}: {error}", "fix the rules file")
            )
    return problems


def _absolute(path: Path, cwd: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else cwd / path


def _read_toml(path: Path, chosen_by: str) -> dict[str, Any]:
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ConfigError(
            path,
            [
                ConfigProblem(
                    "(file)",
                    f"the config file chosen by {chosen_by} {what}",
                    f"run `mailsync --config {path} init` to create it from the example, "
                    f"or point {'--config' if chosen_by == '--config' else CONFIG_ENV} "
                    "at an existing file",
                )
            ],
        )
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            path,
            [
                ConfigProblem(
                    "(syntax)",
                    f"this is not valid TOML: {exc}",
                    "fix the line named above; strings need double quotes, "
                    'lists look like ["a", "b"], sections like [sync]',
                )
            ],
        ) from None


def _database_url_from_env(text: str, cwd: Path) -> str:
    try:
        return normalise_database_url(text, cwd, allow_password=True)
    except ValueError as exc:
        raise ConfigError(
            f"the environment variable {DATABASE_URL_ENV}",
            [
                ConfigProblem(
                    DATABASE_URL_ENV,
                    str(exc),
                    f"correct {DATABASE_URL_ENV}, or unset it to use [store] url",
                )
            ],
        ) from None
