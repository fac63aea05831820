"""A server that works on one request at a time and queues the rest (llama.cpp, Ollama on a laptop).

The test double (``mock_server.create_app(slots=N)``) queues like llama-cpp-python's server:
a request whose client timed out is worked on all the same. Its latency is scaled down
(0.5 s instead of the 25 s of a 0.5B model on two cores) with the timeout scaled alike
(1.2 s for 60 s): three requests at once put the third past its timeout unless the
client keeps the rest in its own queue. Asserts counts, never wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from luotuo_rpg.llm.backends.concurrency_limit import PROBE_EVERY, TOLERANCE, AdaptiveLimit, RequestQueue
from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig
from luotuo_rpg.llm.chat import ChatRequest, LLMUnavailable
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread
from tests.doubles import openai_flags

REPO = Path(__file__).resolve().parents[1]
LATENCY_S = 0.5
TIMEOUT_S = 1.2  # 60 s / 25 s, as a 0.5B model on two cores against the default timeout


def _stats(server) -> dict:
    return httpx.get(f"{server.root_url}/stats").json()


def _tiny_at_seven(tiny_world: Path, tmp_path: Path) -> Path:
    # At 07:00 all three are up: three day plans at once in tick 0, as in the report.
    text = tiny_world.read_text(encoding="utf-8")
    text = text.replace('start: "2026-03-01T06:00:00"', 'start: "2026-03-01T07:00:00"')
    assert "07:00:00" in text
    world = tmp_path / "tiny.yaml"
    world.write_text(text, encoding="utf-8")
    return world


def test_one_slot_server_runs_a_game_hour_of_tiny_with_nothing_abandoned_or_served_twice(tiny_world, tmp_path):
    with serve_in_thread(create_app(OfflineAnswerer(), slots=1, latency_s=LATENCY_S, state_slots=False)) as server:
        config = tmp_path / "llm.yaml"
        config.write_text(f"timeout_s: {TIMEOUT_S}\n", encoding="utf-8")
        out = tmp_path / "run"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "luotuo_rpg.cli",
                "run",
                str(_tiny_at_seven(tiny_world, tmp_path)),
                "--hours",
                "1",
                "--no-progress",
                *openai_flags(server.base_url),
                "--llm-config",
                str(config),
                "--out",
                str(out),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ),
        )
        assert run.returncode == 0, run.stdout + run.stderr
        seen = _stats(server)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    llm = summary["llm"]
    counters = llm["backend_counters"]
    assert llm["requests"] >= 10 and llm["fallbacks"] == 0  # a talk is in its reaction's answer: no request of its own
    assert seen["abandoned"] == 0 and seen["served_twice"] == 0 and seen["in_flight_twice"] == 0
    # Every attempt served once; the one more is the response_format probe before tick 0.
    assert seen["served"] == counters["attempts"] + 1 == counters["requests"] + 1
    assert counters["timeouts"] == 0 and counters["retries"] == 0
    # The day plans of tick 0 waited in our queue, not in the server's.
    assert counters["queue_wait_ms"] > 0
    # Learnt the one slot: the limit ends there, or one above it when the hour ends in a probe (one
    # more at once after every PROBE_EVERY clean answers, cut back when it queues).
    assert counters["limit_endpoint_0"] <= 2 and counters["limit_peak_endpoint_0"] >= 2


async def _batch(backend: OpenAIBackend, n: int, tag: str) -> None:
    await asyncio.gather(
        *(backend.chat(ChatRequest(kind="k", messages=[{"role": "user", "content": f"{tag} {i}"}])) for i in range(n))
    )


def test_a_timed_out_request_is_closed_before_its_retry_is_sent():
    # Every attempt outlasts the timeout: each is retried, and no two copies are ever connected at once.
    with serve_in_thread(create_app(lambda m, msgs: "{}", slots=1, latency_s=0.6, state_slots=False)) as server:
        backend = OpenAIBackend(
            OpenAIConfig(
                base_urls=[server.base_url],
                model="m",
                timeout_s=0.3,
                max_retries=2,
                backoff_base_s=0,
                backoff_max_s=0,
            )
        )

        async def go() -> None:
            outcomes = await asyncio.gather(
                *(
                    backend.chat(ChatRequest(kind="k", messages=[{"role": "user", "content": f"x {i}"}]))
                    for i in range(2)
                ),
                return_exceptions=True,
            )
            assert all(isinstance(o, LLMUnavailable) and "gave up after 3 attempts" in str(o) for o in outcomes)
            await backend.aclose()

        asyncio.run(go())
        seen = _stats(server)
        while seen["in_flight"]:  # the server is still working for clients long gone
            time.sleep(0.1)
            seen = _stats(server)
    assert backend.counters["timeouts"] == 6 and backend.counters["retries"] == 4
    assert seen["requests"] == 6 and seen["in_flight_twice"] == 0
    # All six were worked on for nobody (this server does not stop on a hang-up), but
    # each copy's connection was closed before the next copy was sent.
    assert seen["abandoned"] == 6 and backend.counters["limit_endpoint_0"] == 1


def test_the_limit_follows_a_server_that_loses_and_regains_slots():
    with serve_in_thread(create_app(lambda m, msgs: "{}", slots=4, latency_s=0.3, state_slots=False)) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="m"))
        limits: dict[str, int] = {}

        async def go() -> None:
            await _batch(backend, 40, "a")
            limits["four slots"] = backend.counters["limit_endpoint_0"]
            httpx.post(f"{server.root_url}/config", json={"slots": 1})
            await _batch(backend, 12, "b")
            limits["one slot"] = backend.counters["limit_endpoint_0"]
            httpx.post(f"{server.root_url}/config", json={"slots": 4})
            await _batch(backend, 60, "c")
            limits["four again"] = backend.counters["limit_endpoint_0"]
            await backend.aclose()

        asyncio.run(go())
    # With four slots, a fifth or sixth request waits only for the first of four to finish, which
    # stays within TOLERANCE: up to 4 × 1.5 at once, plus a probe. Timing on a busy machine can make
    # a prompt answer look late now and then: room for one such cut. One slot is still told from four.
    most = int(4 * TOLERANCE) + 1
    assert 3 <= limits["four slots"] <= most, limits
    # One slot: the limit falls to a request or two; a late answer on a loaded machine can leave one more
    # (seen twice on the 2 shared cores), still below four slots' limit.
    assert limits["one slot"] <= 3 and limits["one slot"] < limits["four again"], limits
    assert 3 <= limits["four again"] <= most, limits
    assert backend.counters["timeouts"] == 0


def test_the_limit_comes_back_after_a_server_gets_slower():
    # Same two slots, four times the latency: every answer looks queued against the old baseline,
    # the limit drops; a request alone on the endpoint then re-learns the baseline and the limit returns.
    with serve_in_thread(create_app(lambda m, msgs: "{}", slots=2, latency_s=0.2, state_slots=False)) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="m"))
        limits: dict[str, int] = {}

        async def go() -> None:
            await _batch(backend, 30, "a")
            limits["fast"] = backend.counters["limit_endpoint_0"]
            httpx.post(f"{server.root_url}/config", json={"latency_s": 0.8})
            await _batch(backend, 30, "b")
            limits["slow"] = backend.counters["limit_endpoint_0"]
            await backend.aclose()

        asyncio.run(go())
    most = int(2 * TOLERANCE) + 1  # two slots, a round trip within TOLERANCE, and a probe
    assert 2 <= limits["fast"] <= most and 2 <= limits["slow"] <= most, limits


def test_a_server_that_states_its_slots_gets_them_from_the_first_request():
    with serve_in_thread(create_app(lambda m, msgs: "{}", slots=3, latency_s=0.2)) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="m"))

        async def go() -> None:
            await _batch(backend, 3, "a")
            await backend.aclose()

        asyncio.run(go())
        seen = _stats(server)
    assert seen["max_in_flight"] == 3 and seen["max_queued"] == 0
    assert backend.counters["queue_wait_ms"] < 100 and backend.counters["limit_endpoint_0"] >= 3


def test_concurrency_stays_a_cap_over_all_endpoints():
    with (
        serve_in_thread(create_app(lambda m, msgs: "{}", latency_s=0.1)) as one,
        serve_in_thread(create_app(lambda m, msgs: "{}", latency_s=0.1)) as two,
    ):
        backend = OpenAIBackend(OpenAIConfig(base_urls=[one.base_url, two.base_url], model="m", max_concurrency=5))

        async def go() -> None:
            await _batch(backend, 30, "a")
            await backend.aclose()

        asyncio.run(go())
        peaks = [_stats(one)["max_in_flight"], _stats(two)["max_in_flight"]]
    assert sum(peaks) <= 5 and min(peaks) >= 2, peaks


# --- the limit's arithmetic, sample by sample ------------------------------------------------


def test_answers_that_waited_behind_another_bring_the_limit_to_what_was_served_at_once():
    limit = AdaptiveLimit(start=1, cap=32)
    first = limit.send()
    limit.answered(first, 1.0)  # alone: the baseline
    assert limit.limit == 2  # slow start
    a, b = limit.send(), limit.send()
    assert a.allowance_s == 0 and b.allowance_s == 1.0  # beyond the proven level: one request's wait
    limit.answered(a, 1.0)
    c = limit.send()
    limit.answered(b, 2.0)  # it waited for a: one slot, or just a long answer
    assert limit.limit == 2
    limit.send()
    limit.answered(c, 2.0)  # late again: the server queues
    assert limit.limit == 1 and not limit.slow_start


def test_one_late_answer_among_prompt_ones_does_not_cut_the_limit():
    limit = AdaptiveLimit(start=4, cap=32)
    in_flight = [limit.send() for _ in range(4)]
    for rtt in (1.0, 1.0, 1.0, 3.0, 1.0, 1.0, 3.0, 1.0):
        limit.answered(in_flight.pop(0), rtt)
        in_flight.append(limit.send())
    assert limit.limit >= 4


def test_a_timeout_halves_the_limit_once_per_round():
    limit = AdaptiveLimit(start=8, cap=32)
    sent = [limit.send() for _ in range(8)]
    for each in sent:
        limit.dropped(each)
    assert limit.limit == 4  # one cut for the eight sent at the old limit


def test_the_queue_serves_waiters_in_arrival_order_and_a_retry_keeps_its_place():
    async def go() -> list[int]:
        limits = [AdaptiveLimit(start=1, cap=4)]
        queue = RequestQueue(limits, cap=4)
        order: list[int] = []
        first = await queue.acquire(0)

        async def wait(arrival: int) -> None:
            permit = await queue.acquire(arrival)
            order.append(arrival)
            limits[permit.endpoint].ignored()
            queue.done()

        tasks = [asyncio.create_task(wait(n)) for n in (5, 3, 9)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(wait(1)))  # a retry of an early request, queued last
        await asyncio.sleep(0)
        limits[0].ignored()
        queue.done()
        del first
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(go()) == [1, 3, 5, 9]


def _keep_full(limit: AdaptiveLimit, in_flight: list, answers: int, rtt_s) -> None:
    """A backlog of waiters: every answer's place goes to the next request at once. ``rtt_s``: a number,
    or the round trip of a request from what it was sent with."""
    backlog = 1000
    in_flight += [limit.send(waiting=backlog) for _ in range(limit.room())]
    for _ in range(answers):
        sent = in_flight.pop(0)
        limit.answered(sent, rtt_s(sent) if callable(rtt_s) else rtt_s)
        in_flight += [limit.send(waiting=backlog) for _ in range(limit.room())]


def test_a_cut_from_a_passing_burst_is_unlearnt_in_a_few_round_trips():
    # Two cores answering 28 day plans at once look like a queueing server: the limit comes down.
    limit = AdaptiveLimit(start=32, cap=128)
    in_flight: list = []
    # Each request waits for the answers ahead of it to be worked out: 20 ms apiece.
    _keep_full(limit, in_flight, 32, lambda sent: 0.2 + 0.02 * sent.in_flight)
    cut = limit.limit
    assert cut <= 16 and not limit.slow_start, (cut, limit.slow_start)
    # Then latency is flat again with more in flight than the cut allowed: slow start, the limit
    # doubling per round of answers, instead of one more per max(limit, PROBE_EVERY) answers.
    _keep_full(limit, in_flight, cut + 4 * PROBE_EVERY, 0.2)
    assert limit.slow_start
    _keep_full(limit, in_flight, 128, 0.2)
    assert limit.limit == 128


def test_a_server_that_really_queues_keeps_its_cut():
    # One slot: a request sent with k in flight waits for the k - 1 ahead of it, so every probe at two
    # is late and slow start never comes back.
    limit = AdaptiveLimit(start=1, cap=32)
    in_flight: list = []
    _keep_full(limit, in_flight, 300, lambda sent: 1.0 * sent.in_flight)
    assert not limit.slow_start and limit.limit <= 2, (limit.slow_start, limit.limit)
