"""One game hour of tiny.yaml (from 07:00, all three awake) against a one-slot server.

The server is the test double of ``luotuo_rpg.llm.offline.mock_server`` with ``slots=1``: one request at
a time, the rest queued, work for a client that hung up done all the same (llama-cpp-python's
server on two cores). The run is the real ``luotuo-rpg run --llm openai`` with default settings
but the timeout. Prints what the client counted and what the server saw.

    python benchmarks/slow_server.py [--latency 25] [--timeout 60] [--hours 1] [--limit-s 1500]

Run it once with ``PYTHONPATH`` on an older checkout to see the storm this replaces.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer  # noqa: E402
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=25.0, help="seconds of model time per request")
    parser.add_argument("--timeout", type=float, default=60.0, help="the client's timeout_s (60 is the default)")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--limit-s", type=float, default=1500.0, help="stop the run after this many seconds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        world = folder / "tiny.yaml"
        world.write_text(
            (REPO / "worlds" / "tiny.yaml")
            .read_text(encoding="utf-8")
            .replace('start: "2026-03-01T06:00:00"', 'start: "2026-03-01T07:00:00"'),
            encoding="utf-8",
        )
        config = folder / "llm.yaml"
        config.write_text(f"timeout_s: {args.timeout}\n", encoding="utf-8")
        app = create_app(OfflineAnswerer(), slots=1, latency_s=args.latency, state_slots=False)
        with serve_in_thread(app, log_level="critical") as server:  # abandoned work at shutdown is no error
            started = time.perf_counter()
            try:
                run = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "luotuo_rpg.cli",
                        "run",
                        str(world),
                        "--hours",
                        str(args.hours),
                        "--no-progress",
                        "--llm",
                        "openai",
                        "--base-url",
                        server.base_url,
                        "--model",
                        "luotuo-mock",
                        "--llm-config",
                        str(config),
                        "--out",
                        str(folder / "run"),
                    ],
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=args.limit_s,
                    env=dict(os.environ),
                )
                finished = run.returncode == 0
            except subprocess.TimeoutExpired:
                finished = False
            wall = time.perf_counter() - started
            seen = httpx.get(f"{server.root_url}/stats").json()
        summary_path = folder / "run" / "summary.json"
        llm = json.loads(summary_path.read_text(encoding="utf-8"))["llm"] if summary_path.exists() else {}

    counters = llm.get("backend_counters", {})
    print(f"machine: {describe_machine()}")
    print(
        f"one-slot server, {args.latency:g} s a request, timeout {args.timeout:g} s, "
        f"{args.hours:g} game hour(s) of tiny"
    )
    print(f"finished: {finished} · wall {wall:.0f} s")
    print(
        f"client: requests {counters.get('requests', '?')} · attempts {counters.get('attempts', '?')} · "
        f"timeouts {counters.get('timeouts', '?')} · retries {counters.get('retries', '?')} · "
        f"fallbacks {llm.get('fallbacks', '?')} · queue wait max {counters.get('queue_wait_max_ms', '?')} ms · "
        f"limit now {counters.get('limit_endpoint_0', '?')}, peak {counters.get('limit_peak_endpoint_0', '?')}"
    )
    print(
        f"server: received {seen['requests']} · worked on {seen['served']} · abandoned {seen['abandoned']} · "
        f"served twice {seen['served_twice']} · most queued {seen['max_queued']}"
    )
    return 0 if finished else 1


if __name__ == "__main__":
    raise SystemExit(main())
