"""Build the mind a run asks: the offline rules, an OpenAI-compatible server, or a local model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from luotuo_rpg.llm.chat import ChatBackend
from luotuo_rpg.llm.embeddings.setup import EmbeddingOptions, build_embedder
from luotuo_rpg.llm.mind import Mind
from luotuo_rpg.llm.offline.mind import OfflineMind
from luotuo_rpg.llm.redact import mask_url
from luotuo_rpg.world.spec import WorldSpec


class MindOptions(BaseModel):
    llm: str = Field(default="offline", pattern="^(offline|openai|local)$")
    seed: int = 0
    language: str = "zh"
    openai: dict[str, Any] = Field(default_factory=dict, description="OpenAI backend settings (see openai_backend).")
    local_model: str | None = None
    adapters: dict[str, str] = Field(
        default_factory=dict, description="Persona name → LoRA adapter (local: a path; openai: the served model name)."
    )
    embedding: EmbeddingOptions = Field(default_factory=EmbeddingOptions, description="Default: the offline hash.")


def for_world(options: MindOptions, spec: WorldSpec, world_file: str | Path | None = None) -> MindOptions:
    """The options with what the world decides: its language and each persona's adapter.

    For the local backend an adapter is a folder, and a relative one is looked up beside
    the world file first (worlds travel with their adapters); for an OpenAI-compatible
    server it is the name the server serves the adapter under, passed on as is.
    """
    base = Path(world_file).resolve().parent if world_file else None
    adapters: dict[str, str] = {}
    for persona in spec.personas:
        if not persona.adapter:
            continue
        adapter = persona.adapter
        if (
            options.llm == "local"
            and base is not None
            and not Path(adapter).is_absolute()
            and (base / adapter).exists()
        ):
            adapter = str(base / adapter)
        adapters[persona.name] = adapter
    return options.model_copy(update={"language": spec.world.language, "adapters": adapters})


def build_mind(options: MindOptions) -> Mind:
    offline = OfflineMind(seed=options.seed, language=options.language)
    embedder = build_embedder(options.embedding, options.openai.get("base_urls"))
    if options.llm == "offline":
        if embedder is not None:  # rule-based answers, retrieval over real embeddings
            offline.embedder = embedder
        return offline
    from luotuo_rpg.llm.structured import StructuredMind

    if options.llm == "openai":
        from luotuo_rpg.llm.backends.openai_compatible import (
            OpenAIBackend,
            OpenAIConfig,
        )
        from luotuo_rpg.llm.backends.preflight import check_endpoints, probe_dialects

        config = OpenAIConfig.model_validate(options.openai)
        check_endpoints(config)
        backend: ChatBackend = OpenAIBackend(config.model_copy(update={"response_formats": probe_dialects(config)}))
    else:
        from luotuo_rpg.llm.backends.local.backend import LocalBackend

        if not options.local_model:
            raise ValueError("--llm local needs --model PATH (a transformers model folder or a .gguf file)")
        local = LocalBackend(options.local_model)
        for adapter in sorted(set(options.adapters.values())):
            local.load_adapter(adapter)  # fail fast on a bad path, before the first tick
        backend = local
    return StructuredMind(backend, fallback=offline, embedder=embedder, adapters=options.adapters)


def describe(options: MindOptions, mind: Mind | None = None) -> dict[str, Any]:
    """Backend settings for meta.json: never a secret (no key; credentials in a URL masked). With the
    mind built from them, also the response_format dialect each endpoint was found to speak (a resume
    reuses it)."""
    data = options.model_dump(mode="json")
    openai = dict(data.get("openai") or {})
    openai.pop("api_key", None)
    found = getattr(mind, "response_formats", None)
    if callable(found) and found():
        openai["response_formats"] = {**openai.get("response_formats", {}), **found()}
    if openai.get("response_formats"):
        openai["response_formats"] = {mask_url(url): d for url, d in openai["response_formats"].items()}
    if openai.get("base_urls"):
        openai["base_urls"] = [mask_url(url) for url in openai["base_urls"]]
    data["openai"] = openai
    embedding = dict(data.get("embedding") or {})
    if embedding.get("base_url"):
        embedding["base_url"] = mask_url(embedding["base_url"])
    data["embedding"] = embedding
    return data
