"""The ``openai`` backend: any OpenAI-compatible chat server (Ollama, vLLM,
SGLang, llama.cpp server, DeepSeek, DashScope, GLM, Moonshot …).

What this layer adds on top of ``AsyncOpenAI``:

- adaptive concurrency per endpoint (``backends/concurrency_limit.py``): one think phase may
  issue a hundred requests at once; each endpoint gets as many at once as it serves
  without queueing, learnt from latency (or stated by the server), the rest wait in
  our own queue, so a timeout measures the server's work, not its queue;
  ``max_concurrency`` caps all endpoints together;
- our own retries (the client's are switched off, so every retry is counted):
  exponential backoff with full jitter on 429, 5xx, timeouts and broken
  connections, and the server's ``Retry-After`` when it sends one; a timed-out
  request's connection is closed before its retry is queued, so one request is
  never on the wire twice, and a retry keeps its place in our queue;
- several endpoints shared by load: each attempt goes to the endpoint with
  the most room under its limit, so a slow server gets less work;
- the answer's JSON Schema in the ``response_format`` dialect each endpoint
  accepts, found at its first request and on a refusal
  (:mod:`luotuo_rpg.llm.backends.response_format`);
- token accounting, an on-disk response cache and a spend cap.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import uuid
from typing import Any

import httpx
import openai

from luotuo_rpg.llm.backends.concurrency_limit import (
    AdaptiveLimit,
    Permit,
    RequestQueue,
)
from luotuo_rpg.llm.backends.openai_config import OpenAIConfig
from luotuo_rpg.llm.backends.response_cache import ResponseCache, cache_key
from luotuo_rpg.llm.backends.response_format import (
    DialectBook,
    effective,
    names_response_format,
    response_format,
)
from luotuo_rpg.llm.backends.retry import backoff_delay, classify_failure
from luotuo_rpg.llm.backends.server_capacity import stated_capacity
from luotuo_rpg.llm.chat import (
    BudgetExceeded,
    ChatRequest,
    ChatResult,
    LLMUnavailable,
    estimate_tokens,
)
from luotuo_rpg.llm.redact import failure_text, mask_url

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Luotuo-Request"
"""Sent with every attempt, the same for all retries of one request: a server's logs (and the
test double) can tell a retry from a new request."""

# Failures that mean "too much at once" and cut the endpoint's limit; other failures
# (5xx, refused connections, garbled bodies) say nothing about load.
_OVERLOAD_COUNTERS = {"timeouts", "http_429"}


class OpenAIBackend:
    """:class:`~luotuo_rpg.llm.chat.ChatBackend` over one or more OpenAI-compatible servers."""

    name = "openai"

    def __init__(self, config: OpenAIConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        # Jitter only changes *when* a retry is sent, never what is answered,
        # so an unseeded generator keeps runs reproducible.
        self._rng = rng or random.Random()
        api_key = config.api_key.get_secret_value() if config.api_key is not None else None
        self._clients = [
            openai.AsyncOpenAI(
                base_url=url,
                # Local servers (Ollama, vLLM) need no key but the client insists
                # on one; a placeholder also stops it reading OPENAI_API_KEY behind
                # the back of from_sources.
                api_key=api_key or "no-key",
                timeout=config.timeout_s,
                max_retries=0,
            )
            for url in config.base_urls
        ]
        cap = config.max_concurrency
        self._limits = [AdaptiveLimit(start=config.concurrency_start or 1, cap=cap) for _ in self._clients]
        self._queue = RequestQueue(self._limits, cap)
        self._capacity_asked = config.concurrency_start is not None
        self._capacity_lock = asyncio.Lock()
        self._arrivals = itertools.count()
        self._id_prefix = uuid.uuid4().hex[:8]  # request ids of two runs against one server never meet
        self.dialects = DialectBook(config.base_urls, config.json_mode, config.response_formats)
        self._cache = ResponseCache(config.cache_path) if config.cache_path is not None else None
        self.counters: dict[str, int] = {
            "requests": 0,  # chat calls that went to the network (cache misses)
            "attempts": 0,  # HTTP requests sent, retries included
            "retries": 0,
            "http_429": 0,
            "http_5xx": 0,
            "http_4xx_transient": 0,
            "timeouts": 0,
            "connection_errors": 0,
            "bad_responses": 0,
            "response_format_steps_down": 0,  # an endpoint refused a dialect; the next one was tried
            "cache_hits": 0,
            "failures": 0,  # calls that ended in LLMUnavailable
            "tokens_in": 0,
            "tokens_out": 0,
            "estimated_usage": 0,
            "queue_wait_ms": 0,  # summed over attempts: time spent in our queue, not on the wire
            "queue_wait_max_ms": 0,
            **{f"endpoint_{i}": 0 for i in range(len(self._clients))},
            **{f"limit_endpoint_{i}": limit.limit for i, limit in enumerate(self._limits)},
            **{f"limit_peak_endpoint_{i}": limit.peak for i, limit in enumerate(self._limits)},
        }

    def __repr__(self) -> str:
        urls = [mask_url(u) for u in self.config.base_urls]
        return f"OpenAIBackend(model={self.config.model!r}, base_urls={urls!r})"

    @property
    def tokens_spent(self) -> int:
        return self.counters["tokens_in"] + self.counters["tokens_out"]

    async def chat(self, request: ChatRequest) -> ChatResult:
        cap = self.config.max_tokens_total
        if cap is not None and self.tokens_spent >= cap:
            raise BudgetExceeded(f"token cap reached: {self.tokens_spent} of {cap} tokens spent")

        model = request.adapter or self.config.model
        key = cache_key(
            model,
            request.messages,
            {
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "json_mode": request.json_mode,
                "json_schema": request.json_schema,
                "stop": request.stop,
            },
        )
        if self._cache is not None:
            hit = self._cache.get(key)
            if hit is not None:
                self.counters["cache_hits"] += 1
                return hit

        self.counters["requests"] += 1
        if not self._capacity_asked:
            await self._ask_capacity()
        result = await self._chat_with_retries(request, model)
        self.counters["tokens_in"] += result.tokens_in
        self.counters["tokens_out"] += result.tokens_out
        if result.estimated:
            self.counters["estimated_usage"] += 1
        if self._cache is not None:
            self._cache.put(key, model, result)
        return result

    async def _ask_capacity(self) -> None:
        """Once, before the first request: start each endpoint where its server says it can."""
        async with self._capacity_lock:
            if self._capacity_asked:
                return
            async with httpx.AsyncClient() as client:
                stated = await asyncio.gather(
                    *(stated_capacity(client, url, self.config.max_concurrency) for url in self.config.base_urls)
                )
            for index, capacity in enumerate(stated):
                if capacity is not None:
                    self._limits[index].set_start(capacity)
                    log.info("endpoint %d serves %d requests at once (stated by the server)", index, capacity)
            self._capacity_asked = True
            self._show_limits()

    def _show_limits(self) -> None:
        for index, limit in enumerate(self._limits):
            self.counters[f"limit_endpoint_{index}"] = limit.limit
            self.counters[f"limit_peak_endpoint_{index}"] = limit.peak

    async def _chat_with_retries(self, request: ChatRequest, model: str) -> ChatResult:
        retries = 0
        # One number for the request and all its retries: its place in our queue and its id on the wire.
        arrival = next(self._arrivals)
        while True:
            outcome = await self._attempt(request, model, arrival)
            if isinstance(outcome, ChatResult):
                return outcome
            index, counter, retry_after, exc = outcome
            if retries >= self.config.max_retries:
                self.counters["failures"] += 1
                raise LLMUnavailable(
                    f"{request.kind}: gave up after {retries + 1} attempts; last: {counter} "
                    f"({type(exc).__name__}) from endpoint {index}"
                ) from exc
            retries += 1
            self.counters["retries"] += 1
            delay = backoff_delay(
                retries, self.config.backoff_base_s, self.config.backoff_max_s, self._rng, retry_after
            )
            log.info(
                "%s: %s from endpoint %d; retry %d/%d in %.2f s",
                request.kind,
                counter,
                index,
                retries,
                self.config.max_retries,
                delay,
            )
            # Slept outside the queue, so other agents' requests keep the
            # servers busy meanwhile.
            await asyncio.sleep(delay)

    async def _attempt(
        self, request: ChatRequest, model: str, arrival: int
    ) -> ChatResult | tuple[int, str, float | None, Exception]:
        """One HTTP request (more if the endpoint refuses response_format dialects).
        Returns the result, or (endpoint, counter, Retry-After, error) of a
        retryable failure; raises LLMUnavailable on a failure that is not."""
        while True:
            permit = await self._queue.acquire(arrival)
            index = permit.endpoint
            self._note_wait(permit)
            dialect = self.dialects.current(index, request.json_mode)
            self.counters["attempts"] += 1
            self.counters[f"endpoint_{index}"] += 1
            reported = False
            started = time.monotonic()
            try:
                # The httpx timeout closes the connection when it fires: the server sees the
                # client go before any retry of this request is sent.
                completion = await self._clients[index].chat.completions.create(
                    **self._create_kwargs(request, model, dialect),
                    timeout=self.config.timeout_s + permit.sent.allowance_s,
                    extra_headers={REQUEST_ID_HEADER: f"{self._id_prefix}-{arrival}"},
                )
                self._limits[index].answered(permit.sent, time.monotonic() - started)
                self.dialects.confirm(index)
                reported = True
                return _to_result(request, completion)
            except openai.APIStatusError as exc:
                if self._refuses_dialect(index, effective(dialect, request.json_schema), exc):
                    # Resent at once and not counted as a retry: nothing failed
                    # transiently, we just learnt what this server speaks.
                    self.counters["response_format_steps_down"] += 1
                    continue
                if isinstance(exc, openai.BadRequestError):
                    self.counters["failures"] += 1
                    # The server's words go to the log only: a run's files never quote a server.
                    log.warning("endpoint %d refused a %s request (400): %.300s", index, request.kind, exc.message)
                    raise LLMUnavailable(f"{request.kind}: endpoint {index} refused the request (400)") from exc
                failure = classify_failure(exc)
                if failure is None:
                    self.counters["failures"] += 1
                    raise LLMUnavailable(f"{request.kind}: endpoint {index} failed: {failure_text(exc)}") from exc
                reported = self._count_retryable(index, permit, failure)
                return index, failure[0], failure[1], exc
            except Exception as exc:
                failure = classify_failure(exc)
                if failure is None:
                    self.counters["failures"] += 1
                    log.warning("endpoint %d failed a %s request: %.300s", index, request.kind, exc)
                    raise LLMUnavailable(f"{request.kind}: endpoint {index} failed: {failure_text(exc)}") from exc
                reported = self._count_retryable(index, permit, failure)
                return index, failure[0], failure[1], exc
            finally:
                if not reported:
                    self._limits[index].ignored()
                self._queue.done()
                self._show_limits()

    def _note_wait(self, permit: Permit) -> None:
        waited_ms = round(permit.queued_s * 1000)
        self.counters["queue_wait_ms"] += waited_ms
        self.counters["queue_wait_max_ms"] = max(self.counters["queue_wait_max_ms"], waited_ms)

    def _count_retryable(self, index: int, permit: Permit, failure: tuple[str, float | None]) -> bool:
        """Count a retryable failure; one that means "too much at once" cuts the endpoint's limit.
        True when the limit was told about this attempt."""
        counter = failure[0]
        self.counters[counter] += 1
        if counter in _OVERLOAD_COUNTERS:
            self._limits[index].dropped(permit.sent)
            return True
        return False

    def _refuses_dialect(self, index: int, dialect: str, exc: openai.APIStatusError) -> bool:
        """A refusal of this response_format (a 5xx counts only before the dialect was ever answered),
        and a lower dialect is left to try: step down."""
        if dialect == "plain":
            return False
        if exc.status_code >= 500 and self.dialects.confirmed[index]:
            return False
        refused = names_response_format(exc.status_code, f"{exc.message} {exc.body}")
        return refused and self.dialects.step_down(index, dialect)

    @property
    def response_formats(self) -> dict[str, str]:
        """Base URL (credentials masked) → the dialect in use (meta.json, the summary)."""
        return {mask_url(url): dialect for url, dialect in self.dialects.report().items()}

    def _create_kwargs(self, request: ChatRequest, model: str, dialect: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            kwargs["stop"] = request.stop
        fmt = response_format(dialect, request.json_schema, request.kind)
        if fmt is not None:
            kwargs["response_format"] = fmt
        return kwargs

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
        if self._cache is not None:
            self._cache.close()


def _to_result(request: ChatRequest, completion: Any) -> ChatResult:
    text = ""
    if completion.choices:
        message = completion.choices[0].message
        # A refusal arrives in its own field on OpenAI proper; pass it up as
        # text so the structured layer counts it as a failed parse, not a crash.
        text = message.content or getattr(message, "refusal", None) or ""
    usage = completion.usage
    if usage is not None and usage.prompt_tokens is not None and usage.completion_tokens is not None:
        return ChatResult(text=text, tokens_in=usage.prompt_tokens, tokens_out=usage.completion_tokens)
    tokens_in = sum(estimate_tokens(str(m.get("content", ""))) for m in request.messages)
    return ChatResult(text=text, tokens_in=tokens_in, tokens_out=estimate_tokens(text), estimated=True)
