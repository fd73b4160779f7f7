"""Browser login: ``/api/session`` (token or one-time code → session cookie), the code
page ``/login``, and `SessionCookies`, the middleware that turns a session cookie into
the credential it stands for on ``/api`` paths, with the CSRF checks.

The cookie ``agentdeck_session`` (HttpOnly, SameSite=Strict, Path=/, Secure over https)
holds a random session id, never the token (`agentdeck.auth.sessions`). A request that
changes something with it must send ``X-Agentdeck-CSRF`` equal to the readable
``agentdeck_csrf`` cookie, and must not be cross-site (``Origin``, ``Sec-Fetch-Site``).
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from mcp.server.auth.provider import AccessToken
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from agentdeck.auth import LOOPBACK, Caller
from agentdeck.auth.sessions import BrowserSessions, Session
from agentdeck.core import Core
from agentdeck.errors import AgentdeckError, InvalidInput, Unauthorized
from agentdeck.web.api import json_body
from agentdeck.web.errors import error_response, from_error
from agentdeck.web.pages import cross_site, message, page

log = logging.getLogger(__name__)

SESSION_COOKIE = "agentdeck_session"
CSRF_COOKIE = "agentdeck_csrf"
CSRF_HEADER = "x-agentdeck-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
VIA = "agentdeck.session"  # scope key: the request's credential came from the cookie
MAX_FORM = 4096


def _cookies(scope: Scope) -> dict[str, str]:
    return Request(scope).cookies


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class SessionCookies:
    """On ``/api`` paths, a request without ``Authorization`` but with a live session
    cookie gets the session's credential as its bearer token; if it changes something,
    it must pass the CSRF checks first (else JSON 403)."""

    def __init__(self, app: ASGIApp, sessions: BrowserSessions) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if any(name == b"authorization" for name, _ in headers):
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        session = self.sessions.get(cookies.get(SESSION_COOKIE, ""))
        if session is None:
            await self.app(scope, receive, send)
            return
        logging_in = scope["path"] == "/api/session" and scope["method"] == "POST"
        if scope["method"] not in SAFE_METHODS and not logging_in:
            refused = _csrf_refusal(Request(scope), session, cookies)
            if refused is not None:
                response = error_response(403, "forbidden", refused)
                await response(scope, receive, send)
                return
        bearer = f"Bearer {session.token}".encode()
        scope = {**scope, "headers": [*headers, (b"authorization", bearer)], VIA: True}
        await self.app(scope, receive, send)


def _csrf_refusal(request: Request, session: Session, cookies: dict[str, str]) -> str | None:
    """Why a cookie-authenticated change is refused (None: it may go on)."""
    if (why := cross_site(request)) is not None:
        return why
    sent = request.headers.get(CSRF_HEADER, "")
    cookie = cookies.get(CSRF_COOKIE, "")
    if not sent:
        return (
            f"a change made with the session cookie needs the header X-Agentdeck-CSRF set to "
            f"the value of the {CSRF_COOKIE} cookie (or use Authorization: Bearer <token>)"
        )
    if not (
        hmac.compare_digest(sent.encode(), cookie.encode())
        and hmac.compare_digest(sent.encode(), session.csrf.encode())
    ):
        return (
            f"X-Agentdeck-CSRF does not match this session's {CSRF_COOKIE} cookie; reload "
            "the page (or log in again) and retry"
        )
    return None


async def _credential(core: Core, request: Request) -> tuple[str, AccessToken] | None:
    """The request's bearer token and what the verifier makes of it, if valid."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    access = await core.access.verifier.verify_token(token)
    return (token, access) if access is not None else None


def _caller(request: Request, access: AccessToken) -> Caller:
    return Caller(
        access.client_id, list(access.scopes), request.client.host if request.client else None
    )


