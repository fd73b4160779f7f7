"""Scale-out across hosts: PostgreSQL, the front (`agentdeck serve`), two workers and a
client each in a network namespace of its own, on one bridge (tests/support/netns.py).

Every byte between them crosses a real interface: the workers and the front reach the
database at its LAN address, the client reaches the front's REST API at its (with a
token, as a non-loopback bind needs). The tests show: tasks routed by labels and by
project root; ten tasks spread by capacity, no worker over its ``max_running``; an
approval answered at the front reaching the agent on its worker; cancel stopping the
remote agent in ≤ 2 s with no process left; and a worker killed with SIGKILL mid-turn
having its task ``interrupted`` within the heartbeat timeout + 5 s, which resumes once
the worker is back. A Claude Code task whose worker is killed for good goes on on
another worker, each with a checkout of its own at the project's path and its own
Claude config: the branch comes from the shared git remote, the conversation from the
shared session store. Processes share the machine's PID space, so the tests see the
agents' processes (marked with ``AGENTDECK_TASK_ID``) on every host.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentdeck.proctree import alive_members
from fakes.fake_anthropic import FakeAnthropic
from support.agents import offline_claude_env
from support.git import git, init_repo
from support.netns import HttpClient, Lan, lan
from support.paths import FAKES
from support.postgres import Cluster, start_cluster

HEARTBEAT_TIMEOUT = 5.0
PORT = 8700
AGENT = ["sh", "-c", 'echo "started $0"; sleep "$0"; echo "slept $0"', "{instructions}"]
ASKER = [sys.executable, str(Path(__file__).parents[1] / "fakes" / "fake_acp_agent.py")]
CAPACITY = {"w1": 2, "w2": 3}
CLAUDE_WORKERS = ("w3", "w4")  # serve project c (a git clone of their own each), Claude
MODEL_PORT = 8800


def _deadline(
    check: Callable[[], Any], timeout: float, what: str | Callable[[], str], every: float = 0.1
) -> Any:
    """``check()`` once it is truthy (polled), or fail saying ``what`` did not happen."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            said = what() if callable(what) else what
            pytest.fail(f"within {timeout:g} s: {said} (last: {value!r})")
        time.sleep(every)  # polling a condition on other hosts, with its deadline above


def _home(root: Path, name: str, extra: str = "") -> Path:
    home = root / name
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        'default_agent = "sleepy"\napproval_policy = "bypass"\n'
        f"{extra}\n"
        f"[agents.sleepy]\ncommand = {json.dumps(AGENT)}\nversion_command = []\n\n"
        f'[agents.asker]\ncommand = {json.dumps(ASKER)}\nprotocol = "acp"\n'
        f'env = {{ FAKE_ACP_DIR = "{root / "acp-state"}" }}\n',
        encoding="utf-8",
    )
    return home


