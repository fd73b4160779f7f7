"""An agent CLI that misbehaves on request (its one argument says how), for the fault suite.

daemon   start a daemon that double-forks into a new session and empties its
         environment (its pid in ./daemon.pid), print a line, exit 0
garbage  print non-UTF-8 bytes, a NUL, and a last line without a newline; exit 0
huge N   print N lines as fast as it can; exit 0
silent   print nothing; exit 0
crash N  print a line, exit with code N
hang     print a line, then sleep until killed
"""

from __future__ import annotations

import os
import sys
import time

word, _, arg = sys.argv[1].partition(" ")
out = sys.stdout.buffer
if word == "daemon":
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.environ.clear()
            for fd in (0, 1, 2):
                os.close(fd)
            with open("daemon.pid", "w") as f:
                f.write(str(os.getpid()))
            time.sleep(300)
        os._exit(0)
    os.wait()
    out.write(b"daemon started\n")
elif word == "garbage":
    out.write(b"ok line\n\xff\xfe broken \x00 bytes\n\x80\x81 no newline at the end")
elif word == "huge":
    line = b"x" * 60 + b"\n"
    for _ in range(int(arg)):
        out.write(line)
elif word == "crash":
    out.write(b"about to crash\n")
    out.flush()
    sys.exit(int(arg))
elif word == "hang":
    out.write(b"hanging\n")
    out.flush()
    time.sleep(3600)
elif word != "silent":
    sys.exit(f"unknown mode {word!r}")
