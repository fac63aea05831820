"""The one interface cognition talks to: typed requests in, typed outputs out."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from luotuo_rpg.llm.accounting import LLMStats
from luotuo_rpg.llm.kinds import Out, Request


class Mind(Protocol):
    stats: LLMStats

    async def ask(self, request: Request[Out]) -> Out:
        """Answer ``request`` with an instance of its output model; never raises
        because of what a model said (only :class:`RunHalted` escapes: a spent budget, a backend gone)."""
        ...

    async def embed(self, texts: list[str]) -> np.ndarray: ...

    async def aclose(self) -> None: ...
