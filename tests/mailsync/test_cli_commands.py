"""The `mailsync` command line: help everywhere, init, db, import, export, config errors.

Most tests drive the click group in-process (CliRunner); one suite runs the
installed entry point as a real subprocess, the way a user or `make demo` does.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.models import Account, Link, Meeting, Message
from mailsync.cli import main
from mailsync.commands.export import LINK_COLUMNS
from tests.factories import make_account, make_contact, make_opportunity, make_user

ENTRY_POINT = Path(sys.executable).with_name("mailsync")


def invoke(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    runner = CliRunner()
    environment = {"MAILSYNC_CONFIG": "", "MAILSYNC_DATABASE_URL": "", **(env or {})}
    if cwd is None:
        return runner.invoke(
            main, args, env=environment, catch_exceptions=False, prog_name="mailsync"
        )
    with runner.isolated_filesystem(temp_dir=cwd):
        return runner.invoke(
            main, args, env=environment, catch_exceptions=False, prog_name="mailsync"
        )


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("path", list(all_commands(main)), ids=lambda p: " ".join(p) or "main")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    # GIVEN any command, WHEN asked for --help, THEN it explains itself without needing a config
    result = invoke([*path, "--help"], env={"MAILSYNC_CONFIG": "/nonexistent/mailsync.toml"})
    assert result.exit_code == 0, result.output
    assert "Usage: mailsync" in result.output
    assert len(result.output.splitlines()) > 3


def test_init_writes_config_and_store_once_and_never_overwrites(tmp_path: Path) -> None:
    # GIVEN an empty directory
    workdir = tmp_path / "site"
    workdir.mkdir()
    config = workdir / "mailsync.toml"
    # WHEN init runs
    first = invoke(["--config", str(config), "init"])
    # THEN the example config and a migrated store exist
    assert first.exit_code == 0, first.output
    assert "wrote" in first.output
    assert (workdir / "mailsync.db").is_file()
    # WHEN the user edits the config and init runs again
    config.write_text(config.read_text() + "\n# my edit\n")
    second = invoke(["--config", str(config), "init"])
    # THEN nothing is overwritten and the store is simply up to date
    assert second.exit_code == 0, second.output
    assert "kept the existing" in second.output
    assert config.read_text().endswith("# my edit\n")
    current = invoke(["--config", str(config), "db", "current"])
    assert "(up to date)" in current.output


def test_db_current_on_an_empty_store_says_what_to_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = invoke(["db", "current"], env={"MAILSYNC_DATABASE_URL": url})
    assert result.exit_code == 0
    assert "run `mailsync db upgrade`" in result.output
    assert invoke(["db", "upgrade"], env={"MAILSYNC_DATABASE_URL": url}).exit_code == 0
    assert "(up to date)" in invoke(["db", "current"], env={"MAILSYNC_DATABASE_URL": url}).output


def test_import_into_an_unmigrated_store_says_to_upgrade(tmp_path: Path) -> None:
    # GIVEN a store that was never migrated
    data = tmp_path / "accounts.csv"
    data.write_text("name,domains,owner_email\nAcme,acme.example,\n")
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    # WHEN importing
    result = invoke(["import", "accounts", str(data)], env={"MAILSYNC_DATABASE_URL": url})
    # THEN the user is told the command that fixes it, exit code 2
    assert result.exit_code == 2
    assert "mailsync db upgrade" in result.output


def test_config_error_is_one_message_exit_2_no_traceback(tmp_path: Path) -> None:
    # GIVEN a config with a misspelt key
    config = tmp_path / "bad.toml"
    config.write_text("[sync]\ninterval_secs = 5\n")
    # WHEN any command that needs configuration runs
    result = invoke(["--config", str(config), "db", "current"])
    # THEN it exits 2 with the key, the file and the fix, and no traceback
    assert result.exit_code == 2
    assert "sync.interval_secs: unknown key" in result.output
    assert str(config) in result.output
    assert 'did you mean "interval_seconds"' in result.output
    assert "Traceback" not in result.output


def test_import_report_and_exit_codes(session: Session, db_url: str, tmp_path: Path) -> None:
    # GIVEN a store with Acme, and a contacts file with one good and two bad rows
    make_account(session, name="Acme", domains=["acme.example"])
    session.commit()
    data = tmp_path / "contacts.csv"
    data.write_text(
        "first_name,last_name,email,account,title,phone\n"
        "Jane,Doe,jane@acme.example,Acme,,\n"
        "Bob,Bad,not-an-email,Acme,,\n"
        "Carl,Lost,carl@initech.example,Initech,,\n"
    )
    env = {"MAILSYNC_DATABASE_URL": db_url}
    # WHEN imported all-or-nothing
    strict = invoke(["import", "contacts", str(data)], env=env)
    # THEN every bad row is reported by file and line, exit 1, nothing written
    assert strict.exit_code == 1
    assert f"{data}: line 3: bad email" in strict.output
    assert f"{data}: line 4: unknown account 'Initech'" in strict.output
    assert "nothing was written" in strict.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Account)) == 1
    assert session.execute(select(func.count()).select_from(Link)).scalar() == 0
    # WHEN imported with --skip-bad-rows
    lenient = invoke(["import", "contacts", str(data), "--skip-bad-rows"], env=env)
    # THEN the same report, the good row is written, exit 0
    assert lenient.exit_code == 0
    assert f"{data}: line 3: bad email" in lenient.output
    assert "imported 1 contacts; skipped 2 bad rows of 3" in lenient.output


def test_header_error_exits_1_naming_the_column(db_url: str, tmp_path: Path) -> None:
    data = tmp_path / "opps.csv"
    data.write_text("code,name,account\nOPP-000001,Deal,Acme\n")
    result = invoke(["import", "opportunities", str(data)], env={"MAILSYNC_DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert "missing column status" in result.output


def _linked_store(session: Session) -> None:
    """One message linked by a rule to a contact, one meeting linked by a person."""
    owner = make_user(session, email="ann@ourco.example")
    acme = make_account(session, name="Acme", domains=["acme.example"], owner=owner)
    jane = make_contact(session, account=acme, emails=["jane@acme.example", "jd@acme.example"])
    deal = make_opportunity(session, account=acme, code="OPP-000123")
    message = Message(
        message_key="<m1@acme.example>",
        internet_message_id="<m1@acme.example>",
        subject='Offer, "final"',
        sent_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    )
    meeting = Meeting(
        meeting_key="uid-1",
        uid="uid-1",
        subject="Kick-off",
        start_at=datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        end_at=datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
    )
    session.add_all([message, meeting])
    session.flush()
    session.add_all(
        [
            Link(
                item_kind="message",
                item_id=message.id,
                target_kind="contact",
                target_id=jane.id,
                origin_kind="rule",
                origin="participant",
                actor=None,
                evidence="participant: from=jane@acme.example → contact Jane Doe",
            ),
            Link(
                item_kind="meeting",
                item_id=meeting.id,
                target_kind="opportunity",
                target_id=deal.id,
                origin_kind="person",
                origin="person",
                actor="ann@ourco.example",
                evidence="linked by ann@ourco.example",
            ),
        ]
    )
    session.commit()


def test_export_links_as_csv(session: Session, db_url: str, tmp_path: Path) -> None:
    # GIVEN two links
    _linked_store(session)
    # WHEN exported as CSV to a file
    out = tmp_path / "links.csv"
    result = invoke(["export", "links", "-o", str(out)], env={"MAILSYNC_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    # THEN one row per link with the human keys, quoted where needed
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == LINK_COLUMNS
    by_kind = {row["item_kind"]: row for row in rows}
    assert by_kind["message"]["item_key"] == "<m1@acme.example>"
    assert by_kind["message"]["subject"] == 'Offer, "final"'
    assert by_kind["message"]["target_key"] == "jane@acme.example"
    assert by_kind["message"]["reason"].startswith("participant: from=jane@acme.example")
    assert by_kind["message"]["actor"] == ""
    assert by_kind["meeting"]["target_kind"] == "opportunity"
    assert by_kind["meeting"]["target_key"] == "OPP-000123"
    assert by_kind["meeting"]["actor"] == "ann@ourco.example"
    assert datetime.fromisoformat(by_kind["meeting"]["created_at"]).tzinfo is not None


def test_export_links_as_json_to_stdout(session: Session, db_url: str) -> None:
    _linked_store(session)
    result = invoke(["export", "links", "--format", "json"], env={"MAILSYNC_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 2
    assert all(tuple(row) == LINK_COLUMNS for row in rows)
    message = next(row for row in rows if row["item_kind"] == "message")
    assert message["actor"] is None
    assert message["target_key"] == "jane@acme.example"


def test_export_of_an_empty_store_is_a_valid_empty_document(db_url: str) -> None:
    env = {"MAILSYNC_DATABASE_URL": db_url}
    assert json.loads(invoke(["export", "links", "--format", "json"], env=env).output) == []
    assert invoke(["export", "links"], env=env).output.strip() == ",".join(LINK_COLUMNS)


# --------------------------------------------------------------------------- real process


def run_entry_point(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENTRY_POINT), *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_installed_entry_point_imports_a_crm_end_to_end(tmp_path: Path) -> None:
    # GIVEN the installed `mailsync` command and a small CRM as CSV files
    assert ENTRY_POINT.is_file(), "pip install -e . creates the mailsync entry point"
    files = {
        "users.csv": "email,display_name,role,team,manager_email\n"
        "ann@ourco.example,Ann,salesperson,EMEA,\n",
        "accounts.csv": "name,domains,owner_email\nAcme,acme.example,ann@ourco.example\n",
        "contacts.csv": "first_name,last_name,email,account,title,phone\n"
        "Jane,Doe,jane@acme.example,Acme,CTO,\n",
        "opportunities.csv": "code,name,account,stage,status,amount,currency,close_date,"
        "owner_email\nOPP-000001,Deal,Acme,Proposal,open,10.00,EUR,2026-12-31,"
        "ann@ourco.example\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    # WHEN init and the four imports run as separate processes, twice
    assert run_entry_point(["init"], {}, tmp_path).returncode == 0
    for _ in range(2):
        for kind in ("users", "accounts", "contacts", "opportunities"):
            done = run_entry_point(["import", kind, f"{kind}.csv"], {}, tmp_path)
            assert done.returncode == 0, done.stderr
            assert f"imported 1 {kind}" in done.stdout
    # THEN the store in the working directory holds the CRM, and a bad config exits 2
    assert (tmp_path / "mailsync.toml").is_file()
    assert (tmp_path / "mailsync.db").is_file()
    (tmp_path / "broken.toml").write_text('[store]\nurl = "mysql://x/y"\n')
    broken = run_entry_point(["--config", "broken.toml", "db", "current"], {}, tmp_path)
    assert broken.returncode == 2
    assert "store.url" in broken.stderr
    assert "Traceback" not in broken.stderr
