"""Checkpoint cost and memory use over a multi-day run of 七侠镇 (offline mind).

Runs the world for ``--days`` game days with the default checkpoint interval
(60 game minutes) and, at the end of each day, reports:

- the latest checkpoint (``checkpoint.json``) size, the time to capture the state
  and write it (history delta included), and the time to load it and restore a
  fresh simulation from it (what ``luotuo-rpg resume`` does);
- the history folder's size and the time to reassemble the day's last history
  checkpoint (what ``luotuo-rpg fork`` does);
- the process's resident memory now and at its peak, with what grows inside it,
  beside the same run without checkpoints (a child process), and the transient
  working set of one checkpoint (tracemalloc).

    python benchmarks/persistence.py [--days 3] [--world worlds/qixia_town.yaml]

Falls back to worlds/tiny.yaml (and says so) when 七侠镇 is absent.
Writes ``benchmarks/results/persistence.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

from luotuo_rpg.config import SimConfig  # noqa: E402
from luotuo_rpg.sim.checkpoint import LATEST_NAME, Checkpoint, Checkpointer, history_dir, load_history  # noqa: E402
from luotuo_rpg.sim.recorder import Recorder  # noqa: E402
from luotuo_rpg.sim.runner import Run, RunOptions  # noqa: E402
from luotuo_rpg.world.loader import load_world_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("benchmarks.persistence")


@dataclass
class DayRow:
    day: int
    tick: int
    wall_s: float
    memories: int
    checkpoint_mb: float
    capture_s: float
    write_s: float
    write_mean_s: float
    working_set_mb: float
    history_mb: float
    history_files: int
    frames_mb: float
    rss_mb: float
    peak_mb: float
    vectors_mb: float
    embed_cache: int
    lines_said: int
    load_s: float = 0.0
    restore_s: float = 0.0
    fork_load_s: float = 0.0
    rss_without_checkpoints_mb: float | None = None


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class TimedRun(Run):
    """A run that times every state capture."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.captures: list[float] = []

    def checkpoint(self, recorder: Recorder, wall_seconds: float | None = None) -> Checkpoint:
        started = time.perf_counter()
        checkpoint = super().checkpoint(recorder, wall_seconds)
        self.captures.append(time.perf_counter() - started)
        return checkpoint