@dataclass
class Site:
    """The hosts, their processes and a client at the front."""

    lan: Lan
    root: Path
    db_url: str
    projects: dict[str, Path]
    client: HttpClient
    procs: dict[str, subprocess.Popen[bytes]]

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        """Start (again) worker ``name`` on its host: w1 serves project a, with gpu=yes;
        w2 serves projects a and b; w3 and w4 serve project c, each seeing its own clone
        there, and run Claude Code against the fake model on the ``model`` host."""
        roots = [str(self.projects["a"])] + ([str(self.projects["b"])] if name == "w2" else [])
        env = {
            **os.environ,
            "AGENTDECK_HOME": str(_home(self.root, f"home-{name}")),
            "AGENTDECK_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT),
        }
        env.pop("AGENTDECK_ROOTS", None)
        binds: dict[Path, Path] = {}
        if name in CLAUDE_WORKERS:
            roots = [str(self.projects["c"])]
            binds = {self.projects["c"]: self.root / f"checkout-{name}"}
            model = f"http://{self.lan.addresses['model']}:{MODEL_PORT}"
            env.update(offline_claude_env(self.root / f"claude-{name}", model))
        argv = [sys.executable, "-m", "agentdeck", "worker", "--database-url", self.db_url,
                "--name", name, "--max-running", str(CAPACITY.get(name, 1)),
                *[arg for root in roots for arg in ("--roots", root)],
                "--labels", "gpu=yes" if name == "w1" else "gpu=no"]  # fmt: skip
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            self.lan.on(name, argv, binds), env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.procs[name] = proc
        return proc

    def live(self, *names: str) -> None:
        seen: list[Any] = []

        def up() -> bool:
            seen[:] = self.client.call("GET", "/api/workers")["workers"]
            return set(names) <= {w["name"] for w in seen if w["state"] == "alive"}

        _deadline(up, 60, lambda: f"workers {names} alive at the front (listed: {seen})")

    def create(self, instructions: str, **fields: Any) -> dict[str, Any]:
        body = {"title": instructions[:40], "instructions": instructions, **fields}
        body.setdefault("project_path", str(self.projects["a"]))
        task: dict[str, Any] = self.client.call("POST", "/api/tasks", body)
        return task

    def task(self, task_id: str) -> dict[str, Any]:
        task: dict[str, Any] = self.client.call("GET", f"/api/tasks/{task_id}")
        return task

    def until_status(self, task_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        found: dict[str, Any] = _deadline(
            lambda: (t := self.task(task_id))["status"] in statuses and t,
            timeout,
            f"task {task_id} in {statuses}",
        )
        return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def _database(net: Lan, root: Path) -> Iterator[Cluster]:
    cluster = start_cluster(
        listen=net.addresses["db"], wrap=tuple(net.on("db", [])), trust=net.subnet
    )
    try:
        yield cluster
    finally:
        cluster.stop()


def _front(net: Lan, root: Path, db_url: str, projects: dict[str, Path]) -> tuple[Any, str]:
    address = net.addresses["front"]
    extra = f'\n[http]\nallowed_hosts = ["{address}:{PORT}"]\n'
    env = {
        **os.environ,
        "AGENTDECK_HOME": str(_home(root, "home-front", extra)),
        "AGENTDECK_DATABASE_URL": db_url,
        "AGENTDECK_DISPATCH": "workers",
        "AGENTDECK_ROOTS": os.pathsep.join(str(p) for p in projects.values()),
        "AGENTDECK_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT),
    }
    made = subprocess.run(
        net.on("front", [sys.executable, "-m", "agentdeck", "token", "create",
                         "--name", "tests", "--scope", "admin"]),
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    token = made.stdout.strip().splitlines()[-1]
    log = (root / "front.log").open("ab")
    proc = subprocess.Popen(
        net.on("front", [sys.executable, "-m", "agentdeck", "serve", "--host", address,
                         "--port", str(PORT)]),
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    return proc, token


def _checkouts(root: Path) -> Path:
    """Project c: a bare ``origin`` and clones of it, the front's at the project's path
    and one for each Claude worker (bound there on its host)."""
    seed = root / "seed"
    seed.mkdir()
    init_repo(seed)
    origin = root / "origin.git"
    git(root, "clone", "-q", "--bare", str(seed), str(origin))
    for clone in ("project-c", *(f"checkout-{name}" for name in CLAUDE_WORKERS)):
        git(root, "clone", "-q", str(origin), str(root / clone))
    return root / "project-c"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("netns")
    projects = {name: root / f"project-{name}" for name in ("a", "b")}
    for path in projects.values():
        path.mkdir()
    projects["c"] = _checkouts(root)
    with ExitStack() as stack:
        hosts = ["db", "front", "w1", "w2", *CLAUDE_WORKERS, "model", "client"]
        net = stack.enter_context(lan(hosts))
        cluster = stack.enter_context(_database(net, root))
        cluster.sql("CREATE DATABASE deck")
        db_url = cluster.url("deck")
        front, token = _front(net, root, db_url, projects)
        stack.callback(_stop, front)
        client = HttpClient(net, "client", f"http://{net.addresses['front']}:{PORT}", token)
        stack.callback(client.close)
        built = Site(net, root, db_url, projects, client, {"front": front})
        _deadline(lambda: _healthy(client), 60, "the front answers /health")
        for name in CAPACITY:
            built.worker(name)
        stack.callback(lambda: [_stop(p) for n, p in built.procs.items() if n != "front"])
        built.live("w1", "w2")
        yield built


def _healthy(client: HttpClient) -> bool:
    status, _ = client.request("GET", "/health")  # a front not up yet: a connection error
    return status == 200


def test_tasks_are_routed_by_labels_and_by_project_root(site: Site) -> None:
    gpu = site.create("0", labels={"gpu": "yes"})
    only_w2 = site.create("0", project_path=str(site.projects["b"]))
    assert site.until_status(gpu["id"], "waiting")["on_worker"] == "w1"
    assert site.until_status(only_w2["id"], "waiting")["on_worker"] == "w2"
    status, refused = site.client.request(
        "POST", "/api/tasks", {"title": "x", "instructions": "0", "labels": {"gpu": "maybe"}}
    )
    assert status == 400 and "no worker can run this task" in refused["error"]["message"]


def test_ten_tasks_spread_by_capacity(site: Site) -> None:
    tasks = [site.create("3") for _ in range(10)]
    peak = dict.fromkeys(CAPACITY, 0)

    def all_done() -> bool:
        for w in site.client.call("GET", "/api/workers")["workers"]:
            if w["name"] in CAPACITY:
                assert w["load"] <= CAPACITY[w["name"]], f"{w['name']} over its capacity: {w}"
                peak[w["name"]] = max(peak[w["name"]], w["load"])
        return all(site.task(t["id"])["status"] == "waiting" for t in tasks)

    _deadline(all_done, 90, "ten tasks done", every=0.2)
    assert peak == CAPACITY  # each worker was full at some point, none over
    ran_on = [site.task(t["id"])["on_worker"] for t in tasks]
    assert set(ran_on) == {"w1", "w2"}


def test_an_approval_answered_at_the_front_reaches_the_worker(site: Site) -> None:
    task = site.create("RUN yes.txt ran\nSAY done", agent="asker", policy="ask")
    site.until_status(task["id"], "input_required")
    [pending] = _deadline(
        lambda: [p for p in site.client.call("GET", "/api/pending")["pending"]
                 if p["task_id"] == task["id"]],
        10, "the decision listed at the front",
    )  # fmt: skip
    answered = site.client.call(
        "POST", f"/api/tasks/{task['id']}/respond", {"decision": "allow", "message": "go"}
    )
    assert answered["request_id"] == pending["request_id"]
    done = site.until_status(task["id"], "waiting")
    assert (Path(done["cwd"]) / "yes.txt").read_text() == "ran"


def test_cancel_reaches_the_remote_agent_within_two_seconds(site: Site) -> None:
    task = site.create("60")
    site.until_status(task["id"], "in_progress")
    _deadline(lambda: alive_members(None, marker=task["id"]), 15, "the agent running on its worker")
    started = time.monotonic()
    site.client.call("POST", f"/api/tasks/{task['id']}/cancel")
    _deadline(
        lambda: not alive_members(None, marker=task["id"]), 2, "no agent process left", every=0.02
    )
    assert time.monotonic() - started <= 2
    assert site.task(task["id"])["status"] == "cancelled"


def test_a_killed_worker_interrupts_its_task_which_resumes_when_it_is_back(site: Site) -> None:
    task = site.create("60", worker="w1")
    site.until_status(task["id"], "in_progress")
    _deadline(lambda: alive_members(None, marker=task["id"]), 15, "the agent running on w1")
    killed = time.monotonic()
    site.procs["w1"].kill()  # SIGKILL: no goodbye, no more heartbeats
    site.procs["w1"].wait()
    for orphan in alive_members(
        None, marker=task["id"]
    ):  # the agent it leaves (its host would die too)
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)
    cut = site.until_status(task["id"], "interrupted", timeout=HEARTBEAT_TIMEOUT + 5)
    assert time.monotonic() - killed <= HEARTBEAT_TIMEOUT + 5
    assert "worker w1" in cut["status_reason"]
    site.worker("w1")
    site.live("w1")
    site.client.call("POST", f"/api/tasks/{task['id']}/continue", {"instructions": "0"})
    back = site.until_status(task["id"], "waiting")
    assert back["on_worker"] == "w1" and "slept 0" in back["result_text"]


@contextmanager
def _fake_model(site: Site) -> Iterator[Path]:
    """The fake Anthropic API on the ``model`` host; yields its request log."""
    requests = site.root / "model-requests.jsonl"
    host = site.lan.addresses["model"]
    argv = [sys.executable, str(FAKES / "fake_anthropic.py"), "--host", host,
            "--port", str(MODEL_PORT), "--log", str(requests)]  # fmt: skip
    proc = subprocess.Popen(site.lan.on("model", argv), stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith(b"http://")
        yield requests
    finally:
        _stop(proc)


def _logged(requests: Path) -> list[dict[str, Any]]:
    if not requests.exists():
        return []
    entries = [json.loads(line) for line in requests.read_text().splitlines() if line]
    return [e for e in entries if e["kind"] == "main"]


def test_a_task_whose_worker_is_gone_goes_on_elsewhere_with_its_branch_and_conversation(
    site: Site,
) -> None:
    with _fake_model(site) as requests:
        site.worker("w3")
        site.live("w3")
        first = "WRITE notes.txt the word is zebra\nSAY noted"
        task = site.create(first, agent="claude", project_path=str(site.projects["c"]))
        noted = site.until_status(task["id"], "waiting", timeout=120)
        assert noted["on_worker"] == "w3" and noted["result_text"].startswith("noted")
        site.worker("w4")
        site.live("w4")
        # a second turn, held by the model, then w3 is gone for good (kill -9)
        site.client.call("POST", f"/api/tasks/{task['id']}/continue", {"instructions": "DELAY 600"})
        _deadline(
            lambda: any("DELAY 600" in FakeAnthropic.user_texts(e) for e in _logged(requests)),
            60, "the second turn at the model",
        )  # fmt: skip
        site.procs["w3"].kill()
        site.procs["w3"].wait()
        for orphan in alive_members(None, marker=task["id"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(orphan, signal.SIGKILL)
        site.until_status(task["id"], "interrupted", timeout=HEARTBEAT_TIMEOUT + 5)

        third = "BASH cat notes.txt"
        site.client.call("POST", f"/api/tasks/{task['id']}/continue", {"instructions": third})
        done = site.until_status(task["id"], "waiting", "failed", timeout=120)
    assert done["status"] == "waiting", done
    assert done["on_worker"] == "w4"
    # the branch came along: w4's own worktree has what the first turn wrote on w3
    assert Path(done["cwd"]).is_relative_to(site.root / "home-w4")
    assert "the word is zebra" in done["result_text"]
    # the conversation came along: the model saw the first turn on w4
    [last] = [e for e in _logged(requests) if third in FakeAnthropic.user_texts(e)][-1:]
    assert first in FakeAnthropic.user_texts(last)
    assert not (site.root / "claude-w4" / "claude" / "projects").exists() or not any(
        (site.root / "claude-w4" / "claude" / "projects").rglob(f"{noted['session_id']}.jsonl")
    )  # w4 never had the session on its disk: it came from the shared store
