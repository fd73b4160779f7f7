"""The CLI's stored login: one server URL and its token, in ``$AGENTDECK_HOME/credentials.json``.

`agentdeck login` writes it (mode 0600, atomically: a reader sees the old file or the
new one, never half of one); `agentdeck logout` deletes it. The token is never printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "credentials.json"


@dataclass(frozen=True)
class Login:
    """A server the user logged in to, and the token it takes (None: it needs none)."""

    url: str
    token: str | None

    def __repr__(self) -> str:  # never the token, even in a traceback
        return f"Login(url={self.url!r}, token={'***' if self.token else None})"


def credentials_path() -> Path:
    """Where the login is stored: agentdeck's config directory (``AGENTDECK_HOME``)."""
    from agentdeck.home import home_dir

    return home_dir() / FILE_NAME


def load() -> Login | None:
    """The stored login, or None when there is none (or the file is unreadable)."""
    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        return None
    token = data.get("token")
    return Login(data["url"], token if isinstance(token, str) and token else None)


def save(login: Login) -> Path:
    """Store ``login``, readable by this user only; the file's path."""
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = json.dumps({"url": login.url, "token": login.token}, indent=2) + "\n"
    fd, temp = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


def remove() -> Login | None:
    """Delete the stored login; the one that was stored, if any."""
    login = load()
    with contextlib.suppress(FileNotFoundError):
        credentials_path().unlink()
    return login
