"""The old contract's argument aliases (SEED_CONTRACT.md), in one place.

Old clients say ``task_id`` or ``process`` for ``id``, ``tool`` for ``agent``, ``name``
for ``prompt_id``. Aliases are renamed to our names before validation and are
advertised in each tool's input schema; giving a name and its alias at once is refused
(nothing the caller typed is silently dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentdeck.errors import InvalidInput

Aliases = dict[str, tuple[str, ...]]

TASK_REF: Aliases = {"id": ("task_id", "process")}
OPTIONAL_TASK_REF: Aliases = {"id": ("task_id",)}
CREATE: Aliases = {"agent": ("tool",)}
PROMPT: Aliases = {"prompt_id": ("name",)}
NONE: Aliases = {}


def alias_names(aliases: Aliases) -> tuple[str, ...]:
    return tuple(alt for alts in aliases.values() for alt in alts)


def canonical(
    arguments: dict[str, Any], aliases: Aliases, accepted: Sequence[str]
) -> dict[str, Any]:
    """``arguments`` with every alias renamed to its name (``accepted``: for a refusal)."""
    out = dict(arguments)
    for name, alts in aliases.items():
        given = [n for n in (name, *alts) if n in out]
        if len(given) > 1:
            raise InvalidInput(
                f"{' and '.join(given)} name the same argument; give one of them "
                f"(accepted arguments: {', '.join(accepted)})",
                {"field": name, "given": given},
            )
        if given and given[0] != name:
            out[name] = out.pop(given[0])
    return out


def with_aliases(schema: dict[str, Any], aliases: Aliases) -> dict[str, Any]:
    """``schema`` with alias properties, and "one of the names is required"."""
    props: dict[str, Any] = schema.setdefault("properties", {})
    required: list[str] = schema.get("required", [])
    any_of = []
    for name, alts in aliases.items():
        for alt in alts:
            props[alt] = {**props[name], "description": f"Alias of {name}."}
        if name in required:
            required.remove(name)
            any_of.append({"anyOf": [{"required": [n]} for n in (name, *alts)]})
    schema["required"] = required
    if any_of:
        schema["allOf"] = any_of
    return schema
