"""``agentdeck service``: the systemd user unit it writes, and its refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentdeck.cli import app
from agentdeck.cli.service import _manager_problem, quote
from agentdeck.config import Settings


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_unit_runs_serve_with_the_users_roots_home_and_port(
    cli_settings: Settings, tmp_path: Path
) -> None:
    other = tmp_path / "other root"
    other.mkdir()
    code, unit, _ = run("service", "print", "--port", "3123", "--root", str(other))
    assert code == 0
    lines = unit.splitlines()
    start = next(line for line in lines if line.startswith("ExecStart="))
    assert "-m agentdeck serve --host 127.0.0.1 --port 3123" in start
    assert f'--root "{other}"' in start  # quoted: the path has a space
    assert f"Environment=AGENTDECK_HOME={cli_settings.home}" in lines
    assert {"Restart=on-failure", "StandardOutput=journal", "WantedBy=default.target"} <= set(lines)
    assert "TimeoutStopSec=15" in lines  # the stop grace (10 s) and some


def test_systemd_accepts_the_unit(cli_settings: Settings, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing (Debian's systemd package)")
        pytest.skip("systemd-analyze is not installed")
    _, unit, _ = run("service", "print")
    path = tmp_path / "agentdeck.service"
    path.write_text(unit)
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, check=False
    )
    assert verified.returncode == 0, verified.stderr
    assert "agentdeck.service" not in verified.stderr  # no warning about our unit


def test_a_unit_beyond_loopback_without_a_token_is_refused(cli_settings: Settings) -> None:
    code, unit, errors = run("service", "print", "--host", "0.0.0.0")
    assert code == 2 and unit == ""
    assert "refusing to listen on 0.0.0.0: no access token exists" in errors


def test_install_without_a_user_manager_says_so_and_installs_nothing(
    cli_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = _manager_problem()
    if problem is None:
        pytest.skip("a systemd user manager runs here; install would install for real")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    code, unit, errors = run("service", "install")
    assert code == 1 and "nothing was installed" in errors and problem in errors
    assert unit.startswith("[Unit]")  # the unit, to install by hand
    assert not (tmp_path / "config").exists()
    code, _, errors = run("service", "status", "--port", "1")
    assert code == 1


def test_exec_words_are_quoted_for_systemd() -> None:
    assert quote("/usr/bin/python") == "/usr/bin/python"
    assert quote("/a b") == '"/a b"'
    assert quote("100%") == "100%%" and quote("$HOME") == "$$HOME"
    assert quote('say "hi"') == '"say \\"hi\\""'
