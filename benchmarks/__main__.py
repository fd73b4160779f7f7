"""Run the benchmarks and print one table: every figure against its target and baseline.

    .venv/bin/python -m benchmarks                   # --size full: issue 11's sizes
    .venv/bin/python -m benchmarks --size tiny       # a smoke run, seconds per benchmark
    .venv/bin/python -m benchmarks --only requests,load --json rows.json
    .venv/bin/python -m benchmarks --list             # the benchmark names

Exit status 1 if a benchmark broke (a missed target is not an error).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
import traceback
from typing import cast

import anyio

from benchmarks.harness import Row, Size, failed, innermost, print_table

# name -> module, in the order they run (the heaviest last).
BENCHMARKS = {
    "startup": "benchmarks.bench_startup",
    "requests": "benchmarks.bench_requests",
    "ingest": "benchmarks.bench_events",
    "wait": "benchmarks.bench_wait",
    "subscribers": "benchmarks.bench_subscribers",
    "remote": "benchmarks.bench_remote",
    "load": "benchmarks.bench_load",
    "streaming": "benchmarks.bench_streaming",
    "notify": "benchmarks.bench_notify",
    "worktree": "benchmarks.bench_worktree",
    "codex": "benchmarks.bench_codex",
}


async def run_one(name: str, size: Size) -> list[Row]:
    started = time.perf_counter()
    print(f"[{name}] running at size {size} ...", file=sys.stderr, flush=True)
    try:
        module = importlib.import_module(BENCHMARKS[name])
        rows = cast(list[Row], await module.run(size))
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        leaf = innermost(exc)
        rows = [failed(name, "—", f"{type(leaf).__name__}: {leaf}".splitlines()[0])]
    for row in rows:
        row.bench = name
    took = time.perf_counter() - started
    print(f"[{name}] {len(rows)} rows in {took:.1f} s", file=sys.stderr, flush=True)
    return rows


async def main(names: list[str], size: Size, json_path: str | None) -> int:
    rows: list[Row] = []
    for name in names:
        rows += await run_one(name, size)
    print_table(rows, title=f"agentdeck benchmarks (size {size})")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as out:
            json.dump([row.dump() for row in rows], out, indent=1)
    return 1 if any(row.status == "error" for row in rows) else 0


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--size", choices=["tiny", "full"], default="full")
    parser.add_argument(
        "--only", help=f"comma-separated benchmark names: {', '.join(BENCHMARKS)}", default=""
    )
    parser.add_argument("--json", dest="json_path", help="also write the rows as JSON here")
    parser.add_argument("--list", action="store_true", help="print the benchmark names, one a line")
    args = parser.parse_args()
    if args.list:
        print("\n".join(BENCHMARKS))
        return
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    logging.disable(logging.WARNING)  # in-process servers would log every failing send
    sys.exit(anyio.run(main, names, cast(Size, args.size), args.json_path))


if __name__ == "__main__":
    cli()