def _working_set_mb(run: Run, recorder: Recorder, scratch: Path) -> float:
    """Python memory allocated at peak while capturing and writing one checkpoint (full history: the worst case)."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    tracemalloc.start()
    try:
        Checkpointer(scratch, 1).save(run.checkpoint(recorder))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    run.captures.pop()  # type: ignore[attr-defined]  # not one of the run's own checkpoints
    return peak / 2**20


async def measure(
    world: Path, days: int, seed: int, folder: Path, checkpoints: bool = True
) -> tuple[list[DayRow], str, float]:
    spec = load_world_spec(world)
    options = RunOptions(hours=24 * days, seed=seed, out=folder / "run", config=SimConfig(), checkpoints=checkpoints)
    run = TimedRun(spec, str(world), options)
    start_rss = _rss_mb()
    recorder = Recorder(run.out, run.meta())
    checkpointer = run.checkpointer()
    writes: list[float] = []
    if checkpointer is not None:
        original_save = checkpointer.save

        def timed_save(checkpoint: Checkpoint) -> None:
            started = time.perf_counter()
            original_save(checkpoint)
            writes.append(time.perf_counter() - started)

        checkpointer.save = timed_save  # type: ignore[method-assign]
        checkpointer.save(run.checkpoint(recorder))
    per_day = run.sim.world.clock.ticks_for_hours(24)
    rows = []
    started = time.perf_counter()
    for day in range(1, days + 1):
        day_writes = len(writes)
        await run.run_until(day * per_day, recorder, checkpointer)
        wall = time.perf_counter() - started
        gc.collect()
        rss, peak = _rss_mb(), _peak_mb()
        history = list(history_dir(run.out).iterdir()) if checkpointer else []
        latest_path = run.out / LATEST_NAME
        embedder = getattr(run.mind, "embedder", None)
        row = DayRow(
            day=day,
            tick=run.sim.tick,
            wall_s=wall,
            memories=sum(len(a.memory) for a in run.sim.agents),
            checkpoint_mb=latest_path.stat().st_size / 2**20 if checkpointer else 0.0,
            capture_s=run.captures[-1] if checkpointer else 0.0,
            write_s=writes[-1] if checkpointer else 0.0,
            write_mean_s=statistics.mean(writes[day_writes:]) if checkpointer else 0.0,
            working_set_mb=0.0,
            history_mb=sum(p.stat().st_size for p in history) / 2**20,
            history_files=len(history),
            frames_mb=(run.out / "frames.jsonl").stat().st_size / 2**20,
            rss_mb=rss,
            peak_mb=peak,
            vectors_mb=sum(a.memory._vectors.nbytes for a in run.sim.agents) / 2**20,
            embed_cache=len(getattr(embedder, "_cache", {})),
            lines_said=len(run.sim.lines_said),
        )
        if checkpointer is not None:
            row.working_set_mb = _working_set_mb(run, recorder, folder / "scratch")
            shutil.copy(
                latest_path, folder / f"latest-day{day}.json"
            )  # loaded after the run: loads must not inflate RSS
        rows.append(row)
        log.info("day %d done: %s", day, row)
    await run.mind.aclose()
    recorder.close()
    if checkpointer is not None:
        for row in rows:
            t0 = time.perf_counter()
            latest = load_latest_file(folder / f"latest-day{row.day}.json")
            t1 = time.perf_counter()
            fresh = Run(spec, str(world), options.model_copy(update={"out": folder / "restored"}))
            fresh.restore(latest)
            t2 = time.perf_counter()
            load_history(run.out, row.tick)
            t3 = time.perf_counter()
            row.load_s, row.restore_s, row.fork_load_s = t1 - t0, t2 - t1, t3 - t2
            del fresh, latest
    return rows, spec.world.name + f"（{len(spec.personas)} 人）", start_rss


def load_latest_file(path: Path) -> Checkpoint:
    return Checkpoint.model_validate_json(path.read_bytes())


def _rss_without_checkpoints(world: Path, days: int, seed: int) -> list[float] | None:
    """The same run with checkpoints off, in a fresh process: what checkpointing adds to RSS."""
    command = [sys.executable, __file__, "--rss-only", "--world", str(world), "--days", str(days), "--seed", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log.warning("baseline without checkpoints failed: %s", done.stderr[-500:])
        return None
    return [float(v) for v in json.loads(done.stdout.strip().splitlines()[-1])]


def render(
    rows: list[DayRow],
    world: str,
    world_path: Path,
    fallback: bool,
    days: int,
    seed: int,
    start_rss: float,
    load: tuple[float, float],
) -> str:
    lines = [
        f"# Persistence: checkpoints and memory over {days} game days of {world}",
        "",
        describe_machine(),
        f"Command: `python benchmarks/persistence.py --days {days} --world {world_path.relative_to(ROOT)} --seed "
        f"{seed}`;"
        " offline mind; checkpoint every 60 game minutes (default); history kept for fork.",
        f"Load average (1 min) before / after: {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} cores"
        + (
            " — the machine was busy with other work, so wall times are upper bounds."
            if max(load) > (os.cpu_count() or 1) * 0.75
            else "."
        ),
    ]
    if fallback:
        lines.append("**七侠镇 (worlds/qixia_town.yaml) was not found: these numbers are for tiny.yaml.**")
    lines += [
        "",
        "## Checkpoints",
        "",
        "| after day | tick | wall s | memories | checkpoint.json MB | capture s | write s (day mean) | working "
        "set MB |"
        " load s | restore s | history MB (files) | fork load s | frames MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.day} | {r.tick} | {r.wall_s:.1f} | {r.memories:,} | {r.checkpoint_mb:.2f} | {r.capture_s:.3f} |"
            f" {r.write_s:.3f} ({r.write_mean_s:.3f}) | {r.working_set_mb:.0f} | {r.load_s:.3f} | {r.restore_s:.3f} |"
            f" {r.history_mb:.2f} ({r.history_files}) | {r.fork_load_s:.3f} | {r.frames_mb:.2f} |"
        )
    lines += [
        "",
        "- *capture*: `Simulation.get_state()` and friends (embeddings to base64); *write*: `checkpoint.json` "
        "(compact JSON,"
        " temp file + fsync + rename) plus the gzipped history delta, the day's last one and the mean over the "
        "day's 24;"
        " *working set*: Python memory allocated at peak by one capture + write (tracemalloc), all of it freed after;"
        " *load*: parse `checkpoint.json`; *restore*: a fresh simulation built and set from it (resume does exactly "
        "this);"
        " *fork load*: reassemble that day's last history checkpoint from its chain of gzipped deltas.",
        f"- History keeps every checkpoint ({rows[-1].history_files} files) in {rows[-1].history_mb:.2f} MB — each file"
        f" holds only the memories added since the one before — against {rows[-1].checkpoint_mb:.2f} MB for one full"
        " checkpoint.",
        "",
        "## Memory",
        "",
        "| after day | memories | embedding matrices MB | embedder cache entries | lines said | RSS MB | peak RSS MB |"
        " RSS without checkpoints MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        baseline = f"{r.rss_without_checkpoints_mb:.0f}" if r.rss_without_checkpoints_mb is not None else "—"
        lines.append(
            f"| {r.day} | {r.memories:,} | {r.vectors_mb:.1f} | {r.embed_cache:,} | {r.lines_said:,} | {r.rss_mb:.0f} |"
            f" {r.peak_mb:.0f} | {baseline} |"
        )
    first, last = rows[0], rows[-1]
    span = max(len(rows) - 1, 1)
    per_day_rss = (last.rss_mb - first.rss_mb) / span
    per_day_mem = (last.memories - first.memories) / span
    lines += [
        "",
        f"- {start_rss:.0f} MB resident before the first tick (interpreter, numpy, pydantic, the world). After day "
        "1 RSS"
        f" grows by about {per_day_rss:.0f} MB per game day while the memory streams grow by about {per_day_mem:,.0f}"
        " nodes a day.",
        "- What grows is the simulation's own state, linear in game time; checkpointing adds a transient proportional"
        " to that state, not a leak:",
        "  - memory streams keep every node, as in the paper (retrieval ranks them; nothing is forgotten): linear "
        "in game"
        " time. A retention policy (e.g. dropping low-importance observations older than N days) would bound them; none"
        " is implemented yet;",
        "  - the offline hash embedder caches every distinct text it has embedded (≈ 1 KiB each);",
        "  - `Simulation.lines_said` keeps every line said (only its first 12 and last 200 are checkpointed);",
        "  - checkpointing retains nothing between checkpoints (the checkpointer keeps per-agent counts, the recorder a"
        " byte count), but each checkpoint needs a transient working set proportional to the state (the column above);"
        " the allocator keeps part of that high-water mark resident, which is the gap between RSS with and without"
        " checkpoints.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", type=Path, default=ROOT / "worlds" / "qixia_town.yaml")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "persistence.md")
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)  # the baseline child process
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    world = args.world.resolve()
    fallback = False
    if not world.exists():
        log.warning("%s not found: falling back to worlds/tiny.yaml", world)
        world, fallback = ROOT / "worlds" / "tiny.yaml", True
    with tempfile.TemporaryDirectory(prefix="persistence-") as folder:
        if args.rss_only:
            rows, _, _ = asyncio.run(measure(world, args.days, args.seed, Path(folder), checkpoints=False))
            sys.stdout.write(json.dumps([round(r.rss_mb, 1) for r in rows]) + "\n")
            return 0
        load_before = os.getloadavg()[0]
        baseline = _rss_without_checkpoints(world, args.days, args.seed)
        rows, name, start_rss = asyncio.run(measure(world, args.days, args.seed, Path(folder)))
    for row, rss in zip(rows, baseline or []):
        row.rss_without_checkpoints_mb = rss
    text = render(rows, name, world, fallback, args.days, args.seed, start_rss, (load_before, os.getloadavg()[0]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
