"""A running agentdeck for the browser tests: its base URL, the deck, a REST client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from support.servers import Running
from support.waiting import POLL

TURN = 90.0  # seconds for a turn of the real CLI on the fake model (a loaded machine)
UI_MS = 30_000  # milliseconds for the page to show something the server already has


@dataclass
class Deck:
    """agentdeck serving the dashboard at ``base``, and a REST client to set up and check."""

    base: str
    srv: Running
    http: httpx2.AsyncClient

    async def create(self, title: str, instructions: str, **fields: Any) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.base}/api/tasks", json={"title": title, "instructions": instructions, **fields}
        )
        assert response.status_code == 201, response.text
        task: dict[str, Any] = response.json()
        return task

    async def task(self, task_id: str) -> dict[str, Any]:
        response = await self.http.get(f"{self.base}/api/tasks/{task_id}")
        assert response.status_code == 200, response.text
        task: dict[str, Any] = response.json()
        return task

    async def wait_status(
        self, task_id: str, *statuses: str, timeout: float = TURN
    ) -> dict[str, Any]:
        """The task once its status is one of ``statuses`` (polled under a deadline)."""
        with anyio.fail_after(timeout):
            while (task := await self.task(task_id))["status"] not in statuses:
                await anyio.sleep(POLL)
        return task

    async def events(self, task_id: str) -> list[dict[str, Any]]:
        """Every event of the task, from the store."""
        out: list[dict[str, Any]] = []
        after = 0
        while True:
            response = await self.http.get(
                f"{self.base}/api/tasks/{task_id}/events", params={"after": after}
            )
            assert response.status_code == 200, response.text
            page = response.json()
            out += page["events"]
            after = page["last_seq"]
            if not page["more"]:
                return out
