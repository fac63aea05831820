"""The one interface cognition talks to: typed requests in, typed outputs out."""

from __future__ import annotations

from typing import Protocol, TypeVar

import numpy as np
from pydantic import BaseModel

from luotuo_rpg.llm.accounting import LLMStats
from luotuo_rpg.llm.kinds import Request

Out = TypeVar("Out", bound=BaseModel)


class Mind(Protocol):
    stats: LLMStats

    async def ask(self, request: Request) -> BaseModel:
        """Answer ``request`` with an instance of ``type(request).output``; never raises
        because of what a model said (only :class:`RunHalted` escapes: a spent budget, a backend gone)."""
        ...

    async def embed(self, texts: list[str]) -> np.ndarray: ...

    async def aclose(self) -> None: ...
