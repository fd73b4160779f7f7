"""``agentdeck token`` and ``agentdeck audit``, in process on this machine's core."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentdeck.cli import app
from agentdeck.config import Settings


@pytest.fixture
def runner(core_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("AGENTDECK_HOME", str(core_settings.home))
    monkeypatch.setenv("AGENTDECK_ROOTS", str(core_settings.roots[0]))
    monkeypatch.setenv("COLUMNS", "80")
    return CliRunner()


def test_create_list_revoke(runner: CliRunner, core_settings: Settings) -> None:
    created = runner.invoke(app, ["token", "create", "--name", "phone", "--scope", "read"])
    assert created.exit_code == 0, created.output
    token = next(w for w in created.output.split() if w.startswith("adk_"))
    stored = b"".join(p.read_bytes() for p in Path(core_settings.home).glob("agentdeck.db*"))
    assert token.encode() not in stored  # only its hash is kept

    listed = runner.invoke(app, ["token", "list", "--json"])
    assert '"phone"' in listed.output and token not in listed.output
    table = runner.invoke(app, ["token", "list"])
    assert "phone" in table.stdout and "never" in table.stdout and token not in table.output
    assert all(len(line) <= 80 for line in table.stdout.splitlines())

    again = runner.invoke(app, ["token", "create", "--name", "phone"])
    assert again.exit_code == 2 and "exists" in again.output  # a usage error
    bad_scope = runner.invoke(app, ["token", "create", "--name", "x", "--scope", "root"])
    assert bad_scope.exit_code == 2 and "read, write, admin" in bad_scope.output

    assert runner.invoke(app, ["token", "revoke", "phone"]).exit_code == 0
    assert '"revoked"' in runner.invoke(app, ["token", "list", "--json"]).output
    gone = runner.invoke(app, ["token", "revoke", "phone"])
    assert gone.exit_code == 1 and "no active token" in gone.output


def test_audit_of_an_empty_log(runner: CliRunner) -> None:
    shown = runner.invoke(app, ["audit", "--json"])
    assert shown.exit_code == 0 and shown.output.strip() == "[]"
