"""Every benchmark runs once at ``--size tiny`` and prints its rows (no timing asserted).

``python -m benchmarks`` runs as a subprocess from the repository root (the root is
not on pytest's path, and ``tests/benchmarks`` must not shadow the package).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.paths import REPO


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AGENTDECK_")}


def test_every_benchmark_prints_numeric_rows_at_tiny_size(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    names = listed.stdout.split()
    assert names, listed.stderr
    rows_path = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "tiny", "--json", str(rows_path)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(rows_path.read_text())
    by_bench: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_bench.setdefault(str(row["bench"]), []).append(row)
    assert sorted(by_bench) == sorted(names)
    for name, bench_rows in by_bench.items():
        assert bench_rows, name
        for row in bench_rows:
            assert row["status"] in ("ok", "n/a"), (name, row)
            if row["status"] == "ok":
                value = row["measured"]
                assert isinstance(value, int | float) and math.isfinite(value), (name, row)
                assert row["figure"] in done.stdout, (name, row["figure"])
