"""Shared plumbing of the fake model servers (stdlib only).

A `FakeModelServer` runs a `ThreadingHTTPServer` on 127.0.0.1 (port 0 by
default) in a daemon thread, logs one JSON line per request (``requests`` in
memory and, optionally, a ``.jsonl`` file), and lets tests wait on the log.
Subclasses provide the request handler. The directive language (WRITE, BASH,
DELAY, ERROR, SAY) and its parser are the ones of `fakes.fake_anthropic`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:
    from fakes.fake_anthropic import Plan, Step, digest, parse_directives
except ImportError:  # run as a script: python tests/fakes/fake_openai.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from fakes.fake_anthropic import Plan, Step, digest, parse_directives

__all__ = [
    "FakeHandler",
    "FakeModelServer",
    "Plan",
    "Step",
    "digest",
    "new_id",
    "parse_directives",
]


def new_id(prefix: str) -> str:
    return f"{prefix}_fake{uuid.uuid4().hex[:20]}"


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    @property
    def fake(self) -> FakeModelServer:
        return self.server.fake

    def read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, raw.decode("utf-8", "replace")

    def send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_sse(self, chunks: list[str]) -> None:
        """Each chunk is one complete SSE frame (``event: ..\\ndata: ..\\n\\n``)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            payload = chunk.encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def record(self, body: Any, kind: str, reply: dict[str, Any]) -> None:
        url = urlsplit(self.path)
        self.fake.record(
            {
                "ts": time.time(),
                "method": self.command,
                "path": url.path,
                "query": url.query,
                "user_agent": self.headers.get("user-agent"),
                "kind": kind,
                "body": body,
                "reply": reply,
            }
        )

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False when the server is stopping meanwhile."""
        return not (seconds > 0 and self.fake.stopping.wait(seconds))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeModelServer


class FakeModelServer:
    """Threaded fake model API; subclasses set ``handler`` and ``name``."""

    handler: type[FakeHandler] = FakeHandler
    name = "fake-model"
    digest = staticmethod(digest)

    def __init__(
        self, log_path: str | Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.log_path = Path(log_path) if log_path else None
        self.host, self.port = host, port
        self.requests: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeModelServer:
        self.stopping.clear()
        self._server = _Server((self.host, self.port), self.handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def record(self, entry: dict[str, Any]) -> None:
        with self._cond:
            self.requests.append(entry)
            if self.log_path:
                with self.log_path.open("a") as f:
                    f.write(json.dumps(entry) + "\n")
            self._cond.notify_all()

    def main_requests(self) -> list[dict[str, Any]]:
        """The agent's model calls (not side calls such as titles or routing)."""
        with self._cond:
            return [r for r in self.requests if r["kind"] == "main"]

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 30.0) -> bool:
        """Block until ``predicate(self)`` is true (re-checked on every request)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout=timeout)


def serve_main(cls: type[FakeModelServer], doc: str, argv: list[str] | None = None) -> int:
    """``python fake_x.py --port 0 --log requests.jsonl``: print the base URL, serve."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None, help="append one JSON line per request here")
    args = ap.parse_args(argv)
    fake = cls(log_path=args.log, host=args.host, port=args.port).start()
    print(fake.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0
