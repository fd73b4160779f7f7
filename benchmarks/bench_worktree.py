"""Worktree creation time for a repository of 10k files (prints figures, asserts nothing).

Measures agentdeck's whole preparation of a task workspace (`isolation.prepare`:
worktree + branch checkout + copying untracked config) against the baseline of a
bare `git worktree add` of the same repository, p50 and p90 over several runs.

    .venv/bin/python benchmarks/bench_worktree.py [--files 10000] [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from agentdeck.config import load_settings
from agentdeck.core import isolation, workspace
from agentdeck.model import GitBranch, Task, TaskStatus, now

if TYPE_CHECKING:
    from benchmarks.harness import Row

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def make_repo(root: Path, files: int) -> Path:
    repo = root / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    for i in range(files):
        folder = repo / f"pkg{i // 100:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{i:05d}.py").write_text(f"VALUE = {i}\n" * 20)
    (repo / ".gitignore").write_text(".env\n")
    (repo / ".env").write_text("TOKEN_NAME=bench\n")
    (repo / ".agentdeck.toml").write_text('copy_files = [".env"]\n')
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *IDENTITY, "commit", "-q", "-m", "init"], cwd=repo, check=True)
    return repo


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(files: int, runs: int) -> tuple[list[float], list[float]]:
    """Seconds of each bare ``git worktree add`` and of each agentdeck prepare, interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        repo = make_repo(root, files)
        took = time.perf_counter() - started
        print(f"repository: {files} files, built in {took:.1f} s", file=sys.stderr)
        settings = load_settings(
            env={"AGENTDECK_HOME": str(root / "home"), "AGENTDECK_ROOTS": str(repo)}
        )
        raw: list[float] = []
        ours: list[float] = []
        for i in range(runs):
            t0 = time.perf_counter()
            await workspace.git(
                repo, "worktree", "add", "-q", "-b", f"raw{i}", str(root / f"raw{i}"), "main"
            )
            raw.append(time.perf_counter() - t0)

            stamp = now()
            git = GitBranch(
                repo_path=str(repo),
                branch=f"agentdeck/bench{i}",
                base_branch="main",
                worktree_path=str(isolation.worktree_dir(settings, repo, f"t-bench{i:05d}")),
            )
            task = Task(
                id=f"t-bench{i:05d}",
                title="bench",
                status=TaskStatus.IN_PROGRESS,
                agent="claude",
                project_path=str(repo),
                cwd=str(repo),
                created_at=stamp,
                updated_at=stamp,
                git=git,
            )
            t0 = time.perf_counter()
            await workspace.git(repo, "branch", git.branch, "main")
            await isolation.prepare(settings, task, git)
            ours.append(time.perf_counter() - t0)
    return raw, ours


async def main(files: int, runs: int) -> None:
    raw, ours = await measure(files, runs)
    print(f"{'':28}{'p50 (ms)':>10}{'p90 (ms)':>10}")
    print(
        f"{'git worktree add (baseline)':28}{pct(raw, 0.5) * 1e3:>10.0f}"
        f"{pct(raw, 0.9) * 1e3:>10.0f}"
    )
    print(f"{'agentdeck prepare':28}{pct(ours, 0.5) * 1e3:>10.0f}{pct(ours, 0.9) * 1e3:>10.0f}")
    print(
        f"ratio agentdeck / baseline (p50): {statistics.median(ours) / statistics.median(raw):.2f}"
    )


# -- python -m benchmarks ---------------------------------------------------------------

NAME = "worktree"
SIZES = {"tiny": (200, 2), "full": (10_000, 9)}  # (files, runs)


async def run(size: str) -> list[Row]:
    from benchmarks.harness import Row

    files, runs = SIZES[size]
    raw, ours = await measure(files, runs)
    return [
        Row(
            f"worktree prepare, {files:,}-file repo (vs git worktree add), p50",
            "≈ 1× (no target)",
            statistics.median(ours) * 1e3,
            baseline=statistics.median(raw) * 1e3,
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    anyio.run(main, args.files, args.runs)
