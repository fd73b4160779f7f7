"""Prompt templates: the library of built-in and user templates, rendering, completion."""

from __future__ import annotations

from agentdeck.prompts.library import (
    BUILTIN_DIR,
    MAX_COMPLETIONS,
    PromptLibrary,
    PromptTemplate,
    parse_template,
)

__all__ = ["BUILTIN_DIR", "MAX_COMPLETIONS", "PromptLibrary", "PromptTemplate", "parse_template"]
