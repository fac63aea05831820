"""Tick rate and frame delivery latency of ``luotuo-rpg serve`` with 0, 10 and 100 websocket viewers.

The server runs in a child process on the offline mind; the viewers are
asyncio websocket clients in this process, on the same machine (so they
compete with the server for the same cores — say so when you quote numbers).
Latency is receive time minus the ``sent`` stamp the server puts on every
frame at broadcast, both from this machine's wall clock.

Two passes per viewer count:
- ``speed 0``: the town runs as fast as it can; ticks/s is what the viewers cost it.
  Viewers that cannot keep up are resynced (a fresh hello), which is counted.
- ``speed N`` (default 20 ticks/s, a fast watching speed): latency when nobody is behind.

    python benchmarks/ws_fanout.py                           # 七侠镇, 0/10/100 viewers, 8 s per pass
    python benchmarks/ws_fanout.py --world worlds/tiny.yaml --seconds 3 --viewers 0,10

Writes ``benchmarks/results/ws_fanout.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from luotuo_rpg.server.process import ServeProcess

log = logging.getLogger("ws_fanout")
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "ws_fanout.md"
TOKEN = "bench-token-0123456789"


@dataclass
class Viewer:
    latencies: list[float] = field(default_factory=list)
    frames: int = 0
    hellos: int = 0


@dataclass
class Pass:
    viewers: int
    speed: float
    ticks_per_second: float
    latencies: list[float]
    frames_per_viewer: float
    resyncs_per_viewer: float

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _watch(url: str, viewer: Viewer, stop: asyncio.Event) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            # Only the stamp is needed: find it instead of parsing every frame (the client must not be the bottleneck).
            if text.startswith('{"type":"frame"'):
                viewer.frames += 1
                at = text.rfind('"sent":')
                if at >= 0:
                    viewer.latencies.append(now - float(text[at + 7 : -1]))
            elif '"type":"hello"' in text[:40]:
                viewer.hellos += 1


async def _control(client: httpx.AsyncClient, **body: object) -> None:
    response = await client.post("/api/control", json={"token": TOKEN, **body})
    response.raise_for_status()


async def measure(server: ServeProcess, viewers: int, speed: float, seconds: float) -> Pass:
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        await _control(client, action="pause")
        await _control(client, action="speed", value=speed)
        stop = asyncio.Event()
        crowd = [Viewer() for _ in range(viewers)]
        tasks = [asyncio.create_task(_watch(server.ws, v, stop)) for v in crowd]
        while sum(v.hellos for v in crowd) < viewers:  # everyone connected and greeted
            await asyncio.sleep(0.05)
        for v in crowd:
            v.latencies.clear()
            v.frames = 0
            v.hellos = 0
        before = (await client.get("/api/stats")).json()["tick"]
        started = time.perf_counter()
        await _control(client, action="resume")
        await asyncio.sleep(seconds)
        await _control(client, action="pause")
        elapsed = time.perf_counter() - started
        after = (await client.get("/api/stats")).json()["tick"]
        await asyncio.sleep(0.3)  # the last frames arrive
        stop.set()
        await asyncio.gather(*tasks)
    latencies = [x for v in crowd for x in v.latencies]
    return Pass(
        viewers=viewers,
        speed=speed,
        ticks_per_second=(after - before) / elapsed,
        latencies=latencies,
        frames_per_viewer=statistics.fmean(v.frames for v in crowd) if crowd else 0.0,
        resyncs_per_viewer=statistics.fmean(v.hellos for v in crowd) if crowd else 0.0,
    )


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPU cores (nproc {len(os.sched_getaffinity(0))}), {model}, Python "
        f"{platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average before the run {load} (other jobs share the cores)"
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def table(passes: list[Pass]) -> str:
    lines = [
        "| viewers | speed (ticks/s asked) | ticks/s done | frames per viewer | resyncs per viewer | latency p50 ms "
        "| latency p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in passes:
        p50, p99 = p.percentile(0.5), p.percentile(0.99)
        asked = "0 (fastest)" if p.speed == 0 else f"{p.speed:g}"
        lines.append(
            f"| {p.viewers} | {asked} | {p.ticks_per_second:.0f} | {p.frames_per_viewer:.0f} | "
            f"{p.resyncs_per_viewer:.1f} | {_ms(p50)} | {_ms(p99)} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[Pass]:
    passes: list[Pass] = []
    with ServeProcess(str(args.world), "--paused", "--speed", "0", token=TOKEN) as server:
        for speed in (0.0, args.watch_speed):
            for viewers in args.viewers:
                result = await measure(server, viewers, speed, args.seconds)
                log.info("%d viewers, speed %g: %.0f ticks/s", viewers, speed, result.ticks_per_second)
                passes.append(result)
                print(table([result]).splitlines()[-1], flush=True)
    return passes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_world = REPO / "worlds" / "qixia_town.yaml"
    parser.add_argument(
        "--world", type=Path, default=default_world if default_world.exists() else REPO / "worlds" / "tiny.yaml"
    )
    parser.add_argument("--viewers", type=lambda s: [int(x) for x in s.split(",")], default=[0, 10, 100])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each pass")
    parser.add_argument("--watch-speed", type=float, default=20.0, help="the fixed speed of the second pass")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise

    described = machine()
    print(described)
    print(table([]))
    passes = asyncio.run(run(args))
    text = (
        "# Websocket fan-out: tick rate and delivery latency\n\n"
        f"Measured {dt.date.today().isoformat()} with `python benchmarks/ws_fanout.py --seconds {args.seconds:g}`.\n\n"
        f"- machine: {described}\n"
        f"- world: `{args.world.relative_to(REPO) if args.world.is_relative_to(REPO) else args.world}`, offline mind, "
        f"{args.seconds:g} s per pass, server in a child process, viewers as asyncio clients in the benchmark process "
        "on the same cores\n"
        "- latency: receive time − the frame's `sent` stamp (set at broadcast), over every frame every viewer got\n"
        "- resyncs: fresh `hello`s sent to a viewer that fell 32 frames behind (at speed 0 the clients, not the "
        "server, are the slow part)\n\n"
        f"{table(passes)}\n\n"
        "Reading it: at speed 0 the viewers cost CPU, not waiting — the server writes every frame to every socket "
        "(one send per viewer per frame) and the viewers' own process runs on the same cores, so the tick rate "
        "falls with the number of viewers while no viewer ever blocks the loop (a stalled one is resynced: "
        "`tests/test_server_ws.py::test_stalled_viewer_does_not_lower_ticks_done`). Latency at speed 0 is mostly "
        "frames waiting in socket buffers for the busy client process. At a watching speed the town keeps its pace.\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
