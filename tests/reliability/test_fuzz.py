"""Fuzzing ``/mcp`` and ``/api`` with Hypothesis-made requests: no 5xx, no hang, and every
refusal a JSON (JSON-RPC on ``/mcp``) error.

CI runs a few hundred requests; ``AGENTDECK_SOAK=1`` (``make soak``) runs 10,000.
The app runs in process on a real core (fake agent), served through a blocking portal.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentdeck.agents.testing import FakeAgent
from agentdeck.app import Deck, build_app
from agentdeck.config import load_settings

SOAK = os.environ.get("AGENTDECK_SOAK") == "1"
MCP_EXAMPLES = 6_000 if SOAK else 250
API_EXAMPLES = 4_000 if SOAK else 150
ANSWERS: Counter[str] = Counter()  # "<face> <status>xx" over every fuzzed request
REQUEST_DEADLINE = 15.0  # seconds: a request that takes longer is a hang

TOOLS = [
    "create_task", "update_task", "end_task", "cancel_task", "respond_task", "report",
    "report_task", "check_status", "clean_state", "get_prompt", "update_stats",
    "merge_task", "discard_task", "task_diff", "nope",
]  # fmt: skip
METHODS = [
    "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/read",
    "resources/templates/list", "prompts/list", "prompts/get", "completion/complete",
    "resources/subscribe", "server/discover", "logging/setLevel", "nope/nope", "",
]  # fmt: skip
URIS = ["agent://status", "agent://tasks", "task://t-000000000000", "task://x/events?after=-1"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.text(min_size=5_000, max_size=20_000, alphabet="aé✓\u0000\ud7ff"),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mcp_params(draw: st.DrawFn, method: str) -> Any:
    if method == "tools/call":
        return {"name": draw(st.sampled_from(TOOLS)), "arguments": draw(json_values)}
    if method == "resources/read":
        return {"uri": draw(st.sampled_from(URIS) | st.text(max_size=60))}
    return draw(json_values)


@st.composite
def mcp_requests(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    modern = draw(st.booleans())
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if modern:
        headers["MCP-Protocol-Version"] = "2026-07-28"
    kind = draw(st.sampled_from(["request", "request", "request", "batch", "scalar", "bytes"]))
    if kind == "bytes":
        return headers, draw(st.binary(max_size=200))
    if kind == "scalar":
        return headers, json.dumps(draw(json_values)).encode()
    method = draw(st.sampled_from(METHODS) | st.text(max_size=30))
    message: dict[str, Any] = {
        "jsonrpc": draw(st.sampled_from(["2.0", "2.0", "1.0"])),
        "method": method,
    }
    message["id"] = draw(st.integers(0, 10**6) | st.text(max_size=10) | st.none())
    params = draw(mcp_params(method))
    if modern and isinstance(params, dict):
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    if draw(st.booleans()):
        message["params"] = params
    if modern:
        headers["Mcp-Method"] = method.encode("ascii", "replace").decode()[:64] or "x"
    body = [message] if kind == "batch" else message
    return headers, json.dumps(body).encode()


@st.composite
def api_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    task = draw(
        st.sampled_from(["t-000000000000", "%00", "x" * 300])
        | st.text(max_size=20).map(lambda t: quote(t, safe=""))
    )
    path = draw(
        st.sampled_from(
            ["/api/tasks", f"/api/tasks/{task}", f"/api/tasks/{task}/respond", "/api/pending"]
        )
        | st.text(max_size=30).map(lambda t: "/api/" + quote(t, safe="/"))
    )
    query = draw(st.sampled_from(["", "?limit=0", "?limit=-5", "?cursor=%%%", "?status=nope"]))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "text/plain"]))}
    body = draw(st.binary(max_size=100) | json_values.map(lambda v: json.dumps(v).encode()))
    return method, path + query, headers, body


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[BlockingPortal, httpx2.AsyncClient]]:
    base = tmp_path_factory.mktemp("fuzz")
    project = base / "project"
    project.mkdir()
    env = {
        "HOME": str(base / "home"),
        "AGENTDECK_HOME": str(base / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_DEFAULT_AGENT": "fake",
        "AGENTDECK_APPROVAL_POLICY": "bypass",
    }
    deck = Deck(load_settings(env=env), agents={"fake": FakeAgent()})
    app = build_app(deck)
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(_lifespan(deck)):
        transport = httpx2.ASGITransport(app=app, client=("127.0.0.1", 4321))
        client = portal.call(lambda: _client(transport, deck.settings.port))
        yield portal, client
        portal.call(client.aclose)


async def _client(transport: httpx2.ASGITransport, port: int) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}", timeout=30)


def _lifespan(deck: Deck) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def both() -> Any:
        async with deck.running(), deck.mcp.session_manager.run():
            yield

    return both()


def _send(
    portal: BlockingPortal,
    client: httpx2.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
) -> httpx2.Response:
    async def go() -> httpx2.Response:
        with anyio.fail_after(REQUEST_DEADLINE):
            return await client.request(method, url, headers=headers, content=body)

    return portal.call(go)


def _json_bodies(response: httpx2.Response) -> list[Any]:
    """The JSON documents of a response: its body, or each SSE ``data:`` line."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [ln[5:].strip() for ln in response.text.splitlines() if ln.startswith("data:")]
        return [json.loads(ln) for ln in lines if ln]
    return [json.loads(response.content)] if response.content else []


@settings(
    max_examples=MCP_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
@given(request=mcp_requests())
def test_mcp_never_fails_with_a_5xx_or_a_non_json_error(
    served: tuple[BlockingPortal, httpx2.AsyncClient], request: tuple[dict[str, str], bytes]
) -> None:
    portal, client = served
    headers, body = request
    response = _send(portal, client, "POST", "/mcp", headers, body)
    ANSWERS[f"/mcp {response.status_code // 100}xx"] += 1
    assert response.status_code < 500, response.text
    for document in _json_bodies(response):
        assert isinstance(document, dict | list)
    if response.status_code >= 400:
        (document,) = _json_bodies(response)
        assert document["jsonrpc"] == "2.0" and document["error"]["message"]


@settings(
    max_examples=API_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
@given(request=api_requests())
def test_api_never_fails_with_a_5xx_or_a_non_json_error(
    served: tuple[BlockingPortal, httpx2.AsyncClient],
    request: tuple[str, str, dict[str, str], bytes],
) -> None:
    portal, client = served
    method, url, headers, body = request
    response = _send(portal, client, method, url, headers, body)
    ANSWERS[f"/api {response.status_code // 100}xx"] += 1
    assert response.status_code < 500, response.text
    if 300 <= response.status_code < 400:  # e.g. a trailing slash: redirected, not refused
        assert response.headers["location"]
        return
    assert response.headers["content-type"].startswith("application/json"), response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["type"] and error["message"]


def test_the_fuzzed_server_still_works(
    served: tuple[BlockingPortal, httpx2.AsyncClient],
    tmp_path: Path,
    figures: Callable[[str], None],
) -> None:
    portal, client = served
    assert _send(portal, client, "GET", "/health", {}, b"").json()["status"] == "ok"
    answers = ", ".join(f"{k}: {n:,}" for k, n in sorted(ANSWERS.items()))
    figures(f"{sum(ANSWERS.values()):,} fuzzed requests, no 5xx, every error JSON ({answers})")
