"""Deterministic offline embeddings: signed feature hashing of character n-grams.

No model, no network, < 1 ms per text; Chinese text shares characters when
it shares meaning often enough for relevance scoring to work.
"""

from __future__ import annotations

import zlib

import numpy as np


class HashEmbedder:
    name = "hash-ngram"

    def __init__(self, dim: int = 256, ngrams: tuple[int, ...] = (1, 2, 3), cache_size: int = 20_000):
        self.dim = dim
        self.cache_size = cache_size
        self.ngrams = ngrams
        self._cache: dict[str, np.ndarray] = {}

    def embed_one(self, text: str) -> np.ndarray:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        vector = np.zeros(self.dim, dtype=np.float32)
        compact = "".join(text.split())
        for n in self.ngrams:
            for i in range(len(compact) - n + 1):
                h = zlib.crc32(compact[i : i + n].encode("utf-8"))
                vector[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm > 0:
            vector /= norm
        if len(self._cache) >= self.cache_size:
            # Oldest first (dicts keep insertion order): memory stays bounded over long runs.
            del self._cache[next(iter(self._cache))]
        self._cache[text] = vector
        return vector

    async def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed_one(t) for t in texts])
