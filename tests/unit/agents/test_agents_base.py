"""Capabilities: what each adapter declares, and how probe() reports it."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from agentdeck.agents import Agent, Capabilities, build_agents
from agentdeck.agents.claude import ClaudeAgent
from agentdeck.agents.codex import CodexAgent
from agentdeck.agents.command import CommandAgent
from agentdeck.agents.gemini import GeminiAgent
from agentdeck.config import CodexSettings, CommandAgentSettings, GeminiSettings, load_settings

pytestmark = pytest.mark.anyio

CONFIG = """
[agents.resumable]
command = ["python3", "-c", "print('hi')", "{instructions}"]
resume_command = ["python3", "-c", "print('again')", "{session_id}"]

[agents.oneshot]
command = ["python3", "-c", "print('hi')", "{instructions}"]
output = "jsonl"
"""


@pytest.fixture
def agents(tmp_path: Path) -> dict[str, Agent]:
    home = tmp_path / "state"
    home.mkdir()
    (home / "config.toml").write_text(CONFIG, encoding="utf-8")
    settings = load_settings(env={"AGENTDECK_HOME": str(home), "AGENTDECK_ROOTS": str(tmp_path)})
    return build_agents(settings)


def test_capabilities_default_to_nothing_and_are_frozen() -> None:
    caps = Capabilities()
    assert caps.to_dict() == {"approvals": False, "resume": False, "steer": False, "cost": False}
    with pytest.raises(dataclasses.FrozenInstanceError):
        caps.approvals = True  # type: ignore[misc]


def test_each_adapter_declares_what_it_does(agents: dict[str, Agent]) -> None:
    declared = {name: agent.capabilities for name, agent in agents.items()}
    assert declared == {
        "claude": Capabilities(approvals=True, resume=True, steer=True, cost=True),
        "codex": Capabilities(approvals=True, resume=True, steer=True),  # app-server
        "gemini": Capabilities(approvals=True, resume=True),  # through ACP
        "resumable": Capabilities(resume=True),
        "oneshot": Capabilities(),
    }


def test_claude_no_longer_has_an_ad_hoc_approvals_attribute() -> None:
    assert not hasattr(ClaudeAgent(), "approvals")


async def test_probe_reports_declared_capabilities_and_adapter_details(tmp_path: Path) -> None:
    python = sys.executable  # `python --version` exits 0: every probe finds it available
    custom = CodexSettings(cli_path=python, provider_base_url="http://127.0.0.1:9/v1")
    infos = {
        "claude": await ClaudeAgent(cli_path=python).probe(),
        "codex": await CodexAgent(CodexSettings(cli_path=python)).probe(),
        "codex-own": await CodexAgent(custom, tmp_path).probe(),
        "gemini": await GeminiAgent(GeminiSettings(cli_path=python)).probe(),
        "command": await CommandAgent(
            "mine", CommandAgentSettings(command=[python, "{instructions}"], output="jsonl")
        ).probe(),
    }
    assert all(info.available for info in infos.values()), infos
    caps = {name: info.capabilities for name, info in infos.items()}
    no = {"approvals": False, "steer": False, "cost": False}
    assert caps == {
        "claude": {"approvals": True, "resume": True, "steer": True, "cost": True},
        "codex": {**no, "resume": True, "protocol": "exec --json", "custom_provider": False},
        "codex-own": {**no, "resume": True, "protocol": "exec --json", "custom_provider": True},
        "gemini": {**no, "resume": True, "protocol": "stream-json", "custom_endpoint": False},
        "command": {**no, "resume": False, "protocol": "cli", "output": "jsonl"},
    }


async def test_command_probe_runs_its_version_command(tmp_path: Path) -> None:
    settings = CommandAgentSettings(
        command=[sys.executable, "{instructions}"],
        version_command=[sys.executable, "-c", "import sys; print('mine 1.2.3'); sys.exit(3)"],
    )
    info = await CommandAgent("mine", settings).probe()
    assert not info.available
    assert info.version == "1.2.3"
    assert info.problem is not None and "exited with 3" in info.problem
