"""Browser login over the whole HTTP app in-process: the session cookie, CSRF, login
codes, logout, revocation, and no task data without a login once tokens exist."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
import pytest
from starlette.applications import Starlette

from agentdeck.agents.testing import Ask, FakeAgent
from agentdeck.app import Deck, build_app
from agentdeck.config import Settings
from agentdeck.core import Core
from agentdeck.model import TaskStatus
from support.core import create, task_in

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:3000"  # a direct loopback client, as the allowed Host wants


@dataclass
class Site:
    """agentdeck's whole HTTP app (as served) on a running deck."""

    deck: Deck
    app: Starlette

    @property
    def core(self) -> Core:
        return self.deck.core


@asynccontextmanager
async def app_of(settings: Settings, agent: FakeAgent | None = None) -> AsyncIterator[Site]:
    deck = Deck(settings, agents={"fake": agent or FakeAgent()})
    app = build_app(deck)
    async with deck.running():
        yield Site(deck, app)


def client(site: Site) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=site.app)
    return httpx2.AsyncClient(transport=transport, base_url=BASE)


def cookie_flags(response: httpx2.Response) -> dict[str, str]:
    """Each Set-Cookie's name -> its attributes (lower-cased, value left out)."""
    out = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        out[name] = rest.split(";", 1)[1].lower() if ";" in rest else ""
    return out


