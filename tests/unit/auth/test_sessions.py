"""Browser sessions and login codes: random ids, expiry, single-use codes, bounded."""

from __future__ import annotations

from agentdeck.auth import sessions as module
from agentdeck.auth.sessions import BrowserSessions


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire_and_close() -> None:
    clock = Clock()
    sessions = BrowserSessions(3600, 300, clock)
    session = sessions.open("adk_secret")
    assert "adk_secret" not in repr(session) and session.id not in repr(session)
    assert session.id != session.csrf and len(session.id) >= 40
    assert sessions.get(session.id) == session
    assert sessions.get(session.id + "x") is None and sessions.get("") is None
    clock.now += 3601
    assert sessions.get(session.id) is None
    again = sessions.open("adk_secret")
    assert sessions.close(again.id) and sessions.get(again.id) is None
    assert not sessions.close(again.id)


def test_codes_work_once_and_expire() -> None:
    clock = Clock()
    sessions = BrowserSessions(3600, 300, clock)
    code, expires = sessions.new_code("adk_secret")
    assert expires == clock.now + 300
    assert sessions.redeem("nope") is None
    assert sessions.redeem(code) == "adk_secret"
    assert sessions.redeem(code) is None  # used
    late, _ = sessions.new_code("adk_secret")
    clock.now += 301
    assert sessions.redeem(late) is None  # expired


def test_tables_are_bounded() -> None:
    sessions = BrowserSessions(3600, 300, Clock())
    first = sessions.open("t")
    codes = [sessions.new_code("t")[0] for _ in range(module.MAX_CODES + 1)]
    assert sessions.redeem(codes[0]) is None and sessions.redeem(codes[-1]) == "t"
    for _ in range(module.MAX_SESSIONS):
        sessions.open("t")
    assert sessions.get(first.id) is None  # the oldest went
