"""Why handshake-era (2025-11-25) clients get no in-core tasks: the SDK cannot carry them.

Its types hold the revision's task models, but its method tables leave ``tasks/*`` out
and every ``tools/call`` result of that era is validated as a ``CallToolResult``, so no
tool or interceptor can answer a ``CreateTaskResult`` (docs/mcp-tasks.md). This pins
that attempt against the pinned SDK: when it starts to carry them, this fails, and
serving them becomes possible.
"""

from __future__ import annotations

import mcp_types
import pytest
from mcp_types.methods import CLIENT_REQUESTS, serialize_server_result
from pydantic import ValidationError

ERA = "2025-11-25"


def test_the_types_hold_the_revision_s_task_models() -> None:
    task = {
        "taskId": "t-1",
        "status": "working",
        "createdAt": "2026-12-04T00:00:00Z",
        "lastUpdatedAt": "2026-12-04T00:00:00Z",
        "ttl": 60_000,
    }
    assert mcp_types.CreateTaskResult.model_validate({"task": task}).task.task_id == "t-1"


@pytest.mark.parametrize("method", ["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"])
def test_the_method_table_of_the_era_has_no_tasks_methods(method: str) -> None:
    assert (method, ERA) not in CLIENT_REQUESTS


def test_a_tools_call_answer_of_the_era_cannot_be_a_task() -> None:
    created = {
        "task": {
            "taskId": "t-1",
            "status": "working",
            "createdAt": "2026-12-04T00:00:00Z",
            "lastUpdatedAt": "2026-12-04T00:00:00Z",
            "ttl": 60_000,
        }
    }
    with pytest.raises(ValidationError, match="content"):
        serialize_server_result("tools/call", ERA, created)
