"""Smallville's two game days, measured the way Park et al. (2023, §7.1) report them.

The reference seeds two pieces of news and watches them spread for two game days among
its 25 residents: Sam Moore running for mayor (known by 1 → 8 agents, 32 %) and Isabella's
Valentine's Day party at Hobbs Cafe (1 → 13, 52 %); of the 12 agents invited, 5 came to the
party. `worlds/smallville_zh.yaml` is the same cast and scenario in Chinese. This script runs
it and prints the same three measures beside the paper's:

- *knows of the party*: told of it, or any memory mentions it (`Simulation.knows`);
- *knows of Sam's candidacy*: some memory names 山姆 and 竞选 (the reference interviewed);
- *came to the party*: stood in 霍布斯咖啡馆/咖啡厅 during the party (2023-02-14 17:00–19:00);
- *heard → came*: of those who heard of it before it began (the host aside), how many spent at least
  30 minutes there — the paper's "12 invited by word of mouth, 5 came" (read from the frames by
  `luotuo_rpg.sim.behaviour`, the measures every run gets).

    python benchmarks/smallville_diffusion.py                      # the offline mind
    python benchmarks/smallville_diffusion.py --base-url http://127.0.0.1:11434/v1 --model qwen2.5:7b-instruct

The offline mind passes on every piece of news it knows in every conversation, so it spreads
news much faster than a language model does; whether to go it decides per person (the `attend`
request kind) from ties, nature and plans. The model row is the comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

from luotuo_rpg.llm.factory import MindOptions, build_mind, for_world  # noqa: E402
from luotuo_rpg.sim.behaviour import measure_frames  # noqa: E402
from luotuo_rpg.sim.engine import Simulation  # noqa: E402
from luotuo_rpg.world.loader import load_world_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORLD = REPO / "worlds" / "smallville_zh.yaml"
PARTY_ROOM = "霍布斯咖啡馆/咖啡厅"
HOST = "伊莎贝拉·罗德里格斯"
CANDIDATE = "山姆·摩尔"
PAPER = {"party_known": (1, 13), "sam_known": (1, 8), "came": 5, "invited": 12, "agents": 25}


def knows_candidacy(sim: Simulation) -> list[str]:
    return [
        agent.name
        for agent in sim.agents
        if agent.name == CANDIDATE or any("山姆" in n.text and "竞选" in n.text for n in agent.memory.nodes)
    ]


async def measure(mind_options: MindOptions, days: float) -> dict:
    spec = load_world_spec(WORLD)
    mind = build_mind(for_world(mind_options, spec, WORLD))
    sim = Simulation(spec, mind)
    party = next(e for e in spec.events if PARTY_ROOM in e.where)
    party_start = party.when
    party_end = party.when + dt.timedelta(minutes=party.minutes)
    clock = sim.world.clock
    came: set[str] = set()
    frames = []
    started = time.perf_counter()
    frames.append(await sim.step())  # tick 0: persona memories stored, so "at start" counts what agents begin with
    party_start_known = len(sim.knows(party.what))
    sam_start_known = len(knows_candidacy(sim))
    for _ in range(clock.ticks_for_hours(days * 24) - 1):
        frames.append(await sim.step())
        now = spec.world.start + dt.timedelta(seconds=sim.tick * spec.world.tick_seconds)
        if party_start <= now < party_end:
            for body in sim.world.bodies:
                if sim.world.places.room_of_tile(body.pos) == PARTY_ROOM and body.name != HOST:
                    came.add(body.name)
    wall = time.perf_counter() - started
    await mind.aclose()
    attendance = next(e for e in measure_frames(frames, spec, mind.stats).events if e.what == party.what)
    heard = [n for n in attendance.known_before if n != HOST]
    return {
        "agents": len(spec.personas),
        "party_known": (party_start_known, len(sim.knows(party.what))),
        "sam_known": (sam_start_known, len(knows_candidacy(sim))),
        "came": sorted(came),
        "heard": heard,
        "heard_came": [n for n in attendance.came if n in heard],
        "requests": mind.stats.requests,
        "fallbacks": mind.stats.fallbacks,
        "wall": wall,
    }


def table(label: str, result: dict) -> list[str]:
    n = result["agents"]
    paper_n = PAPER["agents"]

    def share(pair: tuple[int, int], total: int) -> str:
        return f"{pair[0]} → {pair[1]} ({pair[1] / total:.0%})"

    return [
        "| measure | Park et al. 2023 (gpt-3.5-turbo) | " + label + " |",
        "|---|---:|---:|",
        f"| knew of Sam's candidacy, start → end | {share(PAPER['sam_known'], paper_n)} | "
        f"{share(result['sam_known'], n)} |",
        f"| knew of the Valentine's party, start → end | {share(PAPER['party_known'], paper_n)} | "
        f"{share(result['party_known'], n)} |",
        f"| came to the party (besides the host) | {PAPER['came']} of {PAPER['invited']} invited | "
        f"{len(result['came'])} |",
        f"| heard of it before it began → came (≥ 30 min) | {PAPER['invited']} → {PAPER['came']} | "
        f"{len(result['heard'])} → {len(result['heard_came'])} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--base-url", default=None, help="an OpenAI-compatible server (default: the offline mind)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "smallville_diffusion.md")
    args = parser.parse_args()
    if args.base_url:
        if not args.model:
            parser.error("--base-url needs --model")
        openai = {"base_urls": [args.base_url], "model": args.model, "api_key": os.environ.get("OPENAI_API_KEY")}
        options, label = MindOptions(llm="openai", openai=openai), f"luotuo-rpg, {args.model}"
    else:
        options, label = MindOptions(), "luotuo-rpg, offline mind"
    result = asyncio.run(measure(options, args.days))
    rows = table(label, result)
    print("\n".join(rows))
    came = "、".join(result["came"]) or "nobody"
    text = "\n".join(
        [
            "# Smallville: news spreading and the Valentine's Day party",
            "",
            describe_machine(),
            "",
            "Command: `python "
            f"benchmarks/smallville_diffusion.py{' --base-url … --model ' + args.model if args.base_url else ''}`; "
            f"{result['agents']} agents, {args.days:g} game days from 2023-02-13 06:00; {result['requests']} requests, "
            f"{result['fallbacks']} fallbacks; wall {result['wall']:.0f} s.",
            "",
            *rows,
            "",
            f"Came to the party: {came}.",
            "",
            "Knowing is counted from what each agent was told or holds in memory (the reference interviewed its "
            "agents;",
            "`luotuo-rpg interview` does that for a run folder). The offline mind tells every piece of news it "
            "knows in",
            "every conversation, so news spreads faster than with a model; each who hears decides whether to go",
            "(the `attend` request kind). Run the script with `--base-url` and `--model` for the comparison.",
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
