"""Which embedder a run uses: the offline hash (default), an OpenAI-compatible
``/v1/embeddings`` model, or a sentence-transformers model from a local folder.

The choice is part of a run's model settings (``meta.json``): memories live in
the embedding space they were stored in, so a resumed or forked run must embed
with the same model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import openai
import yaml
from pydantic import BaseModel, Field, SecretStr, model_validator

from luotuo_rpg.llm.chat import Embedder
from luotuo_rpg.llm.embeddings.embedders import (
    CachedEmbedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
)
from luotuo_rpg.llm.redact import mask_url

log = logging.getLogger(__name__)


class EmbeddingOptions(BaseModel):
    model: str | None = Field(
        default=None,
        description="Model name on an OpenAI-compatible /v1/embeddings endpoint (e.g. bge-m3).",
        examples=["bge-m3"],
    )
    base_url: str | None = Field(
        default=None,
        description="Embedding endpoint; default: the chat backend's first --base-url.",
    )
    dim: int | None = Field(default=None, ge=1, description="Vector width; asked of the server once when not given.")
    path: str | None = Field(default=None, description="A sentence-transformers model folder (never downloaded).")
    timeout_s: float = Field(default=60.0, gt=0)
    api_key: SecretStr | None = Field(default=None, exclude=True, description="Never written anywhere.")

    @model_validator(mode="after")
    def _one_source(self) -> EmbeddingOptions:
        if self.model and self.path:
            raise ValueError("choose one embedder: an endpoint model (--embed-model) or a local folder (--embed-path)")
        if (self.base_url or self.dim) and not self.model:
            raise ValueError("--embed-base-url and --embed-dim need --embed-model")
        return self

    @property
    def kind(self) -> str:
        return "openai" if self.model else "local" if self.path else "offline"


def merge_embedding_options(
    recorded: EmbeddingOptions | None, config_file: Path | None, flags: dict[str, Any], api_key: str | None
) -> EmbeddingOptions:
    """Flags > the config file's ``embedding:`` section > what the run recorded > the offline default."""
    merged: dict[str, Any] = {} if recorded is None else recorded.model_dump(mode="python")
    if config_file is not None:
        merged.update(_config_section(Path(config_file)))
    merged.update({k: str(v) if isinstance(v, Path) else v for k, v in flags.items() if v is not None})
    if api_key:
        merged["api_key"] = api_key
    return EmbeddingOptions.model_validate(merged)


def _config_section(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the config: {exc}") from exc
    section = data.get("embedding", {}) if isinstance(data, dict) else {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: `embedding:` must be a mapping of settings")
    known = set(EmbeddingOptions.model_fields) - {"api_key"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"{path}: unknown embedding settings {unknown}; known: {sorted(known)}")
    return section


def probe_dim(base_url: str, model: str, api_key: str | None, timeout_s: float) -> int:
    """Ask the server for one vector: its width, and an early, clear error when the endpoint is wrong."""
    client = openai.OpenAI(base_url=base_url, api_key=api_key or "no-key", timeout=timeout_s, max_retries=2)
    try:
        response = client.embeddings.create(model=model, input=["维度"], encoding_format="float")
    except openai.OpenAIError as exc:
        raise ValueError(
            f"embeddings: {mask_url(base_url)} model {model!r} did not answer: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        client.close()
    if not response.data:
        raise ValueError(f"embeddings: {mask_url(base_url)} model {model!r} returned no vector")
    return len(response.data[0].embedding)


def build_embedder(options: EmbeddingOptions, chat_base_urls: list[str] | None = None) -> Embedder | None:
    """The embedder the options name, cached by text; ``None`` for the offline default."""
    if options.kind == "offline":
        return None
    if options.kind == "local":
        assert options.path is not None
        return CachedEmbedder(SentenceTransformerEmbedder(Path(options.path)))
    base_url = options.base_url or (chat_base_urls[0] if chat_base_urls else None)
    if base_url is None:
        raise ValueError("--embed-model needs an endpoint: pass --embed-base-url (or --base-url with --llm openai)")
    assert options.model is not None
    key = options.api_key.get_secret_value() if options.api_key else None
    dim = options.dim or probe_dim(base_url, options.model, key, options.timeout_s)
    log.info("embeddings: %s at %s, %d dimensions", options.model, mask_url(base_url), dim)
    return CachedEmbedder(OpenAIEmbedder(base_url, options.model, dim, api_key=key, timeout_s=options.timeout_s))
