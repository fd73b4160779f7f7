"""The ``agentdeck`` command a person types, run for real as a subprocess against a server."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

from agentdeck.agents import ClaudeAgent
from agentdeck.cli.doctor import CLAUDE_CREDENTIAL_VARS
from agentdeck.config import ClaudeSettings, Settings
from fakes.fake_anthropic import FakeAnthropic
from support.cli import FAKE_CLI, agentdeck, cli_env, free_port
from support.servers import read_json, serve, wait_status

pytestmark = pytest.mark.anyio


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """``settings`` with the fast scripted fake of the claude binary."""
    return settings.model_copy(
        update={"claude": ClaudeSettings(cli_path=str(FAKE_CLI), model=settings.claude.model)}
    )


@pytest.mark.real_agent
async def test_run_wait_then_inspect_continue_and_end(
    settings: Settings, project: Path, fake_model: FakeAnthropic
) -> None:
    async with serve(settings) as srv:
        url = srv.url
        ran = await agentdeck("run", "--url", url, "WRITE notes.txt hi\nSAY hello from the agent")
        assert ran.code == 0, ran.output
        assert "hello from the agent" in ran.stdout
        assert "→ Write" in ran.stdout and "notes.txt" in ran.stdout
        assert "✓ waiting" in ran.stdout
        task_id = ran.stdout.split()[1]
        assert task_id.startswith("t-")
        assert (project / "notes.txt").read_text() == "hi"

        listed = await agentdeck(
            "tasks", "--status", "waiting,completed", "--limit", "1", "--url", url
        )
        assert listed.code == 0, listed.output
        assert task_id in listed.stdout and "waiting" in listed.stdout
        assert "WRITE notes.txt hi" in listed.stdout  # the default title: the first line

        shown = await agentdeck("show", task_id, "--url", url)
        assert shown.code == 0, shown.output
        assert "hello from the agent" in shown.stdout
        assert str(project / "notes.txt") in shown.stdout
        async with Client(url) as client:
            task = await read_json(client, f"task://{task_id}")
        assert task["session_id"] in shown.stdout

        logs = await agentdeck("logs", task_id, "--url", url)
        assert logs.code == 0, logs.output
        assert "tool Write:" in logs.stdout and "turn 1 finished" in logs.stdout

        followed = await agentdeck("logs", "-f", task_id, "--url", url)
        assert followed.code == 0, followed.output
        assert "turn 1 finished" in followed.stdout

        more = await agentdeck("continue", task_id, "SAY second turn", "--url", url)
        assert more.code == 0, more.output
        assert "second turn" in more.stdout and "▶ turn 2" in more.stdout
        assert "hello from the agent" not in more.stdout  # only the new turn is shown

        ended = await agentdeck("end", task_id, "--url", url)
        assert ended.code == 0, ended.output
        assert "completed" in ended.stdout

        again = await agentdeck("end", task_id, "--url", url)
        assert again.code == 1
        assert "error (invalid_state)" in again.stderr


@pytest.mark.real_agent
async def test_failing_task_exits_1(settings: Settings, fake_model: FakeAnthropic) -> None:
    async with serve(settings) as srv:
        ran = await agentdeck("run", "--url", srv.url, "ERROR 529 model is overloaded")
    assert ran.code == 1, ran.output
    assert "failed" in ran.stdout
    assert "overloaded" in ran.stdout


async def test_no_wait_cancel_and_follow(fast_settings: Settings) -> None:
    async with serve(fast_settings) as srv, Client(srv.url) as client:
        started = await agentdeck("run", "--no-wait", "--url", srv.url, "SLEEP 300")
        assert started.code == 0, started.output
        task_id = started.stdout.strip()
        assert task_id.startswith("t-") and "\n" not in task_id
        await wait_status(client, task_id, {"in_progress"})

        cancelled = await agentdeck("cancel", task_id, "--url", srv.url)
        assert cancelled.code == 0, cancelled.output
        assert f"task {task_id} cancelled" in cancelled.stdout

        followed = await agentdeck("logs", "--follow", task_id, "--url", srv.url)
        assert followed.code == 1, followed.output
        assert "-> cancelled" in followed.stdout


async def test_follow_prints_events_live(fast_settings: Settings, project: Path) -> None:
    async with serve(fast_settings) as srv, Client(srv.url) as client:
        started = await agentdeck(
            "run", "--no-wait", "--url", srv.url, "EMIT 2\nWAITFILE go 60\nSAY released"
        )
        task_id = started.stdout.strip()
        command = [sys.executable, "-m", "agentdeck", "logs", "-f", task_id, "--url", srv.url]
        async with await anyio.open_process(command, env=cli_env({})) as follower:
            assert follower.stdout is not None
            seen = ""
            with anyio.fail_after(60):
                # The turn cannot end before the file exists: what shows up is live.
                while "line 2" not in seen:
                    seen += (await follower.stdout.receive()).decode()
                task = await read_json(client, f"task://{task_id}")
                assert task["status"] == "in_progress"
                (project / "go").write_text("")
                async for chunk in follower.stdout:
                    seen += chunk.decode()
                code = await follower.wait()
        assert code == 0, seen
        assert "released" in seen
        assert "-> waiting" in seen


async def test_refusals_have_clear_messages_and_exit_codes(fast_settings: Settings) -> None:
    async with serve(fast_settings) as srv:
        url = srv.url
        missing = await agentdeck("show", "t-nope", "--url", url)
        assert missing.code == 1
        assert "error (not_found)" in missing.stderr and "t-nope" in missing.stderr

        cancel_missing = await agentdeck("cancel", "t-nope", "--url", url)
        assert cancel_missing.code == 1
        assert "error (not_found)" in cancel_missing.stderr

        bad_agent = await agentdeck("run", "--agent", "nosuch", "--url", url, "SAY x")
        assert bad_agent.code == 2
        assert "error (validation_error)" in bad_agent.stderr and "nosuch" in bad_agent.stderr

        empty = await agentdeck("run", "--url", url, "   ")
        assert empty.code == 2
        assert "instructions are empty" in empty.stderr

        bad_status = await agentdeck("tasks", "--status", "bogus", "--url", url)
        assert bad_status.code == 2
        assert "unknown status bogus" in bad_status.stderr

        none_failed = await agentdeck("tasks", "--status", "failed", "--url", url)
        assert none_failed.code == 0 and "no tasks" in none_failed.stdout

        wrong_path = url.removesuffix("/mcp") + "/nope"
        not_mcp = await agentdeck("tasks", "--url", wrong_path)
        assert not_mcp.code == 2
        assert f"no agentdeck server at {wrong_path}" in not_mcp.stderr


async def test_server_not_running_exits_2_with_hint() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    by_option = await agentdeck("tasks", "--url", url)
    assert by_option.code == 2
    assert f"agentdeck is not running at {url}" in by_option.stderr
    assert "agentdeck serve" in by_option.stderr

    by_env = await agentdeck("show", "t-x", env={"AGENTDECK_URL": url})
    assert by_env.code == 2
    assert f"not running at {url}" in by_env.stderr


async def test_doctor_checks_machine_without_server(tmp_path: Path, project: Path) -> None:
    no_login = {name: "" for name in CLAUDE_CREDENTIAL_VARS}
    env = {
        **no_login,
        "HOME": str(tmp_path / "home"),
        "CLAUDE_CONFIG_DIR": "",
        "AGENTDECK_HOME": str(tmp_path / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_PORT": str(free_port()),
    }
    info = await ClaudeAgent().probe()
    assert info.available and info.version

    # Claude Code is the default agent, and nothing would log it in: doctor says so.
    unready = await agentdeck("doctor", env=env)
    assert unready.code == 1, unready.output
    assert "claude login" in unready.stdout and "Not logged in" in unready.stdout
    assert "fix claude login:" in unready.stdout and "/login" in unready.stdout

    login = tmp_path / "home" / ".claude" / ".credentials.json"
    login.parent.mkdir(parents=True)
    login.write_text("{}")
    doctor = await agentdeck("doctor", env=env)
    assert doctor.code == 0, doctor.output
    assert "agent claude" in doctor.stdout
    assert f"claude {info.version}" in doctor.stdout
    assert f"a Claude login ({login})" in doctor.stdout
    assert "git" in doctor.stdout
    assert "0 failures" in doctor.stdout
    assert "is free" in doctor.stdout

    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "config.toml").write_text("port = 'not a number'\n")
    broken = await agentdeck("doctor", env=env | {"AGENTDECK_PORT": ""})
    assert broken.code == 1, broken.output
    assert "fix config:" in broken.stdout and "port" in broken.stdout


async def test_doctor_recognizes_running_agentdeck(fast_settings: Settings, tmp_path: Path) -> None:
    async with serve(fast_settings) as srv:
        port = srv.url.split(":")[2].split("/")[0]
        env = {
            "ANTHROPIC_API_KEY": "sk-test-key",
            "AGENTDECK_HOME": str(tmp_path / "other-state"),
            "AGENTDECK_ROOTS": str(fast_settings.roots[0]),
            "AGENTDECK_PORT": port,
        }
        doctor = await agentdeck("doctor", env=env)
    assert doctor.code == 0, doctor.output
    assert f"is running at 127.0.0.1:{port}" in doctor.stdout
