"""The one permission check every face uses."""

from __future__ import annotations

import pytest

from agentdeck.auth import Caller, authorize, implied, top_scope
from agentdeck.errors import Forbidden


def test_scopes_imply_the_lower_ones() -> None:
    assert implied("read") == ["read"]
    assert implied("admin") == ["read", "write", "admin"]
    assert top_scope(["read", "write"]) == "write"
    assert top_scope(["openid"]) is None


def test_authorize_refuses_with_what_and_how() -> None:
    reader = Caller("phone", implied("read"), "127.0.0.1")
    authorize(reader, "report", "read")
    with pytest.raises(Forbidden) as refused:
        authorize(reader, "create_task", "write")
    message = refused.value.message
    assert "create_task needs the write scope" in message
    assert "(phone) has read" in message and "--scope write" in message
    assert refused.value.details == {"required_scope": "write", "scope": "read"}
    authorize(Caller.local(), "clean_state", "admin")  # stdio / in-process: every scope
    with pytest.raises(Forbidden):
        authorize(Caller("anonymous"), "report", "read")
