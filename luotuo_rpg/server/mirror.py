"""The full state a viewer sees (a :class:`~luotuo_rpg.sim.frame_stream.TownState`), and what frames say in passing.

The server keeps one :class:`FrameMirror` per session and feeds it every
frame it broadcasts, so a ``hello`` (a keyframe of "now") can be built at any
moment without asking the engine, and a replay reaches tick T by applying the
frames from the last keyframe at or before T. It also remembers what frames
say in passing (lines spoken, plans, reflections), which is all a replay can
tell about an agent's mind.
"""

from __future__ import annotations

from collections import defaultdict, deque

from pydantic import BaseModel

from luotuo_rpg.sim.files import Frame, FrameEvent
from luotuo_rpg.sim.frame_stream import TownState

_LINES_KEPT = 60
_THOUGHTS_KEPT = 20


class SpokenLine(BaseModel):
    tick: int
    time: str
    speaker: int
    to: int | None = None
    text: str


class Noted(BaseModel):
    tick: int
    time: str
    text: str


class FrameMirror(TownState):
    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[int, deque[SpokenLine]] = defaultdict(lambda: deque(maxlen=_LINES_KEPT))
        self.plans: dict[int, FrameEvent] = {}  # the last plan event of each agent
        self.reflections: dict[int, deque[Noted]] = defaultdict(lambda: deque(maxlen=_THOUGHTS_KEPT))
        self.conversations_with: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def apply(self, frame: Frame) -> None:
        super().apply(frame)
        for event in frame.events:
            if event.agent is None:
                continue
            if event.type == "say" and event.text:
                line = SpokenLine(tick=frame.tick, time=frame.time, speaker=event.agent, to=event.to, text=event.text)
                self.lines[event.agent].append(line)
                if event.to is not None:
                    self.lines[event.to].append(line)
            elif event.type == "plan" and (event.text or event.outline):
                self.plans[event.agent] = event
            elif event.type == "reflect" and event.text:
                self.reflections[event.agent].append(Noted(tick=frame.tick, time=frame.time, text=event.text))
            elif event.type == "conversation_start" and event.to is not None:
                self.conversations_with[event.agent][event.to] += 1
                self.conversations_with[event.to][event.agent] += 1
