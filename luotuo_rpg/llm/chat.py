"""The text-level contract between the structured layer and a model backend.

Backends that talk to real models (``openai``, ``local``) implement
:class:`ChatBackend`: messages in, text and token counts out. Everything
about request kinds, prompts, parsing, repair and fallback lives above this
line (``llm/structured.py``), so a backend only has to move text.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    kind: str = Field(description="Request kind, for accounting and logs (plan_day, react, …).")
    messages: list[dict[str, str]] = Field(description="OpenAI-style [{role, content}].")
    max_tokens: int = 512
    temperature: float = 0.0
    json_mode: bool = True
    stop: list[str] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = Field(
        default=None,
        description="JSON Schema the answer must fit (llm/schemas.py); backends that can constrain decoding do.",
    )
    adapter: str | None = Field(
        default=None,
        description="LoRA adapter: a local path for the local backend; for the openai backend "
        "the served model name (vLLM --lora-modules), overriding the default model.",
    )


class ChatResult(BaseModel):
    text: str
    tokens_in: int
    tokens_out: int
    estimated: bool = Field(default=False, description="True when the server sent no usage.")
    cached: bool = False


class LLMUnavailable(RuntimeError):
    """The backend gave up on a request (retries exhausted, server gone)."""


class RunHalted(RuntimeError):
    """Going on would waste the run: it stops cleanly, and its last checkpoint is where to resume."""


class BudgetExceeded(RunHalted):
    """The run's token cap was reached; the engine stops cleanly at the tick boundary."""


class BackendDown(RunHalted):
    """Request after request found no backend: rather than fill the run with fallback answers, stop it."""


RESUME_HINT = "stopped at the last checkpoint: resume once the server is back"


def embeddings_down(exc: LLMUnavailable) -> BackendDown:
    """An embedder gave up: no fallback can stand in, since memories must all live in one embedding space."""
    return BackendDown(f"embeddings: {exc}; {RESUME_HINT}")


@runtime_checkable
class ChatBackend(Protocol):
    name: str
    counters: dict[str, int]
    """Backend-level counts (retries, http_429, timeouts, cache_hits …) for the summary."""

    async def chat(self, request: ChatRequest) -> ChatResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    async def embed(self, texts: list[str]) -> np.ndarray:
        """Return float32 rows, L2-normalised, one per text."""
        ...


def estimate_tokens(text: str) -> int:
    """Rough token count when a server sends no usage: CJK ≈ 1 token per
    character, other text ≈ 1 token per 4 characters (tiktoken-like averages)."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
    return cjk + max(0, len(text) - cjk) // 4 + 1
