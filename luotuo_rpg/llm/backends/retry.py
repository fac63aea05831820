"""The retry policy of HTTP model clients (chat and embeddings): what is worth retrying, and how long to wait."""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Mapping

import openai

# A Retry-After longer than this is treated as this: a broken header must not
# park a request for hours, and a server that really wants minutes of quiet is
# better served by the run failing loudly after max_retries.
RETRY_AFTER_CAP_S = 120.0

# Statuses worth retrying besides 429 and 5xx: 408 (request timeout) and 409
# (lock timeout) are transient by definition; other 4xx will not change.
_RETRYABLE_4XX = {408, 409}


def classify_failure(exc: BaseException) -> tuple[str, float | None] | None:
    """Map an exception from the openai client to (counter name, Retry-After
    seconds or None) when the request is worth retrying, or None when it is not."""
    if isinstance(exc, openai.APITimeoutError):  # before its parent APIConnectionError
        return "timeouts", None
    if isinstance(exc, openai.APIConnectionError):
        # Refused and dropped connections, and bodies shorter than their
        # Content-Length, all arrive here from the HTTP layer.
        return "connection_errors", None
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry_after = parse_retry_after(exc.response.headers)
        if status == 429:
            return "http_429", retry_after
        if status >= 500:
            return "http_5xx", retry_after
        if status in _RETRYABLE_4XX:
            return "http_4xx_transient", retry_after
        return None
    if isinstance(exc, (openai.APIResponseValidationError, json.JSONDecodeError, UnicodeDecodeError)):
        # A 200 whose body is not the JSON (or the UTF-8) it claims to be: garbled on the way.
        return "bad_responses", None
    return None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return min(seconds, RETRY_AFTER_CAP_S)
    value = headers.get("retry-after")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return min(max(0.0, when.timestamp() - time.time()), RETRY_AFTER_CAP_S)
    return None


def backoff_delay(
    attempt: int, base_s: float, max_s: float, rng: random.Random, retry_after: float | None = None
) -> float:
    """Seconds to sleep before retry number ``attempt`` (1-based).

    Full jitter (uniform in [0, min(max, base·2^(attempt-1))]) spreads a herd
    of agents that all hit the same 429 instead of having them retry in
    lockstep. A server's Retry-After wins: it knows when it will have room.
    """
    if retry_after is not None:
        return retry_after
    ceiling = min(max_s, base_s * (2 ** (attempt - 1)))
    return rng.uniform(0.0, ceiling)
