"""Schemathesis against the live ``/api/openapi.json``, with a ``write`` token: for every
operation the document describes, generated requests (valid and invalid) get no 5xx,
and every response conforms to the document (status code, content type, body schema).

A real server on a loopback port (in a thread of its own: Schemathesis calls it
synchronously), on the in-memory fake agent only, so a generated ``POST /api/tasks``
runs no process. Bounded: `EXAMPLES` per operation (``AGENTDECK_SOAK=1``: 200), a
fixed seed in CI so a run is reproducible, and a deadline per operation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from agentdeck.agents.testing import FakeAgent
from agentdeck.auth import create_token
from agentdeck.config import Settings, load_settings
from agentdeck.core import Core
from agentdeck.model import TaskStatus
from agentdeck.store import SqliteStore
from support.core import create, task_in
from support.servers import serve

try:
    import hypothesis
    import hypothesis.errors
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.result import Ok
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )
except ImportError:  # a failure under CI=true, never a skip
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("Schemathesis is not installed: pip install -e '.[test]'", allow_module_level=True)

SOAK = os.environ.get("AGENTDECK_SOAK") == "1"
EXAMPLES = 200 if SOAK else 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Operations that are not request/response (the event stream never ends) or that would
# change more than the state this test owns. Each is tested on its own elsewhere.
SKIP = {
    ("GET", "/api/events"),  # tests/integration/test_sse.py
}
REQUEST_TIMEOUT = 20
pytestmark = pytest.mark.timeout(900 if SOAK else 420)  # every operation, in one test


@dataclass
class Live:
    """The running server: its API's base URL, a write token, and a way to make a task."""

    base: str
    secret: str
    portal: BlockingPortal
    core: Core

    def task(self) -> str:
        """A fresh task (its first turn done: ``waiting``), for the operations on one."""

        async def make() -> str:
            task = await create(self.core, "fuzzed", "hello", isolation="none")
            return (await task_in(self.core, task.id, TaskStatus.WAITING)).id

        return self.portal.call(make)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The server, for the module."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    project = tmp / "project"
    project.mkdir()
    (project / "sub").mkdir()
    settings: Settings = load_settings(
        env={
            "HOME": str(tmp / "home"),
            "AGENTDECK_HOME": str(tmp / "state"),
            "AGENTDECK_ROOTS": str(project),
            "AGENTDECK_DEFAULT_AGENT": "fake",
            "AGENTDECK_APPROVAL_POLICY": "bypass",
        }
    )

    async def token() -> str:
        store = SqliteStore(settings.db_path)
        try:
            secret, _ = await create_token(store, "schemathesis", "write")
            return secret
        finally:
            store.close()

    secret = anyio.run(token)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(settings, {"fake": FakeAgent()})) as srv,
    ):
        yield Live(srv.url.removesuffix("/mcp"), secret, portal, srv.deck.core)


@pytest.fixture(scope="module")
def api_schema(live: Live) -> schemathesis.BaseSchema:
    secret = live.secret
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {secret}"},
            "request-timeout": REQUEST_TIMEOUT,
            "generation": {"max-examples": EXAMPLES},
            **({} if SOAK else {"seed": 20261202}),
        }
    )
    schema: schemathesis.BaseSchema = schemathesis.openapi.from_url(
        f"{live.base}/api/openapi.json",
        config=config,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=REQUEST_TIMEOUT,
    )
    for method, path in SKIP:
        schema = schema.exclude(method=method, path=path)
    return schema


SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not SOAK,  # CI: the same requests every run
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
)


def test_the_api_keeps_its_openapi_document(
    api_schema: schemathesis.BaseSchema, live: Live, subtests: pytest.Subtests
) -> None:
    """Each operation with valid requests, then invalid ones, then (for the operations on
    one task) valid requests on a real task rather than a made-up id: one subtest each."""
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation the document gets wrong: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 10, [f"{o.method} {o.path}" for o in operations]
    for operation in operations:
        runs: list[tuple[str, GenerationMode, dict[str, str] | None]] = [
            ("valid", GenerationMode.POSITIVE, None),
            ("invalid", GenerationMode.NEGATIVE, None),
        ]
        if "{id}" in operation.path:
            runs.append(("on a real task", GenerationMode.POSITIVE, {"id": live.task()}))
        for name, mode, path_parameters in runs:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

            @SETTINGS
            @hypothesis.given(case=strategy)
            def check(case: Any) -> None:
                case.call_and_validate(
                    base_url=live.base,
                    headers={"Authorization": f"Bearer {live.secret}"},
                    checks=CHECKS,
                    timeout=REQUEST_TIMEOUT,
                )

            with subtests.test(msg=f"{operation.method.upper()} {operation.path}: {name}"):
                try:
                    check()
                except hypothesis.errors.Unsatisfiable:
                    assert mode == GenerationMode.NEGATIVE
                    pytest.skip("no parameters and no body: nothing invalid to send")


def test_the_document_is_served_and_names_the_api(live: Live) -> None:
    response = httpx2.get(f"{live.base}/api/openapi.json", timeout=REQUEST_TIMEOUT)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = set(document["paths"])
    assert {"/api/tasks", "/api/tasks/{id}", "/api/events"} <= paths, sorted(paths)
