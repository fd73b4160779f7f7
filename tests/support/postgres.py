"""A private PostgreSQL cluster for the tests (Debian's packages), one per session.

``postgres`` (session): initdb in a temp dir and ``pg_ctl start`` on a unix socket dir
and a free 127.0.0.1 port, as ``nobody`` when the tests run as root (PostgreSQL refuses
to run as root). ``postgres_url`` (per test): a fresh database, dropped afterwards.

Where PostgreSQL is missing the tests that need it skip; under ``CI=true`` they fail
(``make test`` installs Debian's ``postgresql``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from . import requires  # relative: benchmarks import this module as tests.support.postgres


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running private cluster: superuser ``postgres``, trust auth."""

    bindir: Path
    root: Path
    host: str
    port: int
    user: str | None  # the OS user it runs as (None: the current one)
    wrap: tuple[str, ...] = ()  # put before its commands (e.g. into a network namespace)

    def url(self, dbname: str = "postgres", host: str | None = None) -> str:
        """A URL over TCP to ``host`` (default: where it listens); the tests' own
        statements go through its unix socket, which every namespace reaches."""
        host = host or self.host
        if host.startswith("/"):
            return f"postgresql://postgres@/{dbname}?host={host}&port={self.port}"
        return f"postgresql://postgres@{host}:{self.port}/{dbname}"

    def _as_user(self, argv: list[str]) -> list[str]:
        user = ["runuser", "-u", self.user, "--"] if self.user else []
        return [*self.wrap, *user, *argv]

    def sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url(host=str(self.root)), autocommit=True) as db:
            db.execute(statement.encode())

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        subprocess.run(
            self._as_user([str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                           "immediate", "stop"]),
            capture_output=True,
            check=False,
        )  # fmt: skip


class Unavailable(RuntimeError):
    """PostgreSQL is not installed, or cannot be started on this machine."""


def missing(reason: str) -> NoReturn:
    """Skip, or fail under CI=true: a missing PostgreSQL is never a silent pass there."""
    requires.missing(reason, "make test installs Debian's postgresql")


def start_cluster(
    listen: str = "127.0.0.1", wrap: tuple[str, ...] = (), trust: str | None = None
) -> Cluster:
    """`launch_cluster` for a test: skips (fails under CI=true) where PostgreSQL is
    missing, fails where it does not start."""
    try:
        return launch_cluster(listen, wrap, trust)
    except Unavailable as exc:
        missing(str(exc))
    except RuntimeError as exc:
        pytest.fail(str(exc))


def launch_cluster(
    listen: str = "127.0.0.1", wrap: tuple[str, ...] = (), trust: str | None = None
) -> Cluster:
    """initdb + pg_ctl start in a new temp dir; `Cluster.stop` ends it. ``wrap`` goes
    before the server's command (e.g. ``ip netns exec NS``); clients from the network
    ``trust`` (a CIDR) may connect too. Raises `Unavailable`, or RuntimeError when
    initdb or the start fails (benchmarks use it too: no pytest outcomes here)."""
    bindir = _bindir()
    if bindir is None:
        raise Unavailable("PostgreSQL (initdb, pg_ctl) is not installed")
    user: str | None = None
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise Unavailable("running as root without runuser: PostgreSQL cannot be started")
        user = "nobody"
    root = Path(tempfile.mkdtemp(prefix="agentdeck-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(bindir, root, listen, _free_port(), user)
    initdb = [str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
              "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]  # fmt: skip
    done = subprocess.run(cluster._as_user(initdb), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
    if trust:
        with (root / "data" / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {trust} trust\n")
    cluster.wrap = wrap
    options = (
        f"-k {root} -p {cluster.port} -h {listen} -c fsync=off -c synchronous_commit=off"
        " -c full_page_writes=off -c max_connections=200"
    )
    start = [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w",
             "-t", "60", "-o", options, "start"]  # fmt: skip
    done = subprocess.run(cluster._as_user(start), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {done.stderr[-1000:]} {log[-2000:]}")
    return cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres: Cluster) -> Iterator[str]:
    """A fresh, empty database of the session's cluster, dropped after the test."""
    name = postgres.create_database()
    try:
        yield postgres.url(name)
    finally:
        with contextlib.suppress(Exception):
            postgres.drop_database(name)
