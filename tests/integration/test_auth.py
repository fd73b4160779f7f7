"""Tokens, scopes, audit and redaction, over real HTTP (docs/security.md)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agentdeck.auth import check_binding, create_token, list_tokens, reachable_urls, revoke_token
from agentdeck.auth.tokens import token_hash
from agentdeck.config import Settings
from agentdeck.errors import ConfigError
from agentdeck.mcp.resources import FORBIDDEN, RESOURCE_SCOPES
from agentdeck.mcp.tooling import SCOPE_META
from agentdeck.store import SqliteStore
from support.core import events_of
from support.servers import read_json, serve, wait_status

pytestmark = pytest.mark.anyio

RANK = {"read": 0, "write": 1, "admin": 2}
# What users rely on: the scope each tool needs (each tool's _meta says so too).
TOOL_SCOPES = {
    "report": "read",
    "report_task": "read",
    "check_status": "read",
    "get_prompt": "read",
    "update_stats": "read",
    "create_task": "write",
    "update_task": "write",
    "steer_task": "write",
    "cancel_task": "write",
    "end_task": "write",
    "review_task": "write",
    "merge_task": "write",
    "discard_task": "write",
    "respond_task": "write",
    "clean_state": "admin",
}
# Arguments that pass the scope check and then fail (or succeed harmlessly) without an agent.
TOOL_ARGS: dict[str, dict[str, Any]] = {
    "create_task": {"title": "t"},  # instructions missing: validation_error
    "update_task": {"task_id": "nope", "instructions": "x"},
    "steer_task": {"task_id": "nope", "instructions": "x"},
    "respond_task": {"task_id": "nope", "decision": "deny"},
    "clean_state": {"dry_run": True},
}
NOPE = {"task_id": "nope"}


async def _make_tokens(settings: Settings) -> dict[str, str]:
    """read / write / admin / expired / revoked tokens in the server's store."""
    store = SqliteStore(settings.db_path)
    try:
        tokens = {s: (await create_token(store, s, s))[0] for s in ("read", "write", "admin")}
        tokens["revoked"] = (await create_token(store, "gone", "admin"))[0]
        assert await revoke_token(store, "gone")
        tokens["expired"] = "adk_" + "e" * 43
        past = datetime.now(UTC) - timedelta(hours=1)
        await store.add_token(
            {
                "name": "old",
                "scope": "admin",
                "hash": token_hash(tokens["expired"]),
                "created_at": (past - timedelta(days=1)).isoformat(),
                "expires_at": past.isoformat(),
            }
        )
    finally:
        store.close()
    tokens["wrong"] = "adk_" + "w" * 43
    tokens["none"] = ""
    return tokens


@contextmanager
def serve_json(documents: dict[str, Any]) -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1 serving JSON documents by path (the JWKS)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(documents.get(self.path)).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@asynccontextmanager
async def bearer_client(url: str, token: str, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode) as client:
            yield client


async def _post_initialize(url: str, token: str) -> httpx2.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.post(url, json=body, headers=headers)


@pytest.mark.parametrize("who", ["none", "wrong", "expired", "revoked"])
async def test_refused_credentials_get_401_with_metadata(settings: Settings, who: str) -> None:
    tokens = await _make_tokens(settings)
    async with serve(settings) as srv:
        response = await _post_initialize(srv.url, tokens[who])
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert "/.well-known/oauth-protected-resource/mcp" in challenge
        with pytest.raises(Exception):  # noqa: B017 - the client surfaces the 401 its own way
            async with bearer_client(srv.url, tokens[who]) as client:
                await client.list_tools()
        headers = {"Accept": "application/json, text/event-stream"}
        if tokens[who]:
            headers["Authorization"] = f"Bearer {tokens[who]}"
        calls = [
            ("tools/call", {"name": n, "arguments": TOOL_ARGS.get(n, NOPE)}) for n in TOOL_SCOPES
        ]
        calls += [("resources/read", {"uri": u}) for u in (*RESOURCE_SCOPES, "agent://tasks")]
        base = srv.url.removesuffix("/mcp")
        async with httpx2.AsyncClient() as http:
            for method, params in calls:  # every tool and resource: refused before the server
                body = {"jsonrpc": "2.0", "id": 2, "method": method, "params": params}
                refused = await http.post(srv.url, json=body, headers=headers)
                assert refused.status_code == 401, (method, params)
            meta = await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")
        assert meta.status_code == 200
        assert meta.json()["resource"] == srv.url
        assert "authorization_servers" not in meta.json()  # tokens come from the CLI, not OAuth


