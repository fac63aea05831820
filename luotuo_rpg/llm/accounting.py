"""What a run spent on its model: requests, tokens, repairs and fallbacks, by kind."""

from __future__ import annotations

from pydantic import BaseModel, Field


class KindStats(BaseModel):
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    repairs: int = 0
    fallbacks: int = 0
    fixes: int = 0


class LLMStats(BaseModel):
    backend: str = "offline"
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    repairs: int = 0
    fallbacks: int = 0
    cached: int = 0
    by_kind: dict[str, KindStats] = Field(default_factory=dict)
    fallback_reasons: dict[str, int] = Field(default_factory=dict)
    fixes: dict[str, int] = Field(
        default_factory=dict, description="'kind: fix' → answers bent into shape in code (llm/fixups.py)."
    )
    backend_counters: dict[str, int] = Field(default_factory=dict)
    response_formats: dict[str, str] = Field(
        default_factory=dict, description="Endpoint → the response_format dialect its answers came in."
    )

    def _kind(self, kind: str) -> KindStats:
        return self.by_kind.setdefault(kind, KindStats())

    def record(self, kind: str, tokens_in: int, tokens_out: int, cached: bool = False) -> None:
        stats = self._kind(kind)
        stats.requests += 1
        stats.tokens_in += tokens_in
        stats.tokens_out += tokens_out
        self.requests += 1
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cached += int(cached)

    def record_repair(self, kind: str) -> None:
        self._kind(kind).repairs += 1
        self.repairs += 1

    def record_fallback(self, kind: str, reason: str) -> None:
        self._kind(kind).fallbacks += 1
        self.fallbacks += 1
        key = f"{kind}: {reason}"[:120]
        self.fallback_reasons[key] = self.fallback_reasons.get(key, 0) + 1

    def record_fixes(self, kind: str, fixes: list[str]) -> None:
        for fix in fixes:
            self._kind(kind).fixes += 1
            key = f"{kind}: {fix}"
            self.fixes[key] = self.fixes.get(key, 0) + 1
