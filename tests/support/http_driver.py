"""An HTTP client process for tests/support/netns.py: ``http_driver.py BASE TOKEN``.

Reads one request per stdin line, ``{"method", "path", "json"}``, sends it to
``BASE + path`` with ``Authorization: Bearer TOKEN``, and writes one line back:
``{"status", "body"}`` (the body parsed as JSON, else its text). Ends at end of input.
"""

from __future__ import annotations

import json
import sys

import httpx2 as httpx


def main() -> None:
    base, token = sys.argv[1], sys.argv[2]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for line in sys.stdin:
            ask = json.loads(line)
            try:
                reply = client.request(ask["method"], ask["path"], json=ask.get("json"))
            except httpx.TransportError as exc:  # e.g. not listening yet
                sys.stdout.write(json.dumps({"status": 0, "body": str(exc)}) + "\n")
                sys.stdout.flush()
                continue
            try:
                body = reply.json()
            except ValueError:
                body = reply.text
            sys.stdout.write(json.dumps({"status": reply.status_code, "body": body}) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