@pytest.mark.parametrize(
    ("scope", "mode"), [("read", "auto"), ("write", "legacy"), ("admin", "auto")]
)
async def test_scope_matrix(settings: Settings, scope: str, mode: str) -> None:
    tokens = await _make_tokens(settings)
    async with serve(settings) as srv, bearer_client(srv.url, tokens[scope], mode) as client:
        listed = (await client.list_tools()).tools
        declared = {t.name: (t.meta or {}).get(SCOPE_META) for t in listed}
        assert declared == TOOL_SCOPES
        for name in declared:
            required = TOOL_SCOPES[name]
            result = await client.call_tool(name, TOOL_ARGS.get(name, NOPE))
            envelope = result.structured_content or {}
            error = (envelope.get("error") or {}).get("type")
            if RANK[scope] >= RANK[required]:
                assert error != "forbidden", (name, scope, envelope)
            else:
                assert result.is_error and error == "forbidden", (name, scope, envelope)
                assert f"needs the {required} scope" in envelope["message"]
                assert f"({scope}) has {scope}" in envelope["message"]

        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        templates = [
            t.uri_template for t in (await client.list_resource_templates()).resource_templates
        ]
        uris += [t.replace("{id}", "nope").split("{")[0] for t in templates]
        assert "agent://audit" in uris
        for uri in uris:
            required = RESOURCE_SCOPES.get(uri, "read")
            try:
                await client.read_resource(uri)
                refused: MCPError | None = None
            except MCPError as exc:
                refused = exc
            if RANK[scope] >= RANK[required]:
                assert refused is None or refused.code != FORBIDDEN, (uri, scope, refused)
            else:
                assert refused is not None and refused.code == FORBIDDEN, (uri, scope)
                assert f"needs the {required} scope" in str(refused.error.message)

        if scope == "admin":
            audit = await read_json(client, "agent://audit")
            tools = {e["tool"] for e in audit["entries"]}
            assert {n for n, s in TOOL_SCOPES.items() if s != "read"} <= tools
            assert all(e["who"] == "admin" and e["client"] == "127.0.0.1" for e in audit["entries"])
            assert not tools & {n for n, s in TOOL_SCOPES.items() if s == "read"}


async def test_loopback_open_until_first_token(settings: Settings) -> None:
    """No token: loopback needs none. A token created meanwhile (as the CLI would, in
    another process on the same database) closes that for the running server."""
    async with serve(settings) as srv:
        assert (await _post_initialize(srv.url, "")).status_code == 200
        # A relayed request (tunnel, proxy) is not a loopback client.
        async with httpx2.AsyncClient() as http:
            relayed = await http.post(
                srv.url,
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={"X-Forwarded-For": "203.0.113.9", "Accept": "application/json"},
            )
        assert relayed.status_code == 401
        other = SqliteStore(settings.db_path)
        try:
            token, _ = await create_token(other, "phone", "write", "30d")
        finally:
            other.close()
        assert (await _post_initialize(srv.url, "")).status_code == 401
        assert (await _post_initialize(srv.url, token)).status_code == 200


async def test_token_listing_never_shows_the_token(settings: Settings) -> None:
    store = SqliteStore(settings.db_path)
    try:
        token, info = await create_token(store, "phone", "write", "12h")
        assert token.startswith("adk_") and len(token) > 40
        listed = await list_tokens(store)
        assert [(t.name, t.scope, t.state) for t in listed] == [("phone", "write", "active")]
        assert info.expires_at and listed[0].expires_at == info.expires_at
        assert token not in repr(listed) and token not in json.dumps(await store.list_tokens())
        assert await revoke_token(store, "phone")
        assert not await revoke_token(store, "phone")
        assert (await list_tokens(store))[0].state == "revoked"
    finally:
        store.close()
    assert token.encode() not in settings.db_path.read_bytes()


def test_check_binding_and_urls(settings: Settings) -> None:
    check_binding(settings, auth_enabled=False)  # loopback: fine
    wide = settings.model_copy(update={"host": "0.0.0.0"})
    with pytest.raises(ConfigError, match="loopback"):
        check_binding(wide, auth_enabled=False)
    check_binding(wide, auth_enabled=True)
    assert reachable_urls(settings) == [f"http://127.0.0.1:{settings.port}/mcp"]
    assert f"http://127.0.0.1:{settings.port}/mcp" in reachable_urls(wide)


