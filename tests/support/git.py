"""Git repositories for tests (argv only, a fixed identity)."""

from __future__ import annotations

import subprocess
from pathlib import Path

IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def init_repo(path: Path, settings_toml: str = "") -> Path:
    """A repository on ``main`` with one commit (and ``.agentdeck.toml``, if given)."""
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("hello\n")
    if settings_toml:
        (path / ".agentdeck.toml").write_text(settings_toml)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path
