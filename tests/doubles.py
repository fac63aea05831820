"""The one test double for the model: the offline mind, recording every request.

It can also scramble completion order (a different number of event-loop turns
per request) to show that the order in which agents finish thinking never
changes a run.

Beside it, the command-line flags the tests' runs are started with (the same few everywhere).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from luotuo_rpg.llm.kinds import PersonaBrief, ReactRequest, Request, TalkSide
from luotuo_rpg.llm.offline.mind import OfflineMind


class RecordingMind:
    def __init__(self, seed: int = 0, scramble: bool = False, answers: dict[str, BaseModel] | None = None):
        self.inner = OfflineMind(seed=seed)
        self.stats = self.inner.stats
        self.embedder = self.inner.embedder
        self.requests: list[Request] = []
        self.outputs: list[BaseModel] = []
        self.ticks: list[str] = []
        self.scramble = scramble
        self.answers = answers or {}

    async def ask(self, request: Request) -> BaseModel:
        self.requests.append(request)
        if self.scramble:
            turns = zlib.crc32(f"{request.agent}{request.time}{request.kind}".encode()) % 7
            for _ in range(turns):
                await asyncio.sleep(0)
        if request.kind in self.answers:
            output = request.check(self.answers[request.kind].model_copy(deep=True))
        else:
            output = await self.inner.ask(request)
        self.outputs.append(output)
        return output

    async def embed(self, texts: list[str]) -> np.ndarray:
        return await self.inner.embed(texts)

    async def aclose(self) -> None:
        return None

    def kinds(self) -> list[str]:
        return [r.kind for r in self.requests]


def run_args(world: Path, out: Path, hours: float, *flags: str) -> list[str]:
    """``luotuo-rpg run WORLD`` for ``hours`` game hours into ``out``, without the progress bar, then ``flags``."""
    return ["run", str(world), "--hours", f"{hours:g}", "--no-progress", "--out", str(out), *flags]


def openai_flags(base_url: str, model: str = "luotuo-mock") -> list[str]:
    """The command-line flags that point a run at an OpenAI-compatible server (the mock's model by default)."""
    return ["--llm", "openai", "--base-url", base_url, "--model", model]


def talk_request(
    persona: PersonaBrief,
    partner: str = "别人",
    time: str = "2026-03-01 09:00",
    language: str = "zh",
    **side: object,
) -> ReactRequest:
    """``persona`` noticing ``partner``, a talk possible, bringing ``side`` (memories, known_events,
    said_before); the partner brings only a name."""
    other = PersonaBrief(name=partner, age=30, traits=[], background="")
    return ReactRequest(
        agent=persona.name,
        time=time,
        language=language,
        observation=f"{partner}在街上走",
        other=partner,
        other_action="走路",
        me=TalkSide.model_validate({"persona": persona, **side}),
        them=TalkSide(persona=other),
    )


def talk_answer(lines: list[tuple[str, str]], summary: str = "打了个招呼") -> dict:
    """A reaction that talks, with its talk of (speaker, text) lines, as a model would write it."""
    return {
        "reason": "打个招呼",
        "decision": "talk",
        "new_activity": None,
        "lines": [{"speaker": speaker, "text": text} for speaker, text in lines],
        "summary": summary,
    }


def talk_json(speaker: str, text: str, summary: str = "打了个招呼") -> str:
    """:func:`talk_answer` of one line, as JSON text."""
    return json.dumps(talk_answer([(speaker, text)], summary), ensure_ascii=False)
