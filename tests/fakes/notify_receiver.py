"""A fake notification endpoint (stdlib only): records every POST's JSON body.

Apprise's ``json://127.0.0.1:<port>/<path>`` and ``ntfy://127.0.0.1:<port>/<topic>``
URLs post here::

    with NotifyReceiver(fail_first=2) as rx:   # the first 2 requests get a 500
        url = rx.url("json", "hook")
        ...
        rx.received  # [Received(path, body, status, headers), ...] in arrival order
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    body: Any
    status: int  # what the receiver answered
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased


class NotifyReceiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[Received] = []  # every request, answered 500 or 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with receiver._lock:
                    status = 500 if receiver.fail_first > 0 else 200
                    receiver.fail_first -= status == 500
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.requests.append(Received(self.path, body, status, headers))
                reply = b'{"ok": true}' if status == 200 else b'{"error": "failing on purpose"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, scheme: str = "json", path: str = "hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    @property
    def received(self) -> list[Received]:
        """The requests that were accepted (answered 200)."""
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    def __enter__(self) -> NotifyReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
