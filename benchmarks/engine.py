"""Engine speed on the offline mind: ticks/s and wall seconds for one game day.

    python benchmarks/engine.py                 # 七侠镇, 200 and 1000 generated agents, 24 h each
    python benchmarks/engine.py --hours 2 --sizes 200

Prints a table and writes benchmarks/results/engine.md with the machine named.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402
from town_generator import generate_town  # noqa: E402

from luotuo_rpg.llm.offline.mind import OfflineMind  # noqa: E402
from luotuo_rpg.sim.behaviour import Tally  # noqa: E402
from luotuo_rpg.sim.engine import Simulation  # noqa: E402
from luotuo_rpg.world.loader import check_world, load_world_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"


async def _run(spec, hours: float) -> tuple[int, float, int, int, float]:
    mind = OfflineMind(seed=0)
    sim = Simulation(spec, mind)
    ticks = sim.world.clock.ticks_for_hours(hours)
    tally = Tally(spec)  # the run's behaviour, read from its frames as they come (not timed)
    wall = 0.0
    for _ in range(ticks):
        started = time.perf_counter()
        frame = await sim.step()
        wall += time.perf_counter() - started
        tally.feed(frame)
    stuck = tally.measures(None).stuck_share
    return ticks, wall, mind.stats.requests, sim.world.next_conversation, stuck


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--sizes", default="200,1000", help="generated town sizes (agents)")
    parser.add_argument("--no-qixia", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "engine.md")
    args = parser.parse_args()
    worlds = [] if args.no_qixia else [("七侠镇", load_world_spec(REPO / "worlds" / "qixia_town.yaml"))]
    for size in [int(s) for s in args.sizes.split(",") if s]:
        spec = generate_town(size)
        assert not check_world(spec), check_world(spec)[:3]
        worlds.append((f"generated {size}", spec))
    rows = []
    header = (
        "| world | agents | game hours | ticks | wall s | ticks/s | agent-ticks/s | requests | conversations | stuck |"
    )
    print(header)
    print(RULE)
    for name, spec in worlds:
        ticks, wall, requests, conversations, stuck = asyncio.run(_run(spec, args.hours))
        row = (
            f"| {name} | {len(spec.personas)} | {args.hours:g} | {ticks} | {wall:.1f} | {ticks / wall:.0f} | "
            f"{ticks * len(spec.personas) / wall:.0f} | {requests} | {conversations} | {stuck:.2%} |"
        )
        print(row, flush=True)
        rows.append(row)
        _write(args, header, rows)
    print(f"\nwritten: {args.out}")


def _write(args: argparse.Namespace, header: str, rows: list[str]) -> None:
    # After every row: a long run that is stopped keeps what it measured.
    text = "\n".join(
        [
            "# Engine speed (offline mind)",
            "",
            describe_machine(),
            "",
            f"Command: `python benchmarks/engine.py --hours {args.hours:g} --sizes {args.sizes}`",
            "",
            "Target (issue 2): one game day of 25 agents in under 30 s on 2 cores.",
            "stuck: awake agent-minutes stood still outside the room of one's action "
            "(sim/behaviour.py; issue 12: ≤ 1 %).",
            "",
            header,
            RULE,
            *rows,
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
