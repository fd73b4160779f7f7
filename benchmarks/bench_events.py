"""Event throughput and spawn latency of the full path, against the fake Claude CLI.

(1) One turn in which the fake CLI (tests/fakes/fake_claude_cli.py) prints N
    stream-json assistant lines as fast as it can; they go core -> claude-agent-sdk
    -> ClaudeAgent adapter -> TurnRunner -> SQLite.  The time each batch is persisted
    is taken at ``Bus.publish`` (called right after the batch's transaction), so the
    rates are "events stored per second": for the first 10k, for all N, and for the
    last 10k (per-event time must not grow with the events already stored).
    Baseline, same process: ``SqliteStore.append`` / ``SqliteStore.save`` of N pre-built
    events in batches of exactly the sizes the full path used.
(2) Time from ``core.create()`` returning to the agent being spawned, over ~20
    sequential one-turn tasks: to the ``turn_started`` event (taken right after the
    CLI process is created), and to the first line of the fake CLI's Python code (it
    logs ``time.time()`` to ``$HOME/.fake-claude/spawns.jsonl``); p50 / p90.

Prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_events.py [N=100000] [TASKS=20] [--profile out.prof]

``python -m benchmarks --only ingest`` runs (1) through `run` instead, interleaved with
its ``Store.append`` baseline over a few rounds, plus 10 streams at once, and prints
issue 11's rows (one stream's events/s and CPU per event, 10 streams' total).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from agentdeck.app import Deck
from agentdeck.config import Settings, load_settings
from agentdeck.core import Change, Core, CreateTask, EventItem
from agentdeck.core.runner import MAX_BATCH, SUMMARY_COLUMNS
from agentdeck.model import EventKind, NewEvent, TaskStatus
from agentdeck.store import SqliteStore

if TYPE_CHECKING:
    from benchmarks.harness import Row

FAKE_CLI = Path(__file__).resolve().parent.parent / "tests" / "fakes" / "fake_claude_cli.py"
WINDOW = 10_000


def make_settings(base: Path, name: str, **overrides: Any) -> Settings:
    project = base / "project"
    project.mkdir(exist_ok=True)
    env = {
        "HOME": str(base / "home"),
        "AGENTDECK_HOME": str(base / name),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_CLAUDE_CLI_PATH": str(FAKE_CLI),
        "AGENTDECK_CLAUDE_MODEL": "claude-sonnet-4-5",
    }
    return load_settings(env=env, **overrides)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Rates:
    """Persist times per seq, from (time, last_seq) marks taken at each publish."""

    def __init__(self, marks: list[tuple[float, int]], first_seq: int) -> None:
        self.marks = marks
        self.first = first_seq  # seq of the first stream event (session)

    def at(self, n: int) -> float:
        """When the n-th stream event (1-based) was stored."""
        seq = self.first + n - 1
        return next(t for t, last in self.marks if last >= seq)

    def rate(self, a: int, b: int) -> float:
        """Events per second from event a (exclusive; 0 = the first batch's start) to b."""
        start = self.start if a == 0 else self.at(a)
        return (b - a) / (self.at(b) - start)

    @property
    def start(self) -> float:
        # The first stream batch's store time is the origin; its events count in "first 10k".
        return self.at(1)


async def settled(core: Core, task_id: str, *statuses: TaskStatus) -> None:
    """Return once the task's status is one of ``statuses`` (re-read on every change)."""
    async with core.watch() as changes:
        while (await core.get(task_id)).status not in statuses:
            await changes.get()


async def events_of(core: Core, task_id: str) -> list[EventItem]:
    """Every event of the task, in order (a page of at most 1000 at a time)."""
    out: list[EventItem] = []
    after = 0
    while True:
        page = await core.events(task_id, after)
        out.extend(page.events)
        if not page.more:
            return out
        after = page.last_seq


async def full_path(settings: Settings, n: int, window: int = WINDOW) -> dict[str, Any]:
    marks: list[tuple[float, int]] = []
    async with Deck(settings).running() as deck:
        # A benchmark may reach inside: the store time is the publish itself, which a
        # watcher would only see when it next runs (after the runner's next batch, maybe).
        bus = deck.core._bus
        publish = bus.publish

        def recording(change: Change) -> None:
            marks.append((time.perf_counter(), change.last_seq))
            publish(change)

        bus.publish = recording  # type: ignore[method-assign]
        begin, cpu = time.perf_counter(), time.process_time()
        task = await deck.core.create(CreateTask(title="Bench", instructions=f"EMIT {n}"))
        await settled(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
        wall, cpu = time.perf_counter() - begin, time.process_time() - cpu
        done = await deck.core.get(task.id)
        # Every stream event with its datetime, and the raw count: read the store itself.
        reader = SqliteStore(settings.db_path)
        try:
            stream = await reader.events(task.id, kinds=[EventKind.SESSION, EventKind.MESSAGE])
            total = await reader.count_events(task.id)
        finally:
            reader.close()
        messages = len(stream) - 1
    # Transactions that appended events, and how many each appended (publishes of a
    # status change with no event carry seq 0: skip them).
    sizes, last = [], 0
    for _, seq in marks:
        if seq > last:
            sizes.append(seq - last)
            last = seq
    first = stream[0].seq
    rates = Rates([(t, s) for t, s in marks if s], first)
    # When the adapter emitted each event (NewEvent.ts is set as it is built): the
    # producer side alone (fake CLI -> SDK -> message_events), without the store.
    made = [e.ts.timestamp() for e in stream]

    def made_rate(a: int, b: int) -> float:
        return (b - a) / (made[b - 1] - made[max(a - 1, 0)])

    lag = max(rates.at(i + 1) - rates.at(1) - (made[i] - made[0]) for i in range(0, n, 1000))
    return {
        "status": str(done.status),
        "error": done.error,
        "wall": wall,
        "cpu": cpu,
        "messages": messages,
        "total": total,
        "first_10k": rates.rate(0, window),
        "all": rates.rate(0, n),
        "last_10k": rates.rate(n - window, n),
        "sizes": sizes,
        "made": {
            "first_10k": made_rate(0, window),
            "all": made_rate(0, n),
            "last_10k": made_rate(n - window, n),
        },
        "lag": lag,
    }


async def baseline(
    settings: Settings, n: int, sizes: list[int], save: bool, window: int = WINDOW
) -> dict[str, float]:
    """SqliteStore.append (or .save with the runner's columns) of n pre-built events,
    in transactions of ``sizes`` (then of MAX_BATCH once they run out)."""
    store = SqliteStore(settings.db_path)
    try:
        async with Deck(settings).running() as deck:
            # a task row to append to
            task = await deck.core.create(CreateTask(title="Baseline", instructions="SAY unused"))
            await settled(deck.core, task.id, TaskStatus.WAITING)
        events = [
            NewEvent(EventKind.MESSAGE, {"role": "assistant", "text": f"line {i}"}, 1)
            for i in range(1, n + 1)
        ]
        plan: list[int] = []
        left = n
        for size in sizes:
            if left <= 0:
                break
            plan.append(min(size, left))
            left -= plan[-1]
        while left > 0:
            plan.append(min(MAX_BATCH, left))
            left -= plan[-1]
        row = await store.get(task.id)
        assert row is not None
        done_at: list[float] = []
        pos = 0
        start, cpu = time.perf_counter(), time.process_time()
        for size in plan:
            batch = events[pos : pos + size]
            if save:
                await store.save(row, batch, SUMMARY_COLUMNS)
            else:
                await store.append(task.id, batch)
            pos += size
            done_at.append(time.perf_counter())
        ends = [0, *list(_cumsum(plan))]

        def at(k: int) -> float:
            return next(t for t, e in zip(done_at, ends[1:], strict=True) if e >= k)

        total = done_at[-1] - start
        return {
            "first_10k": window / (at(window) - start),
            "all": n / total,
            "last_10k": window / (at(n) - at(n - window)),
            "cpu": time.process_time() - cpu,
        }
    finally:
        store.close()


def _cumsum(values: list[int]) -> list[int]:
    out, acc = [], 0
    for v in values:
        acc += v
        out.append(acc)
    return out


async def spawn_latency(settings: Settings, tasks: int) -> dict[str, list[float]]:
    spawns_file = Path(os.environ["HOME"]) / ".fake-claude" / "spawns.jsonl"
    to_event: list[float] = []
    to_python: list[float] = []
    to_running: list[float] = []
    to_done: list[float] = []
    async with Deck(settings).running() as deck:
        for i in range(tasks):
            task = await deck.core.create(CreateTask(title=f"Spawn {i}", instructions="SAY hi"))
            created = time.time()
            await settled(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
            done = time.time()
            events = await events_of(deck.core, task.id)
            started = next(e for e in events if e.kind == EventKind.TURN_STARTED)
            running = next(
                e for e in events if e.kind == EventKind.STATUS and e.data["to"] == "in_progress"
            )
            spawn = next(
                entry
                for entry in map(json.loads, spawns_file.read_text().splitlines())
                if entry["marker"] == task.id
            )
            to_running.append(datetime.fromisoformat(running.ts).timestamp() - created)
            to_event.append(datetime.fromisoformat(started.ts).timestamp() - created)
            to_python.append(spawn["t"] - created)
            to_done.append(done - created)
    return {
        "create -> status in_progress": to_running,
        "create -> turn_started (process created)": to_event,
        "create -> fake CLI's first Python line": to_python,
        "create -> task waiting (whole SAY turn)": to_done,
    }


async def main(n: int, tasks: int, profile: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        base = Path(tmp)
        (base / "home").mkdir()
        os.environ["HOME"] = str(base / "home")
        # The fake's "#!/usr/bin/env python3" must find a real interpreter, not a shim.
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        settings = make_settings(base, "state")

        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        full = await full_path(settings, n)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)  # type: ignore[arg-type]
        sizes = full["sizes"]
        append = await baseline(make_settings(base, "baseline-append"), n, sizes, save=False)
        save = await baseline(make_settings(base, "baseline-save"), n, sizes, save=True)
        steady = await baseline(make_settings(base, "baseline-steady"), n, [], save=False)
        latency = await spawn_latency(make_settings(base, "spawn"), tasks)

    print(f"\n(1) {n:,} stream-json lines in one turn: events stored per second")
    print(
        f"    task {full['status']}{' ' + str(full['error']) if full['error'] else ''}; "
        f"{full['messages']:,} message events, {full['total']:,} in all; create -> waiting "
        f"{full['wall']:.2f} s wall, {full['cpu']:.2f} s CPU of this process "
        f"({full['cpu'] / n * 1e6:.1f} us/event); load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"    {len(sizes)} store transactions; events per transaction: mean "
        f"{statistics.mean(sizes):.0f}, median {statistics.median(sizes):.0f}, max {max(sizes)} "
        f"(runner MAX_BATCH {MAX_BATCH}); largest backlog (emitted, not yet stored) "
        f"{full['lag'] * 1000:.0f} ms"
    )
    print(f"    {'events/s':46} {'first 10k':>10} {'all':>10} {'last 10k':>10}")
    rows = [
        ("full path, stored (fake CLI -> SDK -> SQLite)", full),
        ("  same turn, emitted by the adapter", full["made"]),
        ("Store.append, the full path's batch sizes", append),
        ("Store.save (runner's columns), same sizes", save),
        (f"Store.append, {MAX_BATCH} per transaction", steady),
    ]
    for name, r in rows:
        print(f"    {name:46} {r['first_10k']:>10,.0f} {r['all']:>10,.0f} {r['last_10k']:>10,.0f}")
    ratios = [full[k] / append[k] for k in ("first_10k", "all", "last_10k")]
    print(f"    {'ratio full path / Store.append (same sizes)':46}", end="")
    print("".join(f" {r:>10.2f}" for r in ratios))
    print(
        f"    last 10k / first 10k: full path {full['last_10k'] / full['first_10k']:.2f} "
        f"(the tail drains the backlog), Store.append at {MAX_BATCH}/transaction "
        f"{steady['last_10k'] / steady['first_10k']:.2f}"
    )
    verdict = "met" if full["all"] >= 20_000 else "NOT met"
    print(f"    target >= 20,000 events/s on the full path (all): {verdict}")

    print(f"\n(2) spawn latency over {tasks} sequential tasks (ms)")
    print(f"    {'':44} {'p50':>8} {'p90':>8} {'max':>8}")
    for name, values in latency.items():
        ms = [v * 1000 for v in values]
        print(f"    {name:44} {pct(ms, 0.5):>8.1f} {pct(ms, 0.9):>8.1f} {max(ms):>8.1f}")
    print()


# -- python -m benchmarks: the rows of issue 11 -------------------------------------------

NAME = "ingest"
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"n": 4_000, "window": 2_000, "streams": 10, "rounds": 1},
    "full": {"n": 100_000, "window": WINDOW, "streams": 10, "rounds": 3},
}


async def streams(settings: Settings, n: int, k: int) -> dict[str, float]:
    """``k`` turns at once, each printing n/k lines: total events stored per second, from
    the first stream event stored to the last (and the CPU of this process per event)."""
    marks: list[tuple[float, str, int]] = []
    each = n // k
    async with Deck(settings).running() as deck:
        bus = deck.core._bus
        publish = bus.publish

        def recording(change: Change) -> None:
            marks.append((time.perf_counter(), change.task_id, change.last_seq))
            publish(change)

        bus.publish = recording  # type: ignore[method-assign]
        cpu = time.process_time()
        tasks = [
            await deck.core.create(CreateTask(title=f"Stream {i}", instructions=f"EMIT {each}"))
            for i in range(k)
        ]
        for task in tasks:
            await settled(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
        cpu = time.process_time() - cpu
        reader = SqliteStore(settings.db_path)
        firsts: list[float] = []
        lasts: list[float] = []
        try:
            for task in tasks:
                done = await deck.core.get(task.id)
                if done.status != TaskStatus.WAITING:
                    raise RuntimeError(f"stream task {done.status}: {done.error}")
                stream = await reader.events(task.id, kinds=[EventKind.SESSION])
                rates = Rates(
                    [(t, s) for t, tid, s in marks if tid == task.id and s], stream[0].seq
                )
                firsts.append(rates.at(1))
                lasts.append(rates.at(each))
        finally:
            reader.close()
    return {"all": k * each / (max(lasts) - min(firsts)), "cpu": cpu / (k * each)}


async def run(size: str) -> list[Row]:
    from benchmarks.harness import Row, isolated_env, p50

    sz = SIZES[size]
    n, window, k = sz["n"], sz["window"], sz["streams"]
    one: list[dict[str, Any]] = []
    append: list[dict[str, float]] = []
    many: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        base = Path(tmp)
        with isolated_env(base / "home"):
            for r in range(sz["rounds"]):  # interleaved: full path, Store.append, 10 streams
                full = await full_path(make_settings(base, f"full-{r}"), n, window)
                if full["status"] != str(TaskStatus.WAITING):
                    raise RuntimeError(
                        f"the full-path turn ended {full['status']}: {full['error']}"
                    )
                one.append(full)
                append.append(
                    await baseline(
                        make_settings(base, f"append-{r}"), n, full["sizes"], False, window
                    )
                )
                many.append(await streams(make_settings(base, f"streams-{r}", max_running=k), n, k))
    one_rate = p50([f["all"] for f in one])
    one_cpu = p50([f["cpu"] / n * 1e6 for f in one])
    many_rate = p50([m["all"] for m in many])
    return [
        Row(
            f"ingest, one stream of {n:,}: events stored/s (vs Store.append)",
            "≥ 20,000/s",
            one_rate,
            unit="ev/s",
            baseline=p50([a["all"] for a in append]),
            met=one_rate >= 20_000,
        ),
        Row(
            "ingest CPU per event, one stream (vs Store.append)",
            "≤ 40 µs",
            one_cpu,
            unit="µs",
            baseline=p50([a["cpu"] / n * 1e6 for a in append]),
            met=one_cpu <= 40,
        ),
        Row(
            f"ingest, {k} streams at once: total events/s (vs one stream)",
            "≥ 0.8× one stream",
            many_rate,
            unit="ev/s",
            baseline=one_rate,
            met=many_rate >= 0.8 * one_rate,
            note=f"CPU {p50([m['cpu'] for m in many]) * 1e6:.1f} µs/event",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("tasks", nargs="?", type=int, default=20)
    parser.add_argument("--profile", help="write a cProfile of the full-path turn here")
    args = parser.parse_args()
    if args.n < 2 * WINDOW:
        parser.error(f"n must be at least {2 * WINDOW}")
    logging.disable(logging.WARNING)
    anyio.run(main, args.n, args.tasks, args.profile)
