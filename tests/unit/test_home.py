"""The state directory: ``AGENTDECK_HOME`` when set, else the platform's data dir."""

from __future__ import annotations

from pathlib import Path

from agentdeck.home import home_dir


def test_agentdeck_home_wins_and_is_absolute(tmp_path: Path) -> None:
    assert home_dir({"AGENTDECK_HOME": str(tmp_path / "x" / ".." / "s")}) == tmp_path / "s"
    fallback = home_dir({})
    assert fallback.is_absolute() and fallback.name == "agentdeck"
