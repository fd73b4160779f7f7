"""Shared fixtures: isolated agent environment, fake model server, settings.

Helpers live in ``tests/support``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentdeck.config import Settings, load_settings
from fakes.fake_anthropic import FakeAnthropic
from support.agents import offline_claude_env

# The browser fixtures (`browser`, `page`: Debian's Chromium through Playwright) for every
# test; they skip where Chromium is missing, and fail under CI=true.
pytest_plugins = ["support.browser", "support.postgres"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_model(tmp_path: Path) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(log_path=tmp_path / "fake-anthropic.jsonl") as fake:
        yield fake


@pytest.fixture
def agent_env(
    tmp_path: Path, fake_model: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment for agents started by an in-process server: offline, isolated."""
    env = {
        **offline_claude_env(tmp_path / "agent-home", fake_model.base_url),
        # Most tests are not about approvals; those that are ask for the `ask` policy.
        "AGENTDECK_APPROVAL_POLICY": "bypass",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AGENTDECK_HOME", raising=False)
    monkeypatch.delenv("AGENTDECK_ROOTS", raising=False)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def settings(tmp_path: Path, project: Path, agent_env: dict[str, str]) -> Settings:
    env = {**agent_env, "AGENTDECK_HOME": str(tmp_path / "state"), "AGENTDECK_ROOTS": str(project)}
    return load_settings(env=env)


@pytest.fixture
def core_settings(tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for a core on in-memory agents: no model server, the fake agent by default."""
    for var in ("AGENTDECK_HOME", "AGENTDECK_ROOTS", "AGENTDECK_DEFAULT_AGENT"):
        monkeypatch.delenv(var, raising=False)
    env = {
        "HOME": str(tmp_path / "home"),
        "AGENTDECK_HOME": str(tmp_path / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_DEFAULT_AGENT": "fake",
        "AGENTDECK_APPROVAL_POLICY": "bypass",
    }
    return load_settings(env=env)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under ``tests/integration`` are the real-path tier (``-m integration``), those
    under ``tests/reliability`` the crash, fault and fuzz suites (``-m reliability``)."""
    for item in items:
        for tier in ("integration", "reliability"):
            if tier in item.path.parts:
                item.add_marker(getattr(pytest.mark, tier))
