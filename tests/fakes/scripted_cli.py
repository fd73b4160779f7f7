#!/usr/bin/env python3
"""A tiny agent CLI for tests of agentdeck's generic command adapter (stdlib only).

    scripted_cli.py [--jsonl] [--resume <session>] <instructions>
    scripted_cli.py --version                          prints "scripted-cli 1.2.3"

Prints ``got: <instructions>`` (the argument exactly as received, one line per
line of it), then runs directives found in the instructions, one per line:

    WRITE <relpath> <text>     write <text> to <cwd>/<relpath>
    SLEEP <seconds>            run `sleep <seconds>` as a child process and wait for it
    FAIL <code> <message>      print <message> to stderr and exit with <code>

With ``--jsonl`` every line is JSON: ``{"session": <id>, "msg": {"text": ...}}``, and the
history of each session lives in ``<cwd>/.scripted/<id>.txt``: ``--resume <id>``
appends to it and says ``history: <n>`` (instructions seen before this one).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path


def main(argv: list[str]) -> int:
    if argv == ["--version"]:
        print("scripted-cli 1.2.3")
        return 0
    jsonl = "--jsonl" in argv
    argv = [a for a in argv if a != "--jsonl"]
    session = None
    if argv[:1] == ["--resume"]:
        session, argv = argv[1], argv[2:]
    if len(argv) != 1:
        print(f"expected one instructions argument, got {len(argv)}: {argv!r}", file=sys.stderr)
        return 2
    instructions = argv[0]
    history_dir = Path.cwd() / ".scripted"
    resumed = session is not None
    session = session or uuid.uuid4().hex[:12]
    history = history_dir / f"{session}.txt"
    seen = history.read_text().count("\x00") if resumed and history.exists() else 0

    def say(text: str) -> None:
        if jsonl:
            print(json.dumps({"session": session, "msg": {"text": text}}), flush=True)
        else:
            print(text, flush=True)

    for line in instructions.splitlines() or [""]:
        say(f"got: {line}")
    if resumed:
        say(f"history: {seen}")
    if jsonl:
        history_dir.mkdir(exist_ok=True)
        with history.open("a") as f:
            f.write(instructions + "\x00")
    for line in instructions.splitlines():
        word, _, rest = line.partition(" ")
        if word == "WRITE":
            rel, _, text = rest.partition(" ")
            (Path.cwd() / rel).write_text(text)
            say(f"wrote {rel}")
        elif word == "SLEEP":
            subprocess.run(["sleep", rest.strip() or "1"], check=False)
        elif word == "FAIL":
            code, _, message = rest.partition(" ")
            print(message, file=sys.stderr, flush=True)
            return int(code or 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
