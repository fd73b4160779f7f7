"""Signed approval links: bound to one decision, expiring, single use, tamper-proof."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from agentdeck.auth.links import KEY_FILE, ApprovalLinks, LinkRefused, load_key, public_base
from agentdeck.config import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def refusal(links: ApprovalLinks, link: str) -> str:
    with pytest.raises(LinkRefused) as caught:
        links.check(link)
    return caught.value.reason


def test_a_link_names_its_decision_and_works_once(tmp_path: Path) -> None:
    links = ApprovalLinks(tmp_path, 600, Clock())
    link = links.issue("t-3f9a1c2b7d10", "p-0123456789")
    assert len(link) < 90 and link.replace("-", "").replace("_", "").isalnum()  # URL-safe
    claim = links.check(link)
    assert (claim.task_id, claim.request_id) == ("t-3f9a1c2b7d10", "p-0123456789")
    assert links.check(link) == claim  # checking (the GET page) uses nothing up
    assert links.use(link) == claim
    assert refusal(links, link) == "used"
    with pytest.raises(LinkRefused):
        links.use(link)
    other = links.issue("t-3f9a1c2b7d10", "p-0123456789")  # a new link is a new id
    assert links.use(other).link_id != claim.link_id


def test_expired_links_are_refused(tmp_path: Path) -> None:
    clock = Clock()
    links = ApprovalLinks(tmp_path, 600, clock)
    link = links.issue("t-1", "p-1")
    clock.now += 599
    links.check(link)
    clock.now += 2
    assert refusal(links, link) == "expired"
    with pytest.raises(LinkRefused, match="expired"):
        links.use(link)


def test_a_changed_link_is_refused(tmp_path: Path) -> None:
    links = ApprovalLinks(tmp_path, 600, Clock())
    link = links.issue("t-1", "p-1")
    raw = bytearray(base64.urlsafe_b64decode(link + "=" * (-len(link) % 4)))
    # Every byte flipped in turn (the expiry, the ids, the tag): never accepted.
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] ^= 0x01
        text = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
        assert refusal(links, text) == "invalid", i
    # Another decision's ids with this link's tag: refused.
    forged = bytes(raw).replace(b"p-1", b"p-2")
    assert refusal(links, base64.urlsafe_b64encode(forged).rstrip(b"=").decode()) == "invalid"
    for junk in ("", "x", "!!!!", link[:-4], link + "AA", "a" * 200):
        assert refusal(links, junk) == "invalid", junk


def test_another_servers_link_is_refused(tmp_path: Path) -> None:
    ours = ApprovalLinks(tmp_path / "a", 600, Clock())
    theirs = ApprovalLinks(tmp_path / "b", 600, Clock())
    assert refusal(ours, theirs.issue("t-1", "p-1")) == "invalid"


def test_the_key_is_private_and_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key = load_key(home)
    path = home / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(home) == key and len(key) == 32
    link = ApprovalLinks(home, 600, Clock()).issue("t-1", "p-1")
    assert ApprovalLinks(home, 600, Clock()).check(link).task_id == "t-1"  # after a restart
    path.write_text("not a key\n")
    with pytest.raises(ValueError, match="delete it"):
        load_key(home)


def test_public_base(tmp_path: Path) -> None:
    env = {"AGENTDECK_HOME": str(tmp_path), "AGENTDECK_ROOTS": str(tmp_path)}
    settings = load_settings(env=env)
    assert public_base(settings) == "http://127.0.0.1:3000"
    notify = settings.notify.model_copy(update={"dashboard_url": "https://me.example/t/{id}"})
    assert public_base(settings.model_copy(update={"notify": notify})) == "https://me.example"
    auth = settings.auth.model_copy(update={"public_url": "https://deck.ts.net/mcp"})
    assert public_base(settings.model_copy(update={"auth": auth})) == "https://deck.ts.net"
