"""Real models answering this project's requests: per kind, valid first try / repaired / fallen back,
seconds per request and the server's own token counts, with the schema sent and without, side by side.

The requests are the first of each kind in a day of 小小客栈 on the offline mind (tuned like the test
tier, tests/test_real_model.py); each is asked of llama-cpp-python's OpenAI-compatible
server (started here on loopback, one request at a time) twice: with its JSON Schema as a grammar
(``json_object`` + ``schema``, the dialect that server takes) and with JSON mode only. Then the same
game hour as the tier's (its world, tests/data/tier_inn.yaml, and config) is played through the server
with the schema on.

    python scripts/test_models.py [--model qwen2.5-coder-1.5b --no-server]   # the GGUF file(s)
    python benchmarks/real_model.py --model ~/.cache/luotuo-rpg/models/qwen2.5-coder-0.5b-instruct.gguf
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from llama_server import llama_cpp_server  # noqa: E402
from machine import describe_machine  # noqa: E402

from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig  # noqa: E402
from luotuo_rpg.llm.factory import MindOptions  # noqa: E402
from luotuo_rpg.llm.offline.mind import OfflineMind  # noqa: E402
from luotuo_rpg.llm.structured import StructuredMind  # noqa: E402
from luotuo_rpg.sim.engine import Simulation  # noqa: E402
from luotuo_rpg.sim.runner import RunOptions, run_async  # noqa: E402
from luotuo_rpg.world.loader import load_world_spec  # noqa: E402

TINY = REPO / "worlds" / "tiny.yaml"
DAY_HOURS = 24
DEFAULT_MODEL = Path.home() / ".cache" / "luotuo-rpg" / "models" / "qwen2.5-coder-0.5b-instruct.gguf"


def tier_config():
    from test_real_model import TIER_CONFIG

    return TIER_CONFIG


def tier_world() -> Path:
    from test_real_model import TIER_WORLD

    return TIER_WORLD


def recorded_requests(per_kind: int) -> list[Any]:
    from doubles import RecordingMind

    mind = RecordingMind()
    sim = Simulation(load_world_spec(TINY), mind, tier_config())

    def enough() -> bool:
        counts: dict[str, int] = defaultdict(int)
        for request in mind.requests:
            counts[request.kind] += 1
        from test_real_model import RUN_KINDS

        return all(counts[kind] >= per_kind for kind in RUN_KINDS)

    async def go() -> None:
        # Hour by hour until every kind the tier asks has come up often enough (conversations
        # and reflections come later in the day than plans).
        for _ in range(DAY_HOURS):
            for _ in range(sim.world.clock.ticks_for_hours(1)):
                await sim.step()
            if enough():
                return

    asyncio.run(go())
    chosen: list[Any] = []
    counts: dict[str, int] = defaultdict(int)
    for request in mind.requests:
        if counts[request.kind] < per_kind:
            counts[request.kind] += 1
            chosen.append(request)
    return chosen


async def ask_all(url: str, requests: list[Any], dialect: str) -> dict[str, dict[str, float]]:
    """Each request once, in order; outcome, seconds and tokens per kind."""
    backend = OpenAIBackend(
        OpenAIConfig(base_urls=[url], model="qwen", timeout_s=900, max_concurrency=1, response_formats={url: dialect})
    )
    mind = StructuredMind(backend, fallback=OfflineMind())
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for request in requests:
        stats = mind.stats
        before = (stats.repairs, stats.fallbacks, stats.tokens_in, stats.tokens_out, sum(stats.fixes.values()))
        started = time.perf_counter()
        await mind.ask(request)
        seconds = time.perf_counter() - started
        repairs, fallbacks = stats.repairs - before[0], stats.fallbacks - before[1]
        row = rows[request.kind]
        row["asked"] += 1
        row["first_try"] += int(repairs == 0 and fallbacks == 0)
        row["repaired"] += int(repairs > 0 and fallbacks == 0)
        row["fallback"] += fallbacks
        row["seconds"] += seconds
        row["tokens_in"] += stats.tokens_in - before[2]
        row["tokens_out"] += stats.tokens_out - before[3]
        row["fixes"] += sum(stats.fixes.values()) - before[4]
    await mind.aclose()
    return {kind: dict(row) for kind, row in rows.items()}


def play_hour(url: str, out: Path) -> tuple[dict[str, Any], float]:
    world = tier_world()
    spec = load_world_spec(world)
    mind = MindOptions(
        llm="openai", openai={"base_urls": [url], "model": "qwen", "timeout_s": 900, "max_concurrency": 1}
    )
    started = time.perf_counter()
    summary, _ = asyncio.run(run_async(spec, str(world), RunOptions(hours=1, out=out, mind=mind, config=tier_config())))
    return summary.llm.model_dump(), time.perf_counter() - started


def table(side: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    lines = [
        "| kind | asked | schema: first try / repaired / fallback | s/request | tokens out/request | "
        "no schema: first try / repaired / fallback | s/request | tokens out/request |",
        "|---|---:|---|---:|---:|---|---:|---:|",
    ]
    on, off = side["schema"], side["json_object"]
    for kind in sorted(set(on) | set(off)):
        cells = [kind, str(int(on.get(kind, off.get(kind, {})).get("asked", 0)))]
        for rows in (on, off):
            row = rows.get(kind)
            if row is None:
                cells += ["–", "–", "–"]
                continue
            n = row["asked"]
            cells += [
                f"{int(row['first_try'])} / {int(row['repaired'])} / {int(row['fallback'])}",
                f"{row['seconds'] / n:.1f}",
                f"{row['tokens_out'] / n:.0f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    totals = []
    for rows in (on, off):
        n = sum(r["asked"] for r in rows.values())
        totals.append(
            (
                sum(r["first_try"] for r in rows.values()),
                sum(r["repaired"] for r in rows.values()),
                sum(r["fallback"] for r in rows.values()),
                sum(r["seconds"] for r in rows.values()) / max(1, n),
            )
        )
    lines.append(
        "| **all** | {n} | {0[0]:.0f} / {0[1]:.0f} / {0[2]:.0f} | {0[3]:.1f} | | {1[0]:.0f} / {1[1]:.0f} / "
        "{1[2]:.0f} | {1[3]:.1f} | |".format(*totals, n=int(sum(r["asked"] for r in on.values())))
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--per-kind", type=int, default=3, help="requests of each kind asked (schema on and off)")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--no-run", action="store_true", help="skip playing the game hour")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "real_model.md")
    args = parser.parse_args()
    requests = recorded_requests(args.per_kind)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"real_model_{args.model.stem}.log"
    with llama_cpp_server(args.model, args.threads, log) as url:
        side = {
            name: asyncio.run(ask_all(url, requests, dialect))
            for name, dialect in (("schema", "json_object_schema"), ("json_object", "json_object"))
        }
        scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "real_model_run"
        run, wall = ({}, 0.0) if args.no_run else play_hour(url, scratch)
    lines = [
        f"## {args.model.name} through llama-cpp-python's server ({args.threads} threads)",
        "",
        describe_machine(),
        "",
        f"`python benchmarks/real_model.py --model {args.model.name} --per-kind {args.per_kind}`",
        "",
        f"{len(requests)} requests recorded from 小小客栈 (tiny.yaml; offline mind, tier config), each asked "
        "once with its JSON Schema as a grammar and once in JSON mode only; temperature 0, repair at 0.7.",
        "",
        *table(side),
        "",
    ]
    if run:
        asked = sum(k["requests"] - k["repairs"] for k in run["by_kind"].values())
        kinds = ", ".join(f"{kind} {counts['requests']}" for kind, counts in sorted(run["by_kind"].items()))
        lines += [
            f"The tier's game hour (tests/data/tier_inn.yaml) played through the server, schema on: "
            f"{wall:.0f} s wall, {asked} requests asked ({run['requests']} sent with repairs), "
            f"{run['repairs']} repairs, {run['fallbacks']} fallbacks, {run['tokens_in']} tokens in / "
            f"{run['tokens_out']} out (server usage); kinds: {kinds}; "
            f"fixes: {json.dumps(run['fixes'], ensure_ascii=False)}.",
            "",
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = (
        args.out.read_text(encoding="utf-8") if args.out.exists() else "# Real models on this project's requests\n\n"
    )
    marker = f"## {args.model.name} "
    kept = [block for block in previous.split("\n## ") if not ("## " + block).startswith(marker)]
    text = "\n## ".join(kept).rstrip() + "\n\n" + "\n".join(lines)
    args.out.write_text(text, encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
