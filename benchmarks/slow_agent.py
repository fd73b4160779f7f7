#!/usr/bin/env python3
"""A command-line agent that prints lines slowly (stdlib only), for the benchmarks.

Declared as a command agent (``output = "text"``: every stdout line is an assistant
``message`` event), it gets its whole instructions as one argument::

    [agents.ticker]
    command = ["python3", "benchmarks/slow_agent.py", "{instructions}"]

Instructions: ``--count N --every SECONDS [--go FILE] [--stop FILE] [--log FILE]
[--width CHARS]``. It waits for ``--go`` to exist (if given), then prints N lines
``tick I T ...`` one every SECONDS (T: ``time.time()`` as it prints), appending
``I T`` to ``--log`` too; it ends early once ``--stop`` exists, and at once when
stdout is closed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--every", type=float, default=0.1)
    parser.add_argument("--go")
    parser.add_argument("--stop")
    parser.add_argument("--log")
    parser.add_argument("--width", type=int, default=40)
    args = parser.parse_args(shlex.split(" ".join(argv)))
    if args.go:
        deadline = time.monotonic() + 120
        while not os.path.exists(args.go):
            if time.monotonic() > deadline:
                print("slow_agent: no go file", file=sys.stderr)
                return 1
            time.sleep(0.002)
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115
    pad = "x" * max(0, args.width - 30)
    next_at = time.monotonic()
    for i in range(1, args.count + 1):
        if args.stop and os.path.exists(args.stop):
            break
        now = time.time()
        if log:
            log.write(f"{i} {now:.6f}\n")
            log.flush()
        sys.stdout.write(f"tick {i} {now:.6f} {pad}\n")
        sys.stdout.flush()
        next_at += args.every
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print("slow_agent: done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        os._exit(141)
