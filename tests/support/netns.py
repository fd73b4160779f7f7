"""Hosts of their own on one machine: network namespaces on a bridge, made by the tests.

`lan(names)` makes one namespace per host, each with an ``eth0`` (a veth) on a bridge
that lives in a namespace of its own, so the hosts reach each other only across real
interfaces, at addresses of a private /24 that exists only inside these namespaces.
`Lan.on(host, argv)` runs a command on a host (with ``binds``, seeing a directory of its
own at a shared path, as a machine with its own checkout would). `HttpClient` is an HTTP
client process on a host, driven line by line (tests/support/http_driver.py). Needs root and
iproute2's ``ip``; where they are missing the tests skip, under ``CI=true`` they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.requires import missing

DRIVER = Path(__file__).with_name("http_driver.py")
BIND_EXEC = Path(__file__).with_name("bind_exec.py")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Lan:
    """Namespaces named ``<prefix>-<host>`` on one bridge; ``addresses`` by host."""

    prefix: str
    addresses: dict[str, str] = field(default_factory=dict)
    subnet: str = ""

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def on(self, host: str, argv: list[str], binds: dict[Path, Path] | None = None) -> list[str]:
        """``argv`` run inside ``host``'s namespace; with ``binds`` (path → what the host
        sees there), in a mount namespace of its own too."""
        if binds:
            pairs = [str(p) for dst, src in binds.items() for p in (src, dst)]
            mounts = ["unshare", "--mount", "--propagation", "private", "--", sys.executable,
                      str(BIND_EXEC), *pairs, "--"]  # fmt: skip
            argv = [*mounts, *argv]
        return ["ip", "netns", "exec", self.ns(host), *argv]


@contextmanager
def lan(names: list[str]) -> Iterator[Lan]:
    """A LAN of ``names`` (each gets ``10.N.M.i``), removed afterwards."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        missing("network namespaces need root and iproute2's ip", "run the tests as root")
    prefix = f"ad{secrets.token_hex(2)}"
    net = f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}"
    made = Lan(prefix, subnet=f"{net}.0/24")
    switch = f"{prefix}-lan"
    spaces = [switch]
    try:
        _ip("netns", "add", switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for i, host in enumerate(names, start=1):
            ns, port = made.ns(host), f"{prefix}p{i}"
            _ip("netns", "add", ns)
            spaces.append(ns)
            _ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", port, "netns", switch)
            _ip("-n", switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{net}.{i}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            made.addresses[host] = f"{net}.{i}"
        yield made
    finally:
        for ns in reversed(spaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


class HttpClient:
    """An HTTP client living on one host of a `Lan` (one process, a request per line)."""

    def __init__(self, lan: Lan, host: str, base: str, token: str) -> None:
        argv = lan.on(host, [sys.executable, str(DRIVER), base, token])
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer of ``method path``; fails the test on a non-2xx status."""
        status, answer = self.request(method, path, body)
        assert 200 <= status < 300, f"{method} {path}: {status} {answer}"
        return answer

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"method": method, "path": path, "json": body}) + "\n")
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the HTTP client on the LAN exited")
        reply = json.loads(line)
        return int(reply["status"]), reply["body"]

    def close(self) -> None:
        if self._proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