def test_serve_refuses_wide_binding_without_auth(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "AGENTDECK_HOME": str(settings.home), "AGENTDECK_ROOTS": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "agentdeck", "serve", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "loopback" in proc.stderr


@pytest.mark.real_agent
async def test_secrets_never_stored_logged_or_served(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    canary = "sk-secret-canary"
    monkeypatch.setenv("ANTHROPIC_API_KEY", canary)
    tokens = await _make_tokens(settings)
    monkeypatch.setenv("AGENTDECK_TOKEN", tokens["admin"])
    caplog.set_level(logging.DEBUG)
    secrets = [canary, tokens["admin"], tokens["write"]]
    async with serve(settings) as srv, bearer_client(srv.url, tokens["admin"]) as client:
        result = await client.call_tool(
            "create_task",
            {
                "title": "leak",
                "instructions": "BASH echo $ANTHROPIC_API_KEY $AGENTDECK_TOKEN",
                "wait": True,
            },
        )
        envelope = result.structured_content or {}
        assert not result.is_error, envelope
        task_id = envelope["result"]["task_id"]
        await wait_status(client, task_id, {"waiting", "completed"})
        # a secret passed as a tool argument stays out of the audit log
        await client.call_tool(
            "update_task", {"task_id": "nope", "instructions": f"use {tokens['write']}"}
        )
        served = []
        for uri in (
            f"task://{task_id}",
            f"task://{task_id}/logs",
            f"task://{task_id}/result",
            f"task://{task_id}/events",
            "agent://audit",
            "agent://tasks",
        ):
            served.append((await client.read_resource(uri)).contents[0].text)  # type: ignore[union-attr]
        events = await events_of(srv.deck.core, task_id)
        assert any("***" in json.dumps(e.data) for e in events), "the agent never echoed the key"
    stored = b"".join(p.read_bytes() for p in settings.home.glob("agentdeck.db*"))
    client_side = ("mcp.client", "httpx2", "httpcore2")  # this test's own client, not the server
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(client_side))
    assert "Bearer" not in logged
    for secret in secrets:
        assert secret.encode() not in stored, secret
        assert secret not in logged, secret
        assert all(secret not in text for text in served), secret


async def test_jwt_mode(settings: Settings) -> None:
    jwt = pytest.importorskip("jwt")
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    with serve_json({"/jwks.json": {"keys": [jwk]}}) as base:
        conf = {
            "issuer": "https://issuer.test",
            "audience": "agentdeck",
            "jwks_url": f"{base}/jwks.json",
        }
        jwt_settings = settings.model_copy(
            update={
                "auth": settings.auth.model_copy(
                    update={"jwt": settings.auth.jwt.model_copy(update=conf)}
                )
            }
        )

        def make(signer: Any = key, **claims: Any) -> str:
            now = datetime.now(UTC)
            body = {
                "iss": "https://issuer.test",
                "aud": "agentdeck",
                "sub": "alice",
                "scope": "openid agentdeck:write",
                "exp": now + timedelta(minutes=5),
                "iat": now,
                **claims,
            }
            return str(jwt.encode(body, signer, algorithm="RS256", headers={"kid": "k1"}))

        async with serve(jwt_settings) as srv:
            assert (await _post_initialize(srv.url, "")).status_code == 401  # JWT: no open loopback
            async with bearer_client(srv.url, make()) as client:
                denied = await client.call_tool("clean_state", {"dry_run": True})
                assert (denied.structured_content or {})["error"]["type"] == "forbidden"
                allowed = await client.call_tool("create_task", {"title": "t"})
                assert (allowed.structured_content or {})["error"]["type"] == "validation_error"
            for bad in (
                make(aud="someone-else"),
                make(exp=datetime.now(UTC) - timedelta(minutes=5)),
                make(signer=other),
                make(iss="https://evil.test"),
            ):
                assert (await _post_initialize(srv.url, bad)).status_code == 401
            no_scope = await _post_initialize(srv.url, make(scope="openid"))
            assert no_scope.status_code == 403


async def test_token_and_audit_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from agentdeck.cli.tokens import cli

    monkeypatch.setenv("AGENTDECK_HOME", str(settings.home))
    monkeypatch.setenv("AGENTDECK_ROOTS", str(settings.roots[0]))
    runner = CliRunner()

    async def run(*args: str) -> Any:  # the CLI runs its own event loop: give it a thread
        return await anyio.to_thread.run_sync(lambda: runner.invoke(cli, list(args)))

    created = await run(
        "token", "create", "--name", "phone", "--scope", "write", "--expires", "30d"
    )
    assert created.exit_code == 0, created.output
    token = next(w for w in created.output.split() if w.startswith("adk_"))
    listed = await run("token", "list")
    assert "phone" in listed.output and "write" in listed.output and token not in listed.output
    async with serve(settings) as srv, bearer_client(srv.url, token) as client:
        await client.call_tool("cancel_task", {"task_id": "nope"})
    audit = await run("audit", "--limit", "5")
    assert audit.exit_code == 0 and "cancel_task" in audit.output and "phone" in audit.output
    assert (await run("token", "revoke", "phone")).exit_code == 0
    assert "revoked" in (await run("token", "list")).output
    assert (await run("token", "revoke", "phone")).exit_code == 1
