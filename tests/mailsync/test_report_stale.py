"""`mailsync report stale` lists the deals the dashboard calls stale (issue 6)."""

from __future__ import annotations

import csv
import io

from click.testing import CliRunner
from sqlalchemy.orm import Session

from mailsync.cli import main
from tests.web.pages.scenario import build_team


def _run(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["report", "stale", *args],
        env={"MAILSYNC_CONFIG": "", "MAILSYNC_DATABASE_URL": db_url},
    )
    return result.exit_code, result.output


def test_stale_lists_quiet_and_never_contacted_deals_and_filters_by_owner(
    session: Session, db_url: str
) -> None:
    # GIVEN Anna's deal last contacted on 17 March 2026 (meeting), her second deal and
    # Carl's deal never contacted (their mail is linked to accounts, not deals)
    build_team(session)
    # WHEN listing deals quiet for a day (every contact in the scenario is older)
    code, output = _run(db_url, "--days", "1", "--format", "csv")
    # THEN all three open deals are listed, the never-contacted ones as "never"
    assert code == 0, output
    rows = {row["code"]: row for row in csv.DictReader(io.StringIO(output))}
    assert set(rows) == {"OPP-100001", "OPP-100002", "OPP-200001"}
    assert rows["OPP-100002"]["last_contact"] == "never"
    assert rows["OPP-100001"]["last_contact"] == "2026-03-17"
    # WHEN narrowed to Carl's deals, THEN only his
    code, output = _run(db_url, "--days", "1", "--owner", "CARL@ourco.example", "--format", "csv")
    assert [row["code"] for row in csv.DictReader(io.StringIO(output))] == ["OPP-200001"]
    # WHEN printed as a table, THEN one line per deal under the header
    code, output = _run(db_url, "--days", "1")
    lines = output.splitlines()
    assert lines[0].split()[:3] == ["code", "name", "account"]
    assert sum(line.startswith("OPP-") for line in lines) == 3


def test_unknown_owner_and_bad_days_are_refused_with_the_option_named(
    session: Session, db_url: str
) -> None:
    build_team(session)
    code, output = _run(db_url, "--owner", "nobody@ourco.example")
    assert code == 2 and "--owner" in output and "nobody@ourco.example" in output
    code, output = _run(db_url, "--days", "0")
    assert code == 2 and "--days" in output
