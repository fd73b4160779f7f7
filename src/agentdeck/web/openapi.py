"""``/api/openapi.json``: the OpenAPI 3.1 document of the REST operations, built from the
same declarations that serve them (request models, answer documents, scopes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from agentdeck import __version__

if TYPE_CHECKING:
    from agentdeck.web.api import Operation

REF = "#/components/schemas/{model}"
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "description": "e.g. invalid_input, not_found"},
                "message": {"type": "string", "description": "what was wrong, what is accepted"},
                "details": {},
            },
        }
    },
}
QUERY: dict[str, dict[str, Any]] = {
    "status": {"type": "string", "description": "statuses, comma-separated"},
    "limit": {"type": "integer", "minimum": 1},
    "cursor": {"type": "string"},
    "after": {"type": "integer", "minimum": 0},
    "task": {"type": "string", "description": "one task's events only"},
}


def _schemas(ops: Sequence[Operation]) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    models: list[tuple[type[BaseModel], Any]] = []
    for op in ops:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.answer is not None:
            models.append((op.answer, "serialization"))
    refs, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    names: dict[tuple[str, str], Any] = {
        (m.__name__, str(mode)): ref for (m, mode), ref in refs.items()
    }
    return names, top.get("$defs", {})


def _body_schema(model: type[BaseModel], ref: dict[str, Any], defs: dict[str, Any]) -> Any:
    """The request model without ``id`` (the path carries it)."""
    name = ref["$ref"].rsplit("/", 1)[-1]
    schema = dict(defs[name])
    if "id" in schema.get("properties", {}):
        schema["properties"] = {k: v for k, v in schema["properties"].items() if k != "id"}
        schema["required"] = [r for r in schema.get("required", []) if r != "id"]
    return schema


def openapi_document(ops: Sequence[Operation]) -> dict[str, Any]:
    refs, defs = _schemas(ops)
    error = {"description": "an error", "content": {"application/json": {"schema": ERROR}}}
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        params: list[dict[str, Any]] = []
        if "{id}" in op.path:
            params.append(
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                }
            )
        if "{name}" in op.path:
            params.append(
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            )
            params.append(
                {
                    "name": "arguments",
                    "in": "query",
                    "style": "form",
                    "explode": True,
                    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
                }
            )
        params += [{"name": q, "in": "query", "schema": QUERY[q]} for q in op.query]
        if op.stream:
            params.append(
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "schema": {"type": "integer", "minimum": 0},
                }
            )
            ok: dict[str, Any] = {
                "description": "an endless event stream",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        else:
            assert op.answer is not None
            ok = {
                "description": "ok",
                "content": {
                    "application/json": {"schema": refs[(op.answer.__name__, "serialization")]}
                },
            }
        entry: dict[str, Any] = {
            "operationId": op.handler.__name__,
            "summary": op.summary,
            "x-scope": op.scope,
            "parameters": params,
            "responses": {str(op.status): ok, "default": error},
        }
        if op.body is not None:
            ref = refs[(op.body.__name__, "validation")]
            entry["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": _body_schema(op.body, ref, defs)}},
            }
        paths.setdefault(f"/api{op.path}", {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agentdeck",
            "version": __version__,
            "description": "The REST face of agentdeck (docs/rest.md).",
        },
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
