"""An agent's memory stream: nodes plus numpy columns for vectorised retrieval."""

from __future__ import annotations

import base64
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from luotuo_rpg.memory.retrieval import RetrievalWeights, retrieval_scores, top_k

MemoryKind = Literal["observation", "chat", "thought", "plan", "event"]


class MemoryNode(BaseModel):
    id: int
    kind: MemoryKind
    text: str
    created: int = Field(description="Tick when it was stored.")
    importance: int
    cites: list[int] = Field(default_factory=list, description="For thoughts: the memories they rest on.")


class MemoryStream:
    def __init__(self, dim: int, tick_seconds: int):
        self.dim = dim
        self.tick_seconds = tick_seconds
        self.nodes: list[MemoryNode] = []
        self._vectors = np.zeros((64, dim), dtype=np.float32)
        self._last_access = np.zeros(64, dtype=np.int64)
        self._importance = np.zeros(64, dtype=np.float32)
        self.forked_at = 0

    def __len__(self) -> int:
        return len(self.nodes)

    def add(
        self,
        kind: MemoryKind,
        text: str,
        tick: int,
        importance: int,
        vector: np.ndarray,
        cites: list[int] | None = None,
    ) -> MemoryNode:
        n = len(self.nodes)
        if n == self._vectors.shape[0]:
            self._grow()
        node = MemoryNode(id=n, kind=kind, text=text, created=tick, importance=importance, cites=cites or [])
        self.nodes.append(node)
        self._vectors[n] = vector
        self._last_access[n] = tick
        self._importance[n] = importance
        return node

    def copy(self, count: int | None = None, last_access: list[int] | None = None) -> MemoryStream:
        """An independent stream with the same memories, for a thought to change; see :meth:`absorb`.

        ``count`` and ``last_access`` give the stream as it was earlier (a thought restored from a
        checkpoint must see what it saw when it began): the first ``count`` memories, accessed then.
        """
        count = len(self.nodes) if count is None else count
        other = MemoryStream(self.dim, self.tick_seconds)
        # Nodes are never changed once stored, so they are shared.
        other.nodes = self.nodes[:count]
        other._vectors = self._vectors.copy()
        other._last_access = self._last_access.copy()
        other._importance = self._importance.copy()
        if last_access is not None:
            other._last_access[:count] = last_access
        other.forked_at = count
        return other

    def absorb(self, draft: MemoryStream) -> None:
        """Take in what ``draft`` (a :meth:`copy` of this stream) stored and touched since it was copied.

        New memories are appended (renumbered, with citations among them renumbered too); last
        access only moves forward, so it merges by maximum. Absorbing the one draft of a stream
        nothing else changed gives exactly the draft.
        """
        base = draft.forked_at
        np.maximum(self._last_access[:base], draft._last_access[:base], out=self._last_access[:base])
        renumbered: dict[int, int] = {}
        for node in draft.nodes[base:]:
            cites = [renumbered.get(c, c) for c in node.cites]
            added = self.add(node.kind, node.text, node.created, node.importance, draft._vectors[node.id], cites)
            self._last_access[added.id] = draft._last_access[node.id]
            renumbered[node.id] = added.id

    def _grow(self) -> None:
        size = self._vectors.shape[0] * 2
        self._vectors = np.resize(self._vectors, (size, self.dim))
        self._last_access = np.resize(self._last_access, size)
        self._importance = np.resize(self._importance, size)

    def retrieve(
        self,
        query: np.ndarray,
        now: int,
        k: int,
        weights: RetrievalWeights,
        kinds: set[str] | None = None,
        touch: bool = True,
    ) -> list[MemoryNode]:
        n = len(self.nodes)
        if n == 0:
            return []
        idx = np.arange(n)
        if kinds is not None:
            idx = np.array([i for i in range(n) if self.nodes[i].kind in kinds], dtype=np.int64)
            if idx.size == 0:
                return []
        hours = (now - self._last_access[idx]) * (self.tick_seconds / 3600.0)
        similarity = self._vectors[idx] @ query.astype(np.float32)
        scores = retrieval_scores(hours, similarity, self._importance[idx], weights)
        chosen = [int(idx[i]) for i in top_k(scores, k)]
        if touch:
            self._last_access[chosen] = now
        return [self.nodes[i] for i in chosen]

    def last_access(self) -> list[int]:
        return self._last_access[: len(self.nodes)].tolist()

    def recent(self, count: int, kinds: set[str] | None = None) -> list[MemoryNode]:
        picked = [n for n in reversed(self.nodes) if kinds is None or n.kind in kinds]
        return picked[:count][::-1]

    def contains(self, text: str) -> bool:
        return any(text in node.text for node in self.nodes)

    # --- checkpoints ----------------------------------------------------------
    def get_state(self) -> dict:
        n = len(self.nodes)
        return {
            "nodes": [node.model_dump() for node in self.nodes],
            "vectors": base64.b64encode(self._vectors[:n].tobytes()).decode("ascii"),
            "last_access": self._last_access[:n].tolist(),
        }

    def set_state(self, state: dict) -> None:
        self.nodes = [MemoryNode.model_validate(n) for n in state["nodes"]]
        n = len(self.nodes)
        size = max(64, 1 << max(6, (n - 1).bit_length()))
        self._vectors = np.zeros((size, self.dim), dtype=np.float32)
        self._last_access = np.zeros(size, dtype=np.int64)
        self._importance = np.zeros(size, dtype=np.float32)
        if n:
            flat = np.frombuffer(base64.b64decode(state["vectors"]), dtype=np.float32)
            if flat.size != n * self.dim:
                raise ValueError(
                    f"the checkpoint's memories were embedded with {flat.size // n} dimensions, this embedder gives "
                    f"{self.dim}: resume with the embedder the run used (see llm.embedding in meta.json)"
                )
            self._vectors[:n] = flat.reshape(n, self.dim)
            self._last_access[:n] = state["last_access"]
            self._importance[:n] = [node.importance for node in self.nodes]
