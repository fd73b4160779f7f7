"""agentdeck's benchmarks: each figure of issue 11 against its baseline (``make bench``).

    .venv/bin/python -m benchmarks [--size tiny|full] [--only NAME] [--json PATH]

See docs/performance.md for what each figure means.
"""
