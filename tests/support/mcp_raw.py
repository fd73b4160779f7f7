"""A raw-HTTP JSON-RPC client for MCP 2026-07-28 and the Tasks extension.

Written from the specifications' examples only (the 2026-07-28 transport: one POST
per request, ``MCP-Protocol-Version`` / ``Mcp-Method`` / ``Mcp-Name`` headers, the
protocol version and client capabilities in each request's ``_meta``; and
ext-tasks ``specification/draft/tasks.md``), never from agentdeck's code, so the
server is checked against what a client author would write.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2

VERSION = "2026-07-28"
TASKS = "io.modelcontextprotocol/tasks"
_ids = itertools.count(1)


def _messages(body: str) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a ``text/event-stream`` body (its ``data:`` lines)."""
    out: list[dict[str, Any]] = []
    data: list[str] = []
    for line in [*body.splitlines(), ""]:
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line and data:
            out.append(json.loads("\n".join(data)))
            data = []
    return out


class RawMcp:
    """One client identity (``token``), speaking plain JSON-RPC over HTTP."""

    def __init__(self, url: str, token: str | None = None, *, tasks: bool = True) -> None:
        self.url = url
        self.tasks = tasks
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx2.AsyncClient(headers=headers, timeout=60)

    async def aclose(self) -> None:
        await self.http.aclose()

    def _meta(self, *, tasks: bool | None = None, elicitation: bool = False) -> dict[str, Any]:
        capabilities: dict[str, Any] = {}
        if self.tasks if tasks is None else tasks:
            capabilities["extensions"] = {TASKS: {}}
        if elicitation:
            capabilities["elicitation"] = {"form": {}}
        return {
            "io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": capabilities,
            "io.modelcontextprotocol/clientInfo": {"name": "raw-spec-client", "version": "0"},
        }

    def _frame(
        self, method: str, params: dict[str, Any], **meta: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        body = {
            "jsonrpc": "2.0",
            "id": next(_ids),
            "method": method,
            "params": {**params, "_meta": self._meta(**meta)},
        }
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": VERSION,
            "Mcp-Method": method,
        }
        name = params.get("taskId") or params.get("name") or params.get("uri")
        if isinstance(name, str):
            headers["Mcp-Name"] = name
        return body, headers

    async def request(self, method: str, params: dict[str, Any], **meta: Any) -> dict[str, Any]:
        """The JSON-RPC response (``result`` or ``error``) to one request."""
        body, headers = self._frame(method, params, **meta)
        response = await self.http.post(self.url, json=body, headers=headers)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            found = [m for m in _messages(response.text) if m.get("id") == body["id"]]
            assert found, response.text
            return found[-1]
        return dict(response.json())

    async def result(self, method: str, params: dict[str, Any], **meta: Any) -> dict[str, Any]:
        answer = await self.request(method, params, **meta)
        assert "result" in answer, answer
        return dict(answer["result"])

    async def call(self, tool: str, arguments: dict[str, Any], **meta: Any) -> dict[str, Any]:
        return await self.result("tools/call", {"name": tool, "arguments": arguments}, **meta)

    async def get(self, task_id: str) -> dict[str, Any]:
        return await self.result("tasks/get", {"taskId": task_id})

    async def poll(
        self, task_id: str, statuses: set[str], timeout: float = 60, interval: float = 0.05
    ) -> dict[str, Any]:
        """``tasks/get`` until the status is one of ``statuses`` (faster than the
        server's ``pollIntervalMs``: tests have deadlines)."""
        with anyio.fail_after(timeout):
            while True:
                task = await self.get(task_id)
                if task["status"] in statuses:
                    return task
                await anyio.sleep(interval)

    @asynccontextmanager
    async def listen(self, notifications: dict[str, Any]) -> AsyncIterator[Listening]:
        """``subscriptions/listen``: the response stream, message by message."""
        body, headers = self._frame("subscriptions/listen", {"notifications": notifications})
        async with self.http.stream("POST", self.url, json=body, headers=headers) as response:
            yield Listening(response)


class Listening:
    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.status = response.status_code
        self.content_type = response.headers.get("content-type", "")

    async def body(self) -> dict[str, Any]:
        """The whole (non-stream) answer, e.g. an error."""
        return dict(json.loads(await self.response.aread()))

    async def next(self, timeout: float = 30) -> dict[str, Any]:
        """The next message on the stream (a JSON answer, e.g. an error, is the one)."""
        if self.content_type.startswith("application/json"):
            return await self.body()
        data: list[str] = []
        with anyio.fail_after(timeout):
            async for line in self._lines:
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    return dict(json.loads("\n".join(data)))
        raise AssertionError("the stream ended")
