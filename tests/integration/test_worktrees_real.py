"""Tasks in their own git worktrees, with real git, real Claude Code and the fake model."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from agentdeck.config import Settings, load_settings
from support.core import events_of
from support.servers import call, read_json, serve, wait_status

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]

IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(project: Path) -> Path:
    """A repository with history, an untracked .env, and a setup script."""
    git(project, "init", "-q", "-b", "main")
    (project / "shared.txt").write_text("original\n")
    (project / ".gitignore").write_text(".env\n.setup-marker\n")
    (project / ".agentdeck.toml").write_text(
        'copy_files = [".env"]\nsetup = "echo setup-ran > .setup-marker && cat .env"\n'
    )
    (project / "pkg").mkdir()
    (project / "pkg" / "mod.py").write_text("x = 1\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "initial")
    (project / ".env").write_text("SECRET_FLAVOUR=vanilla\n")
    return project


def clean(repo: Path) -> bool:
    return git(repo, "status", "--porcelain", "--untracked-files=no").strip() == ""


async def _create(client: Client, title: str, instructions: str, **extra: Any) -> str:
    created = await call(client, "create_task", title=title, instructions=instructions, **extra)
    assert created["status"] == "success", created
    return str(created["result"]["task_id"])


async def test_parallel_tasks_merge_cleanly(settings: Settings, repo: Path) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        a = await _create(client, "Add alpha", "WRITE alpha.txt from task a")
        b = await _create(client, "Add beta", "WRITE beta.txt from task b")
        ta = await wait_status(client, a, {"waiting", "failed"})
        tb = await wait_status(client, b, {"waiting", "failed"})
        assert ta["status"] == tb["status"] == "waiting", (ta["error"], tb["error"])

        wa, wb = Path(ta["git"]["worktree_path"]), Path(tb["git"]["worktree_path"])
        assert wa != wb and (wa / "alpha.txt").exists() and (wb / "beta.txt").exists()
        assert not (wa / "beta.txt").exists() and not (wb / "alpha.txt").exists()
        # The main checkout is untouched until merge.
        assert not (repo / "alpha.txt").exists() and not (repo / "beta.txt").exists()
        assert clean(repo)
        # Work was committed on the task branches; .env was copied but never committed.
        assert (wa / ".env").read_text() == "SECRET_FLAVOUR=vanilla\n"
        assert "alpha.txt" in git(repo, "show", "--stat", ta["git"]["branch"])
        assert ".env" not in git(repo, "log", "--stat", ta["git"]["branch"])
        assert ta["git"]["diff"] == {"files": 1, "insertions": 1, "deletions": 0}
        diff = (await client.read_resource(f"task://{a}/diff")).contents[0].text  # type: ignore[union-attr]
        assert "+++ b/alpha.txt" in diff and "+from task a" in diff

        for task_id in (a, b):
            merged = await call(client, "merge_task", id=task_id)
            assert merged["status"] == "success", merged
        assert (repo / "alpha.txt").read_text() == "from task a"
        assert (repo / "beta.txt").read_text() == "from task b"
        merges = git(repo, "log", "--merges", "--format=%s")
        assert ta["git"]["branch"] in git(repo, "branch", "--merged", "main")
        assert merges.count("Merge agentdeck task") == 2
        assert clean(repo)
        assert (await read_json(client, f"task://{a}"))["git"]["merged"] is True


async def test_conflicting_second_merge_changes_nothing(settings: Settings, repo: Path) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        # (Claude Code's Write refuses to overwrite a file it has not read: use the shell.)
        a = await _create(client, "Alpha edit", "BASH printf alpha > shared.txt")
        b = await _create(client, "Beta edit", "BASH printf beta > shared.txt")
        for task_id in (a, b):
            assert (await wait_status(client, task_id, {"waiting", "failed"}))["status"] == (
                "waiting"
            )
        first = await call(client, "merge_task", id=a, strategy="squash")
        assert first["status"] == "success", first
        head = git(repo, "rev-parse", "HEAD")
        second = await call(client, "merge_task", id=b)
        assert second["isError"] is True
        assert second["error"]["type"] == "merge_conflict"
        assert second["error"]["details"]["conflicting_files"] == ["shared.txt"]
        assert "update_task" in second["message"]
        assert git(repo, "rev-parse", "HEAD") == head
        assert clean(repo) and (repo / "shared.txt").read_text() == "alpha"


async def test_setup_runs_before_the_agent_and_env_is_copied(
    settings: Settings, repo: Path
) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        task_id = await _create(client, "Check setup", "SAY ready")
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == "waiting", task["error"]
        worktree = Path(task["git"]["worktree_path"])
        assert (worktree / ".setup-marker").read_text() == "setup-ran\n"
        events = await events_of(srv.deck.core, task_id)
        setup = next(e for e in events if e.data.get("source") == "setup")
        started = next(e for e in events if e.kind == "turn_started")
        assert setup.seq < started.seq
        assert "SECRET_FLAVOUR=vanilla" in setup.data["text"]
        assert started.data["cwd"] == str(worktree)


async def test_failing_setup_fails_the_task_with_its_output(settings: Settings, repo: Path) -> None:
    (repo / ".agentdeck.toml").write_text('setup = "echo missing tool >&2; exit 3"\n')
    git(repo, "commit", "-qam", "broken setup")
    async with serve(settings) as srv, Client(srv.url) as client:
        task_id = await _create(client, "Broken", "SAY never")
        task = await wait_status(client, task_id, {"failed", "waiting"})
        assert task["status"] == "failed"
        assert "exited with 3" in task["error"] and "missing tool" in task["error"]


async def test_restart_finds_worktrees_and_branches(settings: Settings, repo: Path) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        task_id = await _create(client, "Keep going", "WRITE one.txt first")
        first = await wait_status(client, task_id, {"waiting", "failed"})
    async with serve(settings) as srv, Client(srv.url) as client:
        again = await read_json(client, f"task://{task_id}")
        assert again["git"] == first["git"]
        worktree = Path(again["git"]["worktree_path"])
        assert str(worktree) in git(repo, "worktree", "list")
        await call(client, "update_task", id=task_id, instructions="WRITE two.txt second")
        done = await wait_status(client, task_id, {"waiting", "failed"})
        assert done["status"] == "waiting", done["error"]
        assert (worktree / "one.txt").exists() and (worktree / "two.txt").exists()
        assert done["git"]["diff"]["files"] == 2


async def test_subdirectory_project_maps_into_the_worktree(settings: Settings, repo: Path) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        task_id = await _create(
            client, "In pkg", "WRITE new.py y = 2", project_path=str(repo / "pkg")
        )
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == "waiting", task["error"]
        worktree = Path(task["git"]["worktree_path"])
        assert (worktree / "pkg" / "new.py").read_text() == "y = 2"
        assert task["cwd"] == str(worktree / "pkg")


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        ({"base_branch": "nope"}, "base branch 'nope' does not exist"),
        ({"branch": "bad..name"}, "not a valid git branch name"),
        ({"branch": "main"}, "already exists"),
        ({"isolation": "sideways"}, "isolation"),
    ],
)
async def test_bad_git_options_are_refused(
    settings: Settings, repo: Path, extra: dict[str, str], phrase: str
) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        result = await call(client, "create_task", title="t", instructions="SAY x", **extra)
        assert result["isError"] is True
        assert phrase in result["message"], result["message"]
        assert (await read_json(client, "agent://tasks"))["count"] == 0
        assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]


async def test_dirty_main_checkout_refuses_merge(settings: Settings, repo: Path) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        task_id = await _create(client, "Gamma", "WRITE gamma.txt g")
        await wait_status(client, task_id, {"waiting"})
        (repo / "shared.txt").write_text("local edit\n")
        head = git(repo, "rev-parse", "HEAD")
        result = await call(client, "merge_task", id=task_id)
        assert result["error"]["type"] == "dirty_checkout"
        assert "uncommitted changes" in result["message"] and "shared.txt" in result["message"]
        assert git(repo, "rev-parse", "HEAD") == head
        assert (repo / "shared.txt").read_text() == "local edit\n"
        assert not (repo / "gamma.txt").exists()


async def test_merging_a_task_without_changes_is_refused(settings: Settings, repo: Path) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        task_id = await _create(client, "Nothing", "SAY nothing to do")
        await wait_status(client, task_id, {"waiting"})
        result = await call(client, "merge_task", id=task_id, strategy="squash")
        assert result["error"]["type"] == "invalid_state"
        assert "no changes" in result["message"]


async def test_duplicate_branch_name_from_two_tasks(settings: Settings, repo: Path) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        await _create(client, "First", "SAY a", branch="feature/x")
        second = await call(
            client, "create_task", title="Second", instructions="SAY b", branch="feature/x"
        )
        assert second["isError"] and "already exists" in second["message"]


async def test_isolation_none_runs_in_place(
    tmp_path: Path, repo: Path, agent_env: dict[str, str]
) -> None:
    settings = load_settings(
        env={**agent_env, "AGENTDECK_HOME": str(tmp_path / "s2"), "AGENTDECK_ROOTS": str(repo)}
    )
    async with serve(settings) as srv, Client(srv.url) as client:
        task_id = await _create(client, "In place", "WRITE here.txt in place", isolation="none")
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["git"] is None and (repo / "here.txt").read_text() == "in place"
