"""Checkpoint cost and memory use over a multi-day run of 七侠镇 (offline mind).

Runs the world for ``--days`` game days with the default checkpoint interval
(60 game minutes) and, at the end of each day, reports:

- the latest checkpoint (``checkpoint.json``) size, the time to capture the state
  and write it (history delta included), and the time to load it and restore a
  fresh simulation from it (what ``luotuo-rpg resume`` does);
- the history folder's size and the time to reassemble the day's last history
  checkpoint (what ``luotuo-rpg fork`` does);
- the process's resident memory now and at its peak, with what grows inside it.

    python benchmarks/persistence.py [--days 3] [--world worlds/qixia_town.yaml]

Falls back to worlds/tiny.yaml (and says so) when 七侠镇 is absent.
Writes ``benchmarks/results/persistence.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

from luotuo_rpg.config import SimConfig  # noqa: E402
from luotuo_rpg.sim.checkpoint import Checkpoint, history_dir, load_history, load_latest  # noqa: E402
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
    load_s: float
    restore_s: float
    history_mb: float
    history_files: int
    fork_load_s: float
    frames_mb: float
    rss_mb: float
    peak_mb: float
    vectors_mb: float
    embed_cache: int
    lines_said: int


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class TimedRun(Run):
    """A run that times every state capture and checkpoint write."""

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.captures: list[float] = []

    def checkpoint(self, recorder: Recorder, wall_seconds: float | None = None) -> Checkpoint:
        started = time.perf_counter()
        checkpoint = super().checkpoint(recorder, wall_seconds)
        self.captures.append(time.perf_counter() - started)
        return checkpoint


async def measure(world: Path, days: int, seed: int, folder: Path) -> tuple[list[DayRow], str, float]:
    spec = load_world_spec(world)
    options = RunOptions(hours=24 * days, seed=seed, out=folder / "run", config=SimConfig())
    run = TimedRun(spec, str(world), options)
    start_rss = _rss_mb()
    recorder = Recorder(run.out, run.meta())
    checkpointer = run.checkpointer()
    assert checkpointer is not None
    writes: list[float] = []
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
        latest_path = run.out / "checkpoint.json"
        t0 = time.perf_counter()
        latest = load_latest(run.out)
        t1 = time.perf_counter()
        assert latest is not None and latest.tick == run.sim.tick
        fresh = Run(spec, str(world), options.model_copy(update={"out": folder / "restored"}))
        fresh.restore(latest)
        t2 = time.perf_counter()
        fork_start = time.perf_counter()
        load_history(run.out, latest.tick)
        fork_load = time.perf_counter() - fork_start
        del fresh, latest
        history = list(history_dir(run.out).iterdir())
        embedder = getattr(run.mind, "embedder", None)
        rows.append(
            DayRow(
                day=day,
                tick=run.sim.tick,
                wall_s=wall,
                memories=sum(len(a.memory) for a in run.sim.agents),
                checkpoint_mb=latest_path.stat().st_size / 2**20,
                capture_s=run.captures[-1],
                write_s=writes[-1],
                write_mean_s=statistics.mean(writes[day_writes:]),
                load_s=t1 - t0,
                restore_s=t2 - t1,
                history_mb=sum(p.stat().st_size for p in history) / 2**20,
                history_files=len(history),
                fork_load_s=fork_load,
                frames_mb=(run.out / "frames.jsonl").stat().st_size / 2**20,
                rss_mb=_rss_mb(),
                peak_mb=_peak_mb(),
                vectors_mb=sum(a.memory._vectors.nbytes for a in run.sim.agents) / 2**20,
                embed_cache=len(getattr(embedder, "_cache", {})),
                lines_said=len(run.sim.lines_said),
            )
        )
        log.info("day %d done: %s", day, rows[-1])
    await run.mind.aclose()
    recorder.close()
    return rows, spec.world.name + f"（{len(spec.personas)} 人）", start_rss


def render(rows: list[DayRow], world: str, world_path: Path, fallback: bool, days: int, seed: int, start_rss: float) -> str:
    lines = [
        f"# Persistence: checkpoints and memory over {days} game days of {world}",
        "",
        describe_machine(),
        f"Command: `python benchmarks/persistence.py --days {days} --world {world_path.relative_to(ROOT)} --seed {seed}`;"
        " offline mind; checkpoint every 60 game minutes (default); history kept for fork.",
    ]
    if fallback:
        lines.append("**七侠镇 (worlds/qixia_town.yaml) was not found: these numbers are for tiny.yaml.**")
    lines += [
        "",
        "| after day | tick | wall s | memories | checkpoint.json MB | capture s | write s (day mean) | load s | restore s |"
        " history MB (files) | fork load s | frames MB | RSS MB | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.day} | {r.tick} | {r.wall_s:.1f} | {r.memories:,} | {r.checkpoint_mb:.2f} | {r.capture_s:.3f} |"
            f" {r.write_s:.3f} ({r.write_mean_s:.3f}) | {r.load_s:.3f} | {r.restore_s:.3f} |"
            f" {r.history_mb:.2f} ({r.history_files}) | {r.fork_load_s:.3f} | {r.frames_mb:.2f} | {r.rss_mb:.0f} | {r.peak_mb:.0f} |"
        )
    first, last = rows[0], rows[-1]
    per_day_rss = (last.rss_mb - first.rss_mb) / max(len(rows) - 1, 1)
    per_day_mem = (last.memories - first.memories) / max(len(rows) - 1, 1)
    lines += [
        "",
        "- *capture*: `Simulation.get_state()` and friends (embeddings to base64); *write*: `checkpoint.json` (compact JSON,"
        " temp file + fsync + rename) plus the gzipped history delta; *load*: parse `checkpoint.json`; *restore*: a fresh"
        " simulation set from it (resume does exactly this); *fork load*: reassemble the day's last history checkpoint from"
        " its chain of deltas.",
        f"- History keeps every checkpoint ({last.history_files} files) in {last.history_mb:.2f} MB — each file holds only"
        f" the memories added since the one before — against {last.checkpoint_mb:.2f} MB for one full checkpoint.",
        f"- Memory: {start_rss:.0f} MB resident before the first tick (interpreter, numpy, pydantic, the world);"
        f" RSS grows by about {per_day_rss:.0f} MB per game day after day 1 while the memory streams grow by"
        f" about {per_day_mem:,.0f} nodes a day ({last.vectors_mb:.1f} MB of embedding matrix capacity at the end)."
        " Nothing in the checkpoint or recorder path is retained between checkpoints (the checkpointer keeps only"
        " per-agent counts, the recorder only a byte count), so the growth is the simulation's own state:",
        "  - memory streams keep every node, as in the paper (retrieval ranks them; nothing is forgotten) — linear in game"
        " time, and the dominant term; a retention policy (dropping low-importance observations older than N days) would"
        " bound it and is not implemented;",
        f"  - the offline hash embedder caches every text it has embedded ({last.embed_cache:,} entries at the end, ≈ 1 KiB"
        " each) — also linear, bounded by the number of distinct texts;",
        f"  - `Simulation.lines_said` keeps every line said ({last.lines_said:,} at the end: small); only its first 12 and"
        " last 200 are checkpointed.",
        "- Checkpoint size and write time grow linearly with the memory streams; at 60 game minutes between checkpoints"
        " the write cost stays a small share of the run's wall time.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", type=Path, default=ROOT / "worlds" / "qixia_town.yaml")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "persistence.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    world = args.world.resolve()
    fallback = False
    if not world.exists():
        log.warning("%s not found: falling back to worlds/tiny.yaml", world)
        world, fallback = ROOT / "worlds" / "tiny.yaml", True
    with tempfile.TemporaryDirectory(prefix="persistence-") as folder:
        rows, name, start_rss = asyncio.run(measure(world, args.days, args.seed, Path(folder)))
    text = render(rows, name, world, fallback, args.days, args.seed, start_rss)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
