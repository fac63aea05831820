"""The full state a viewer sees, rebuilt from frames: keyframe + the deltas after it.

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

from luotuo_rpg.sim.files import AgentFrame, Frame

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


class FrameMirror:
    def __init__(self) -> None:
        self.tick = -1
        self.time = ""
        self.agents: dict[int, AgentFrame] = {}
        self.objects: dict[str, str] = {}
        self.lines: dict[int, deque[SpokenLine]] = defaultdict(lambda: deque(maxlen=_LINES_KEPT))
        self.plans: dict[int, Noted] = {}
        self.reflections: dict[int, deque[Noted]] = defaultdict(lambda: deque(maxlen=_THOUGHTS_KEPT))
        self.conversations_with: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def apply(self, frame: Frame) -> None:
        if frame.key:
            self.agents = {i: a.model_copy() for i, a in frame.agents.items()}
            self.objects = dict(frame.objects)
        else:
            for agent_id, delta in frame.agents.items():
                current = self.agents.get(agent_id)
                if current is None:
                    self.agents[agent_id] = delta.model_copy()
                    continue
                # In place: this runs for every moving agent every tick; keyframe() copies.
                for name, value in delta:
                    if value is not None:
                        setattr(current, name, value)
            self.objects.update(frame.objects)
        self.tick = frame.tick
        self.time = frame.time
        for event in frame.events:
            if event.agent is None:
                continue
            if event.type == "say" and event.text:
                line = SpokenLine(tick=frame.tick, time=frame.time, speaker=event.agent, to=event.to, text=event.text)
                self.lines[event.agent].append(line)
                if event.to is not None:
                    self.lines[event.to].append(line)
            elif event.type == "plan" and event.text:
                self.plans[event.agent] = Noted(tick=frame.tick, time=frame.time, text=event.text)
            elif event.type == "reflect" and event.text:
                self.reflections[event.agent].append(Noted(tick=frame.tick, time=frame.time, text=event.text))
            elif event.type == "conversation_start" and event.to is not None:
                self.conversations_with[event.agent][event.to] += 1
                self.conversations_with[event.to][event.agent] += 1

    def keyframe(self) -> Frame:
        """The state now as a keyframe (no events: those belonged to their own tick)."""
        return Frame(
            tick=self.tick,
            time=self.time,
            key=True,
            agents={i: a.model_copy() for i, a in sorted(self.agents.items())},
            objects=dict(sorted(self.objects.items())),
        )

    def positions(self) -> dict[int, tuple[int, int]]:
        return {i: a.pos for i, a in self.agents.items() if a.pos is not None}
