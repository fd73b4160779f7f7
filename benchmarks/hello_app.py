"""The baseline server: a bare Starlette hello app under uvicorn (what any ASGI app costs).

``GET /health`` answers ``{"status": "ok"}``; ``POST /mcp`` answers a JSON-RPC request
with a tiny result (the same HTTP and JSON cost as an MCP request, and nothing else).

    python benchmarks/hello_app.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def rpc(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "result": {"hello": "world"}})


app = Starlette(routes=[Route("/health", health), Route("/mcp", rpc, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", ws="none")
