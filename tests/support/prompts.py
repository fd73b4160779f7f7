"""Prompt templates for tests: the contract's built-ins and a user template."""

from __future__ import annotations

from pathlib import Path

BUILTINS = {"fix_bug", "create_unit_tests", "create_react_component"}

REVIEW = """+++
description = "Review a pull request"

[[arguments]]
name = "pr_number"
description = "The PR to review"
required = true

[[arguments]]
name = "focus"
+++
Review PR #{{pr_number}}.
{{#focus}}
Focus on {{focus}}.
{{/focus}}
{{^focus}}
Review everything.
{{/focus}}
Done.
"""


def write_user(home: Path, name: str, text: str) -> Path:
    (home / "prompts").mkdir(parents=True, exist_ok=True)
    path = home / "prompts" / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path
