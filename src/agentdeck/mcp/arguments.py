"""Tool arguments: strict pydantic models, their advertised JSON schema, and refusals."""

from __future__ import annotations

from typing import Any, TypeVar

from mcp.types import CallToolResult
from pydantic import BaseModel, ConfigDict, ValidationError

from agentdeck.mcp.envelope import from_validation

M = TypeVar("M", bound=BaseModel)


class Args(BaseModel):
    """Base of every tool's arguments: unknown names are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def input_schema(model: type[BaseModel], aliases: dict[str, list[str]]) -> dict[str, Any]:
    """``model``'s JSON schema, with alias properties and "one of the names is required"."""
    schema = model.model_json_schema(mode="validation", by_alias=False)
    schema.pop("title", None)
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
    schema["additionalProperties"] = False
    return schema


def accepted(model: type[BaseModel], aliases: dict[str, list[str]]) -> list[str]:
    """Every argument name ``model`` takes, aliases included."""
    names = list(model.model_fields)
    for alts in aliases.values():
        names.extend(alts)
    return names


def validated(
    model: type[M], aliases: dict[str, list[str]], arguments: dict[str, Any]
) -> M | CallToolResult:
    """``arguments`` parsed by ``model``, or the refusal envelope saying what is wrong."""
    try:
        return model.model_validate(arguments)
    except ValidationError as exc:
        return from_validation(exc, accepted(model, aliases))