def error_of(response: httpx2.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == kind, error
    return str(error["message"])


@asynccontextmanager
async def logged_in(site: Site, token: str) -> AsyncIterator[httpx2.AsyncClient]:
    """A client holding the session cookies of a login with ``token``."""
    async with client(site) as http:
        answer = await http.post("/api/session", json={"token": token})
        assert answer.status_code == 200, answer.text
        yield http


def csrf(http: httpx2.AsyncClient) -> dict[str, str]:
    return {"X-Agentdeck-CSRF": http.cookies["agentdeck_csrf"]}


async def test_no_login_on_loopback_while_no_token_exists(core_settings: Settings) -> None:
    async with app_of(core_settings) as site, client(site) as http:
        state = (await http.get("/api/session")).json()
        assert state["authenticated"] is True and state["login_required"] is False
        assert state["via"] == "loopback" and "write" in state["scopes"]
        assert (await http.get("/api/tasks")).status_code == 200
        link = await http.post("/api/session/codes")
        assert link.status_code == 201, link.text
        assert link.json() == {"url": f"{BASE}/", "expires_at": None}  # nothing to log in to


async def test_a_token_logs_the_browser_in_with_a_cookie(core_settings: Settings) -> None:
    async with app_of(core_settings) as site:
        token, _ = await site.core.create_token("phone", "write")
        await create(site.core, "Secret plans", "hello")
        async with client(site) as anonymous:
            state = (await anonymous.get("/api/session")).json()
            assert state == {
                "authenticated": False,
                "login_required": True,
                "via": None,
                "scopes": [],
            }
            error_of(await anonymous.get("/api/tasks"), 401, "unauthorized")
            wrong = await anonymous.post("/api/session", json={"token": "adk_wrong"})
            assert "wrong, expired or revoked" in error_of(wrong, 401, "unauthorized")
            assert not wrong.headers.get_list("set-cookie")
            both = await anonymous.post("/api/session", json={"token": token, "code": "x"})
            assert "exactly one" in error_of(both, 400, "validation_error")

            answer = await anonymous.post("/api/session", json={"token": token})
            assert answer.status_code == 200, answer.text
            assert answer.json()["via"] == "cookie" and answer.json()["who"] == "phone"
            flags = cookie_flags(answer)
            for name in ("agentdeck_session", "agentdeck_csrf"):
                assert "samesite=strict" in flags[name] and "path=/" in flags[name]
                assert "secure" not in flags[name]  # plain http on loopback
            assert "httponly" in flags["agentdeck_session"]
            assert "httponly" not in flags["agentdeck_csrf"]  # the page's script reads it
            assert token not in str(answer.headers) and token not in answer.text

            http = anonymous  # now holding the cookies
            tasks = await http.get("/api/tasks")
            assert tasks.status_code == 200 and "Secret plans" in tasks.text
            state = (await http.get("/api/session")).json()
            assert (state["via"], state["who"], state["authenticated"]) == ("cookie", "phone", True)
            assert state["scopes"] == ["read", "write"]
        audit = await site.core.audit_entries()
        assert ("POST /api/session", "phone", "ok") in [
            (a["tool"], a["who"], a["outcome"]) for a in audit
        ]
        assert token not in str(audit)

        async with client(site) as tls:  # behind an https proxy, the cookies are Secure
            secure = await tls.post(
                "/api/session", json={"token": token}, headers={"X-Forwarded-Proto": "https"}
            )
            assert all("secure" in f for f in cookie_flags(secure).values())


async def test_changes_with_the_cookie_need_the_csrf_header(core_settings: Settings) -> None:
    settings = core_settings.model_copy(update={"approval_policy": "ask"})
    agent = FakeAgent(steps=[Ask("Bash", {"command": "make"})])
    async with app_of(settings, agent) as site:
        token, _ = await site.core.create_token("laptop", "write")
        task = await create(site.core, "Build", "build it")
        await task_in(site.core, task.id, TaskStatus.INPUT_REQUIRED)
        url = f"/api/tasks/{task.id}/respond"
        async with logged_in(site, token) as http:
            bare = await http.post(url, json={"decision": "allow"})
            assert "X-Agentdeck-CSRF" in error_of(bare, 403, "forbidden")
            wrong = await http.post(
                url, json={"decision": "allow"}, headers={"X-Agentdeck-CSRF": "guess"}
            )
            assert "does not match" in error_of(wrong, 403, "forbidden")
            cross = await http.post(
                url,
                json={"decision": "allow"},
                headers={**csrf(http), "Sec-Fetch-Site": "cross-site"},
            )
            assert "cross-site" in error_of(cross, 403, "forbidden")
            foreign = await http.post(
                url,
                json={"decision": "allow"},
                headers={**csrf(http), "Origin": "https://evil.example"},
            )
            error_of(foreign, 403, "forbidden")
            assert task.id in (await http.get("/api/pending")).text  # reads need no header
            assert agent.answers == []  # nothing refused got through

            same = {**csrf(http), "Origin": BASE, "Sec-Fetch-Site": "same-origin"}
            answered = await http.post(url, json={"decision": "allow"}, headers=same)
            assert answered.status_code == 200, answered.text
        await task_in(site.core, task.id, TaskStatus.WAITING)
        assert agent.answers == [(True, "")]
        audit = await site.core.audit_entries()
        assert (audit[0]["tool"], audit[0]["who"], audit[0]["outcome"]) == (
            "POST /api/tasks/{id}/respond",
            "laptop",
            "ok",
        )
        # A bearer token needs no CSRF header: no browser sends it by itself.
        async with client(site) as bearer:
            direct = await bearer.post(
                f"/api/tasks/{task.id}/cancel", headers={"Authorization": f"Bearer {token}"}
            )
            assert direct.status_code != 403, direct.text


async def test_revoking_the_token_ends_its_sessions_at_once(core_settings: Settings) -> None:
    async with app_of(core_settings) as site:
        token, _ = await site.core.create_token("tablet", "read")
        async with logged_in(site, token) as http:
            assert (await http.get("/api/tasks")).status_code == 200
            assert await site.core.revoke_token("tablet")
            error_of(await http.get("/api/tasks"), 401, "unauthorized")
            assert (await http.get("/api/session")).json()["authenticated"] is False


async def test_logout_ends_the_session(core_settings: Settings) -> None:
    async with app_of(core_settings) as site:
        token, _ = await site.core.create_token("desk", "read")
        async with logged_in(site, token) as http:
            session = http.cookies["agentdeck_session"]
            refused = await http.delete("/api/session")
            assert "X-Agentdeck-CSRF" in error_of(refused, 403, "forbidden")
            out = await http.delete("/api/session", headers=csrf(http))
            assert out.status_code == 200 and out.json()["authenticated"] is False
            assert "max-age=0" in cookie_flags(out)["agentdeck_session"]
        async with client(site) as stale:  # the old cookie, kept by someone: worthless
            stale.cookies.set("agentdeck_session", session)
            error_of(await stale.get("/api/tasks"), 401, "unauthorized")


async def test_a_login_code_works_once(core_settings: Settings) -> None:
    async with app_of(core_settings) as site:
        reader, _ = await site.core.create_token("reader", "read")
        writer, _ = await site.core.create_token("cli", "write")
        async with client(site) as cli:
            error_of(await cli.post("/api/session/codes"), 401, "unauthorized")
            read_only = await cli.post(
                "/api/session/codes", headers={"Authorization": f"Bearer {reader}"}
            )
            assert "write scope" in error_of(read_only, 403, "forbidden")
            made = await cli.post(
                "/api/session/codes", headers={"Authorization": f"Bearer {writer}"}
            )
            assert made.status_code == 201, made.text
            link = made.json()["url"]
            assert made.json()["expires_at"] and writer not in link
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}" == BASE and parts.path == "/login"
        code = parts.query.removeprefix("code=")

        async with client(site) as browser:
            preview = await browser.get(f"/login?code={code}")  # a chat app's preview fetch
            assert preview.status_code == 200 and "<form method=post" in preview.text
            assert not preview.headers.get_list("set-cookie")  # a GET never logs in
            assert preview.headers["referrer-policy"] == "same-origin"
            assert "frame-ancestors 'none'" in preview.headers["content-security-policy"]
            done = await browser.post(
                "/login", data={"code": code}, headers={"Origin": BASE}, follow_redirects=False
            )
            assert done.status_code == 303 and done.headers["location"] == "/"
            assert "httponly" in cookie_flags(done)["agentdeck_session"]
            state = (await browser.get("/api/session")).json()
            assert (state["via"], state["who"]) == ("cookie", "cli")
        async with client(site) as again:
            reused = await again.post("/login", data={"code": code})
            assert reused.status_code == 401 and "unknown, used or expired" in reused.text
            assert not reused.headers.get_list("set-cookie")
            by_json = await again.post("/api/session", json={"code": code})
            error_of(by_json, 401, "unauthorized")


async def test_without_login_the_dashboard_shows_no_task_data(core_settings: Settings) -> None:
    async with app_of(core_settings) as site:
        token, _ = await site.core.create_token("owner", "read")
        task = await create(site.core, "Quarterly secret plan", "hello")
        async with client(site) as http:
            for path in ("/", f"/tasks/{task.id}", "/login"):
                page = await http.get(path)
                assert "Quarterly secret plan" not in page.text, path
            for path in ("/api/tasks", f"/api/tasks/{task.id}", "/api/pending", "/api/events"):
                error_of(await http.get(path), 401, "unauthorized")
            http.cookies.set("agentdeck_session", "made-up")
            error_of(await http.get("/api/tasks"), 401, "unauthorized")
        async with logged_in(site, token) as http:
            assert "Quarterly secret plan" in (await http.get("/api/tasks")).text
            assert re.search(r"adk_", (await http.get("/api/session")).text) is None