def _secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class Login:
    """The login endpoints of one server, over ``core`` and its browser sessions."""

    def __init__(self, core: Core, sessions: BrowserSessions | None = None) -> None:
        self.core = core
        auth = core.settings.auth
        self.sessions = sessions or BrowserSessions(
            auth.session_ttl_seconds, auth.login_code_ttl_seconds
        )

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/api/session", self.session, methods=["GET", "POST", "DELETE"]),
            Route("/api/session/codes", self.codes, methods=["POST"]),
            Route("/login", self.login_page, methods=["GET", "POST"]),
        ]

    # -- /api/session -----------------------------------------------------------------

    async def session(self, request: Request) -> Response:
        try:
            if request.method == "GET":
                return JSONResponse(await self._state(request))
            if request.method == "DELETE":
                return self._logout(request)
            if (why := cross_site(request)) is not None:
                return error_response(403, "forbidden", why)
            data = await json_body(request)
            session = await self._log_in(request, **self._login_fields(data))
        except AgentdeckError as exc:
            return from_error(exc)
        answer = await self._state(request, session)
        return self._with_cookies(JSONResponse(answer), request, session)

    async def _state(self, request: Request, session: Session | None = None) -> dict[str, Any]:
        """``{authenticated, login_required, via, scopes}`` of this request (or of the new
        ``session``)."""
        if session is not None:
            access = await self.core.access.verifier.verify_token(session.token)
            via: str | None = "cookie"
        else:
            found = await _credential(self.core, request)
            access = found[1] if found else None
            via = None
            if access is not None:
                via = "cookie" if request.scope.get(VIA) else "bearer"
                if access.client_id == LOOPBACK:
                    via = "loopback"
        if access is None:
            return {"authenticated": False, "login_required": True, "via": None, "scopes": []}
        return {
            "authenticated": True,
            "login_required": via != "loopback",
            "via": via,
            "scopes": list(access.scopes),
            "who": access.client_id,
        }

    @staticmethod
    def _login_fields(data: dict[str, Any]) -> dict[str, str]:
        unknown = sorted(set(data) - {"token", "code"})
        if unknown:
            raise InvalidInput(
                f'unknown field {", ".join(unknown)}: send {{"token": …}} or {{"code": …}}',
                {"unknown": unknown},
            )
        given = {k: v for k, v in data.items() if v not in (None, "")}
        if len(given) != 1 or not all(isinstance(v, str) for v in given.values()):
            raise InvalidInput(
                'send exactly one of {"token": "adk_…"} (agentdeck token create) or '
                '{"code": "…"} (from the link `agentdeck open` prints)'
            )
        return {str(k): str(v) for k, v in given.items()}

    async def _log_in(
        self, request: Request, token: str | None = None, code: str | None = None
    ) -> Session:
        """A new session for a valid token, or for the token behind a live login code."""
        if code is not None:
            token = self.sessions.redeem(code)
            if token is None:
                raise Unauthorized(
                    "this login code is unknown, used or expired (codes last "
                    f"{self.sessions.code_ttl / 60:g} minutes and work once); run "
                    "`agentdeck open` again, or log in with a token"
                )
        assert token is not None
        access = await self.core.access.verifier.verify_token(token)
        if access is None or access.client_id == LOOPBACK:
            raise Unauthorized(
                "the token was refused: it is wrong, expired or revoked; paste a token from "
                "`agentdeck token create` (adk_…)"
            )
        caller = _caller(request, access)
        how = {"with": "code" if code is not None else "token"}
        async with self.core.access.audit.record(caller, "POST /api/session", how, None) as entry:
            if previous := request.cookies.get(SESSION_COOKIE):
                self.sessions.close(previous)
            session = self.sessions.open(token)
            entry.outcome = "ok"
        log.info("browser login by %s (%s)", caller.who, how["with"])
        return session

    def _logout(self, request: Request) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            self.sessions.close(session_id)
        response = JSONResponse(
            {"authenticated": False, "login_required": True, "via": None, "scopes": []}
        )
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            response.delete_cookie(name, path="/", samesite="strict")
        return response

    def _with_cookies(self, response: Response, request: Request, session: Session) -> Response:
        age = max(1, int(session.expires_at - self.sessions.clock()))
        secure = _secure(request)
        for name, value, hidden in (
            (SESSION_COOKIE, session.id, True),
            (CSRF_COOKIE, session.csrf, False),  # read by the dashboard's script
        ):
            response.set_cookie(
                name, value, age, path="/", secure=secure, httponly=hidden, samesite="strict"
            )
        return response

    # -- /api/session/codes -------------------------------------------------------------

    async def codes(self, request: Request) -> Response:
        """A one-time login link for the caller's own credential (needs ``write``)."""
        try:
            data = await json_body(request)
            if data:
                raise InvalidInput("POST /api/session/codes takes no body; send none or {}")
            found = await _credential(self.core, request)
            if found is None:
                raise Unauthorized("send Authorization: Bearer <token> (agentdeck token create)")
            token, access = found
            caller = _caller(request, access)
            base = self._base(request)
            async with self.core.action(caller, "POST /api/session/codes", "write") as entry:
                if access.client_id == LOOPBACK:  # no token exists: nobody needs to log in
                    answer: dict[str, Any] = {"url": f"{base}/", "expires_at": None}
                else:
                    code, expires = self.sessions.new_code(token)
                    answer = {"url": f"{base}/login?code={code}", "expires_at": _iso(expires)}
                if entry is not None:
                    entry.outcome = "ok"
        except AgentdeckError as exc:
            return from_error(exc)
        return JSONResponse(answer, status_code=201)

    def _base(self, request: Request) -> str:
        public = self.core.settings.auth.public_url
        if public:
            return public.rstrip("/").removesuffix("/mcp")
        return str(request.base_url).rstrip("/")

    # -- /login -------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        """GET: a page with one button that posts the code (a GET never logs in; chat apps
        fetch links for previews), or a token form. POST (a form): log in, go to ``/``."""
        if request.method == "GET":
            return self._form(request.query_params.get("code", ""))
        if (why := cross_site(request)) is not None:
            return message("Not logged in", why, 403)
        body = await request.body()
        if len(body) > MAX_FORM:
            return message("Not logged in", f"the form is over {MAX_FORM} bytes", 413)
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        try:
            fields = self._login_fields({k: form.get(k) for k in ("token", "code") if k in form})
            session = await self._log_in(request, **fields)
        except AgentdeckError as exc:
            return message("Not logged in", exc.message, exc.http_status)
        return self._with_cookies(RedirectResponse("/", status_code=303), request, session)

    @staticmethod
    def _form(code: str) -> Response:
        if code:
            body = (
                "<p>Log in to this agentdeck in this browser with the one-time code from "
                "<code>agentdeck open</code>.</p><form method=post action='/login'>"
                f"<input type=hidden name=code value='{escape(code, quote=True)}'>"
                "<button class=allow type=submit>Log in</button></form>"
            )
        else:
            body = (
                "<form method=post action='/login'><label for=token>Token "
                "(<code>agentdeck token create</code>)</label>"
                "<input id=token name=token type=password autocomplete=off required>"
                "<button class=allow type=submit>Log in</button></form>"
            )
        return page("agentdeck: log in", body)
