"""Before the first tick: is each OpenAI-compatible endpoint there, and does it take the key?

A run against a server that is not running would otherwise spend every request on
retries and fill the replay with fallback answers; one ``GET /models`` per endpoint
says so in a line instead. Any HTTP answer but 401/403 counts as "there" (some
servers have no ``/models``).
"""

from __future__ import annotations

import httpx

from luotuo_rpg.llm.backends.openai_config import OpenAIConfig
from luotuo_rpg.llm.backends.response_format import probe
from luotuo_rpg.llm.redact import mask_url

PROBE_TIMEOUT_S = 10.0


def check_endpoints(config: OpenAIConfig) -> None:
    """Raise ValueError naming the first endpoint that cannot be reached or refuses the key."""
    headers = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"} if config.api_key else {}
    timeout = min(config.timeout_s, PROBE_TIMEOUT_S)
    for url in config.base_urls:
        try:
            response = httpx.get(f"{url}/models", headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise ValueError(
                f"cannot reach {mask_url(url)} ({type(exc).__name__}: {exc or 'no answer'}): is the server running? "
                "(`luotuo-rpg mock-llm` serves a stand-in without a model)"
            ) from None
        if response.status_code in (401, 403):
            raise ValueError(
                f"{mask_url(url)} refused the API key (HTTP {response.status_code}): check OPENAI_API_KEY or --api-key"
            )


def probe_dialects(config: OpenAIConfig) -> dict[str, str]:
    """Base URL → the response_format dialect it accepts, for the endpoints whose dialect is not known
    yet (``llm/backends/response_format.py``); one tiny request per dialect tried. An endpoint whose probe says
    nothing is left out and finds its dialect at the first real request instead."""
    headers = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"} if config.api_key else {}
    found = dict(config.response_formats)
    if config.json_mode == "off":
        return found
    for url in config.base_urls:
        if url not in found:
            dialect = probe(url, config.model, headers, min(config.timeout_s, PROBE_TIMEOUT_S), config.json_mode)
            if dialect is not None:
                found[url] = dialect
    return found
