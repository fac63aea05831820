"""Retrieval scoring (Park et al. 2023, §4.1): recency, relevance, importance,
each min–max normalised over the candidates, then weighted and summed."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel


class RetrievalWeights(BaseModel):
    recency: float = 1.0
    relevance: float = 1.0
    importance: float = 1.0
    decay_per_hour: float = 0.995


def min_max(values: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        # All equal: the component cannot rank, so it adds the same to everyone.
        return np.full_like(values, 0.5, dtype=np.float64)
    return (values - low) / (high - low)


def retrieval_scores(
    hours_since_access: np.ndarray,
    similarity: np.ndarray,
    importance: np.ndarray,
    weights: RetrievalWeights,
) -> np.ndarray:
    recency = np.power(weights.decay_per_hour, hours_since_access)
    return (
        weights.recency * min_max(recency)
        + weights.relevance * min_max(similarity.astype(np.float64))
        + weights.importance * min_max(importance.astype(np.float64))
    )


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k best scores, best first; ties go to the newer memory."""
    if scores.size == 0:
        return []
    order = np.lexsort((-np.arange(scores.size), -scores))
    return [int(i) for i in order[:k]]
