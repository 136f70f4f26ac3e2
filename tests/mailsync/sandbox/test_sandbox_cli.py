"""The click commands, and the sandbox running in its own process."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from mailsync.sandbox import running_sandbox
from mailsync.sandbox.cli import sandbox_group


def test_write_crm_writes_the_four_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(sandbox_group, ["write-crm", str(tmp_path), "--seed", "2"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "accounts.csv").open()))
    assert rows and set(rows[0]) == {"name", "domains", "owner_email"}
    assert (tmp_path / "users.csv").exists()


def test_serve_rejects_an_unknown_fault_kind() -> None:
    result = CliRunner().invoke(sandbox_group, ["serve", "--fault-kinds", "429,teapot"])
    assert result.exit_code != 0
    assert "unknown fault kind 'teapot'" in result.output


def test_subprocess_sandbox_serves_and_stops() -> None:
    # GIVEN the sandbox in its own process (as the bench runs it)
    with running_sandbox(in_process=False, seed=4, mailboxes=1, messages_per_mailbox=50) as sb:
        assert sb.server is None
        token = sb.app_token()
        with sb.httpx_client() as http:
            response = http.get(
                f"{sb.graph_url}/users/{sb.mailboxes[0]}/mailFolders",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200
        assert {f["displayName"] for f in response.json()["value"]} >= {"Inbox", "Sent Items"}
        assert (
            sum(
                1
                for _ in sb.truth_messages(synced=("inbox", "sentitems", "archive", "deleteditems"))
            )
            == 50
        )
