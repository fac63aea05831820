"""What an OpenAI-compatible server says about how many requests it serves at once.

- llama.cpp's ``llama-server``: ``GET /props`` → ``{"total_slots": N, …}`` (``--parallel N``);
- vLLM: ``GET /metrics`` (Prometheus text with ``vllm:`` gauges): continuous batching, so as
  many as we may send (the cap) from the start;
- anything else (Ollama, llama-cpp-python, cloud APIs): nothing, and the limit starts low.

Asked once per endpoint before its first request, with a short timeout; any failure means
"not stated". The path is looked up beside the API root: ``http://h:p/v1`` → ``http://h:p/props``.
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0


def server_root(base_url: str) -> str:
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


async def stated_capacity(client: httpx.AsyncClient, base_url: str, cap: int) -> int | None:
    """Requests the server says it serves at once, at most ``cap``; None when it says nothing."""
    root = server_root(base_url)
    try:
        props = await client.get(f"{root}/props", timeout=PROBE_TIMEOUT_S)
        if props.status_code == 200:
            slots = props.json().get("total_slots")
            if isinstance(slots, int) and not isinstance(slots, bool) and slots >= 1:
                return min(slots, cap)
        metrics = await client.get(f"{root}/metrics", timeout=PROBE_TIMEOUT_S)
        if metrics.status_code == 200 and "vllm:num_requests_running" in metrics.text:
            return cap
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.debug("no stated capacity at %s: %s", root, type(exc).__name__)
    return None
