"""Scored retrieval (Park et al. §4.1): each component alone moves the ranking."""

from __future__ import annotations

import numpy as np

from luotuo_rpg.memory.retrieval import RetrievalWeights, min_max
from luotuo_rpg.memory.stream import MemoryStream

DIM = 8
TICKS_PER_HOUR = 360


def _vec(*values: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def _stream() -> MemoryStream:
    return MemoryStream(DIM, tick_seconds=10)


def test_only_recency_differs_newer_access_wins():
    stream = _stream()
    same = _vec(1, 0)
    old = stream.add("observation", "old", tick=0, importance=5, vector=same)
    new = stream.add("observation", "new", tick=48 * TICKS_PER_HOUR, importance=5, vector=same)
    got = stream.retrieve(same, now=49 * TICKS_PER_HOUR, k=2, weights=RetrievalWeights(), touch=False)
    assert [n.id for n in got] == [new.id, old.id]


def test_retrieval_refreshes_recency():
    stream = _stream()
    a = stream.add("observation", "a", tick=0, importance=5, vector=_vec(1, 0))
    b = stream.add("observation", "b", tick=TICKS_PER_HOUR, importance=5, vector=_vec(0, 1))
    weights = RetrievalWeights(relevance=0, importance=0)
    # Touch a by retrieving it on its own topic at hour 100, with recency ignored.
    stream.retrieve(_vec(1, 0), now=100 * TICKS_PER_HOUR, k=1, weights=RetrievalWeights(recency=0, importance=0))
    got = stream.retrieve(_vec(1, 1), now=101 * TICKS_PER_HOUR, k=2, weights=weights, touch=False)
    assert [n.id for n in got] == [a.id, b.id]


def test_only_importance_differs_more_important_wins():
    stream = _stream()
    same = _vec(1, 0)
    low = stream.add("observation", "low", tick=0, importance=2, vector=same)
    high = stream.add("observation", "high", tick=0, importance=9, vector=same)
    got = stream.retrieve(same, now=10, k=2, weights=RetrievalWeights(), touch=False)
    assert [n.id for n in got] == [high.id, low.id]


def test_only_relevance_differs_closer_meaning_wins():
    stream = _stream()
    far = stream.add("observation", "far", tick=0, importance=5, vector=_vec(0, 1))
    near = stream.add("observation", "near", tick=0, importance=5, vector=_vec(1, 0.1))
    got = stream.retrieve(_vec(1, 0), now=10, k=2, weights=RetrievalWeights(), touch=False)
    assert [n.id for n in got] == [near.id, far.id]


def test_weights_trade_components_off():
    stream = _stream()
    relevant = stream.add("observation", "relevant", tick=0, importance=1, vector=_vec(1, 0))
    important = stream.add("observation", "important", tick=0, importance=10, vector=_vec(0, 1))
    query = _vec(1, 0)
    by_relevance = stream.retrieve(query, 10, 1, RetrievalWeights(relevance=3, importance=1), touch=False)
    by_importance = stream.retrieve(query, 10, 1, RetrievalWeights(relevance=1, importance=3), touch=False)
    assert by_relevance[0].id == relevant.id
    assert by_importance[0].id == important.id


def test_min_max_of_equal_values_is_flat():
    assert np.allclose(min_max(np.array([3.0, 3.0, 3.0])), 0.5)
    assert np.allclose(min_max(np.array([1.0, 3.0, 2.0])), [0, 1, 0.5])


def test_state_round_trip_keeps_vectors_and_access_times():
    stream = _stream()
    for i in range(100):
        stream.add("chat", f"m{i}", tick=i, importance=1 + i % 10, vector=_vec(1, i % 7))
    restored = _stream()
    restored.set_state(stream.get_state())
    q = _vec(1, 3)
    a = stream.retrieve(q, 500, 10, RetrievalWeights(), touch=False)
    b = restored.retrieve(q, 500, 10, RetrievalWeights(), touch=False)
    assert [n.id for n in a] == [n.id for n in b]
