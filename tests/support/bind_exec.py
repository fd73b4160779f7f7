"""``bind_exec.py SRC DST [SRC DST …] -- ARGV…``: bind-mount each SRC over DST in this
process's mount namespace, then exec ARGV (run it under ``unshare --mount``).

`support.netns.Lan.on` uses it to give a host a checkout of its own at a path the other
hosts see differently, as separate machines would.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(args: list[str]) -> None:
    split = args.index("--")
    pairs, argv = args[:split], args[split + 1 :]
    for src, dst in zip(pairs[::2], pairs[1::2], strict=True):
        subprocess.run(["mount", "--bind", src, dst], check=True)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
