"""Embedders backed by real models, and the in-memory cache that fronts them.

- :class:`OpenAIEmbedder`: any OpenAI-compatible ``/v1/embeddings`` endpoint
  (bge-m3 on Ollama, a vLLM/TEI embedding server, a hosted API).
- :class:`SentenceTransformerEmbedder`: a sentence-transformers model from a
  local directory; the package is imported only when one is built, and
  nothing is ever downloaded.
- :class:`CachedEmbedder`: wraps either, so each distinct text is embedded
  once per process. Agents re-embed the same observations, names and
  retrieval queries every few ticks; the cache turns those into lookups.

All of them satisfy :class:`~luotuo_rpg.llm.chat.Embedder`: float32 rows,
L2-normalised, one per text, so relevance is a plain dot product.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import openai
from pydantic import SecretStr

from luotuo_rpg.llm.backends.retry import backoff_delay, classify_failure
from luotuo_rpg.llm.chat import Embedder, LLMUnavailable
from luotuo_rpg.llm.redact import failure_text, mask_url

log = logging.getLogger(__name__)


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows of unit length; an all-zero row stays zero rather than NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0).astype(np.float32)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible server.

    ``dim`` must be given: the protocol promises it before the first call,
    and a server answering with another width is a misconfiguration worth an
    error, not a silent reshape. Texts are sent in batches of ``batch_size``,
    at most ``max_concurrency`` batches at once, retried like chat requests.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        dim: int,
        *,
        api_key: SecretStr | str | None = None,
        batch_size: int = 64,
        max_concurrency: int = 4,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
    ) -> None:
        if dim < 1 or batch_size < 1 or max_concurrency < 1:
            raise ValueError("dim, batch_size and max_concurrency must be positive")
        self.name = f"openai:{model}"
        self.dim = dim
        self.model = model
        self.base_url = base_url
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._backoff = (backoff_base_s, backoff_max_s)
        self._rng = random.Random()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        # Our retry loop below is the only one, so retries are counted.
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=key or "no-key", timeout=timeout_s, max_retries=0)
        self.counters: dict[str, int] = {"requests": 0, "texts": 0, "retries": 0}

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={mask_url(self.base_url)!r}, dim={self.dim})"

    async def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batches = [texts[i : i + self._batch_size] for i in range(0, len(texts), self._batch_size)]
        parts = await asyncio.gather(*(self._embed_batch(batch) for batch in batches))
        return normalise_rows(np.concatenate(parts, axis=0))

    async def _embed_batch(self, texts: list[str]) -> np.ndarray:
        retries = 0
        while True:
            async with self._semaphore:
                self.counters["requests"] += 1
                try:
                    response = await self._client.embeddings.create(
                        model=self.model, input=texts, encoding_format="float"
                    )
                    break
                except Exception as exc:
                    failure = classify_failure(exc)
                    if failure is None or retries >= self._max_retries:
                        # The server's words go to the log only: a run's files never quote a server.
                        log.warning("embeddings from %s failed: %.300s", mask_url(self.base_url), exc)
                        raise LLMUnavailable(
                            f"embeddings from {mask_url(self.base_url)} failed after {retries + 1} attempts: "
                            f"{failure_text(exc)}"
                        ) from exc
                    counter, retry_after = failure
            retries += 1
            self.counters["retries"] += 1
            delay = backoff_delay(retries, *self._backoff, self._rng, retry_after)
            log.info("embeddings: %s; retry %d/%d in %.2f s", counter, retries, self._max_retries, delay)
            await asyncio.sleep(delay)

        rows = sorted(response.data, key=lambda item: item.index)
        vectors = np.asarray([row.embedding for row in rows], dtype=np.float32)
        if vectors.shape != (len(texts), self.dim):
            raise ValueError(
                f"embedding server {mask_url(self.base_url)} model {self.model!r} returned shape {vectors.shape}, "
                f"expected ({len(texts)}, {self.dim}): is dim right for this model?"
            )
        self.counters["texts"] += len(texts)
        return vectors

    async def aclose(self) -> None:
        await self._client.close()


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local directory."""

    def __init__(self, path: Path, *, device: str = "cpu", batch_size: int = 32) -> None:
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(
                f"sentence-transformers model directory {path} not found; give a local path "
                "(models are never downloaded)"
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(
                "SentenceTransformerEmbedder needs the sentence-transformers package: pip install sentence-transformers"
            ) from exc
        # local_files_only keeps a config that names hub modules from reaching out.
        self._model: Any = SentenceTransformer(str(path), device=device, local_files_only=True)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.name = f"sentence-transformers:{path.name}"
        self._batch_size = batch_size
        # One encode at a time: the model is not safe to run from several threads.
        self._lock = asyncio.Lock()

    async def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        async with self._lock:
            vectors = await asyncio.to_thread(
                self._model.encode,
                texts,
                batch_size=self._batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return normalise_rows(vectors)


class CachedEmbedder:
    """Embeds each distinct text once: later and concurrent requests for the
    same text share the first one's vector. The cache lives in memory for the
    process; it grows with the number of distinct texts (4·dim bytes each)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        # The same name as the inner embedder: cached vectors are its vectors,
        # and the name is what says which embedding space a memory lives in.
        self.name = inner.name
        self.dim = inner.dim
        self._vectors: dict[str, np.ndarray] = {}
        self._pending: dict[str, asyncio.Future[np.ndarray]] = {}
        self.counters: dict[str, int] = {"hits": 0, "misses": 0}

    def __len__(self) -> int:
        return len(self._vectors)

    async def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        wanted = list(dict.fromkeys(texts))
        mine = [t for t in wanted if t not in self._vectors and t not in self._pending]
        theirs = [self._pending[t] for t in wanted if t in self._pending]
        self.counters["misses"] += len(mine)
        self.counters["hits"] += len(texts) - len(mine)

        if mine:
            loop = asyncio.get_running_loop()
            futures = {t: loop.create_future() for t in mine}
            self._pending.update(futures)
            try:
                vectors = await self.inner.embed(mine)
            except asyncio.CancelledError:
                for future in futures.values():
                    future.cancel()
                raise
            except Exception as exc:
                for future in futures.values():
                    future.set_exception(exc)
                    # Marked as retrieved: this caller re-raises it, and other
                    # waiters (if any) still get it from their await.
                    future.exception()
                raise
            else:
                for text, row in zip(mine, np.asarray(vectors, dtype=np.float32)):
                    self._vectors[text] = row
                    futures[text].set_result(row)
            finally:
                for text in mine:
                    self._pending.pop(text, None)
        if theirs:
            await asyncio.gather(*theirs)
        return np.stack([self._vectors[t] for t in texts])

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
