"""Typed requests over a text backend: render → chat → parse → check → one repair → fallback.

The fallback is the offline mind's answer to the same request: in character,
valid by construction, and counted (``stats.fallbacks``) so a run's summary
shows how often the model failed.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import numpy as np
from pydantic import ValidationError

from luotuo_rpg.llm.accounting import LLMStats
from luotuo_rpg.llm.chat import (
    RESUME_HINT,
    BackendDown,
    ChatBackend,
    ChatRequest,
    Embedder,
    LLMUnavailable,
    RunHalted,
    embeddings_down,
)
from luotuo_rpg.llm.fixups import apply_fixups
from luotuo_rpg.llm.json_extract import NoJSON, extract_json
from luotuo_rpg.llm.kinds import Out, OutputRejected, Request
from luotuo_rpg.llm.offline.mind import OfflineMind
from luotuo_rpg.llm.prompts import render, repair_messages
from luotuo_rpg.llm.schemas import request_schema, skeleton

# The repair is sampled, not greedy: at temperature 0 a small model answers the repair prompt
# with the byte-identical invalid answer (issue 13, Qwen2.5-0.5B). Low enough to stay in character.
REPAIR_TEMPERATURE = 0.7

log = logging.getLogger(__name__)


def parse_output(request: Request[Out], text: str, fixes: list[str] | None = None) -> Out:
    """Raise ValueError (NoJSON, ValidationError, OutputRejected) with a reason a model can act on.

    Whatever the text, nothing else escapes: an error from deeper down (a validator, a check
    meeting a shape it never expected) becomes :class:`Unparseable`. ``fixes`` collects the
    names of what :mod:`luotuo_rpg.llm.fixups` bent into shape.
    """
    try:
        data = extract_json(text)
        data, made = apply_fixups(request, data, request_schema(request))
        # ``output`` is the class ``Out`` stands for (see Request): the one place that is taken on trust.
        output = cast(Out, type(request).output.model_validate(data))
        checked = request.check(output)
    except (NoJSON, ValidationError, OutputRejected):
        raise
    except Exception as exc:  # noqa: BLE001 - any text must end in a repair or a fallback, never a crash
        raise Unparseable(f"the answer could not be read: {type(exc).__name__}") from exc
    if fixes is not None:
        fixes.extend(made)
    return checked


class Unparseable(ValueError):
    """The answer broke something below the parser; the model is asked again like for any bad answer."""


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"field {where}: {first['msg']}"
    return str(exc)


class StructuredMind:
    def __init__(
        self,
        backend: ChatBackend,
        fallback: OfflineMind,
        embedder: Embedder | None = None,
        stats: LLMStats | None = None,
        adapters: dict[str, str] | None = None,
        halt_after_unavailable: int | None = 3,
    ):
        self.backend = backend
        # Requests that found no backend, one after another (each after its own retries): past
        # this many the server is down, not busy, and answering from fallbacks would fill the run
        # with rules instead of a model. None: fall back forever.
        self.halt_after_unavailable = halt_after_unavailable
        self._unavailable_streak = 0
        self.adapters = adapters or {}
        self.fallback = fallback
        self.embedder = embedder
        self.stats = stats or LLMStats(backend=backend.name)
        self.stats.backend = backend.name

    async def _chat(
        self, request: Request, messages: list[dict[str, str]], schema: dict[str, Any], temperature: float = 0.0
    ) -> str:
        result = await self.backend.chat(
            ChatRequest(
                kind=request.kind,
                messages=messages,
                max_tokens=type(request).max_tokens,
                temperature=temperature,
                json_mode=True,
                json_schema=schema,
                adapter=self.adapters.get(request.agent),
            )
        )
        self._unavailable_streak = 0
        self.stats.record(request.kind, result.tokens_in, result.tokens_out, cached=result.cached)
        return result.text

    def _parse(self, request: Request[Out], answer: str) -> Out:
        fixes: list[str] = []
        output = parse_output(request, answer, fixes)
        self.stats.record_fixes(request.kind, fixes)
        return output

    async def ask(self, request: Request[Out]) -> Out:
        messages = render(request)
        schema = request_schema(request)
        try:
            answer = await self._chat(request, messages, schema)
            try:
                return self._parse(request, answer)
            except (NoJSON, ValidationError, OutputRejected, ValueError) as exc:
                reason = _reason(exc)
                log.info("%s for %s rejected (%s); asking once more", request.kind, request.agent, reason)
                self.stats.record_repair(request.kind)
                repair = repair_messages(messages, answer, reason, request.language, skeleton(schema))
                answer = await self._chat(request, repair, schema, temperature=REPAIR_TEMPERATURE)
                return self._parse(request, answer)
        except RunHalted:
            raise
        except LLMUnavailable as exc:
            self._unavailable_streak += 1
            limit = self.halt_after_unavailable
            if limit is not None and self._unavailable_streak >= limit:
                raise BackendDown(
                    f"{self._unavailable_streak} requests in a row found no backend (last: {exc}); {RESUME_HINT}"
                ) from exc
            reason = f"backend unavailable: {exc}"
        except (NoJSON, ValidationError, OutputRejected, ValueError) as exc:
            reason = f"invalid after repair: {_reason(exc)}"
        log.warning("fallback for %s (%s): %s", request.agent, request.kind, reason)
        self.stats.record_fallback(request.kind, reason.split(":")[0])
        return self.fallback.answer(request)

    async def embed(self, texts: list[str]) -> np.ndarray:
        if self.embedder is None:
            return await self.fallback.embed(texts)
        try:
            return await self.embedder.embed(texts)
        except LLMUnavailable as exc:
            raise embeddings_down(exc) from exc

    def response_formats(self) -> dict[str, str]:
        """Endpoint → response_format dialect, for backends that speak several (the openai one)."""
        return dict(getattr(self.backend, "response_formats", {}))

    async def aclose(self) -> None:
        self.stats.backend_counters = dict(self.backend.counters)
        self.stats.response_formats = self.response_formats()
        await self.backend.aclose()
        close = getattr(self.embedder, "aclose", None)
        if close is not None:
            await close()
