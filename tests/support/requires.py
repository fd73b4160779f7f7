"""What a test needs from the machine: skip where it is missing, fail under CI=true
(`make test` installs or sets up every component there, so a missing one is a fault)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str, remedy: str) -> NoReturn:
    """Skip the test because of ``reason``; under CI=true fail, saying ``remedy``."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason} ({remedy})")
    pytest.skip(reason)
