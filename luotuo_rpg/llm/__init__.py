"""The LLM layer: typed requests in, typed answers out (``kinds``, ``prompts``, ``schemas``, ``structured``),
whatever answers them (``backends/``, ``offline/``), and embeddings (``embeddings/``).

Other layers import what they need from here, or the request kinds from ``llm.kinds``; the packages
below are the layer's own business. Nothing imported here loads torch (``backends/local`` does, on use).
"""

from __future__ import annotations

from luotuo_rpg.llm.accounting import LLMStats
from luotuo_rpg.llm.chat import BudgetExceeded, Embedder, LLMUnavailable, RunHalted
from luotuo_rpg.llm.factory import MindOptions, build_mind, describe, for_world
from luotuo_rpg.llm.mind import Mind
from luotuo_rpg.llm.offline.mind import OFFLINE_LABEL, OfflineMind
from luotuo_rpg.llm.redact import mask_url

__all__ = [
    "OFFLINE_LABEL",
    "BudgetExceeded",
    "Embedder",
    "LLMStats",
    "LLMUnavailable",
    "Mind",
    "MindOptions",
    "OfflineMind",
    "RunHalted",
    "build_mind",
    "describe",
    "for_world",
    "mask_url",
]
