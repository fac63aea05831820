"""Reading the frame stream: frames.jsonl line by line, and the full state of the town it adds up to.

A run writes one :class:`~luotuo_rpg.sim.files.Frame` per tick: a keyframe (every agent,
every object) every ``keyframe_every`` ticks and deltas (only what changed) in between.
Every reader — the server's mirror, the pygame viewer, the report, the behaviour measures,
the transcripts — rebuilds the same picture from them, so it is done once, here:
:class:`FrameFile` reads the lines, :class:`TownState` applies them. What a reader makes of
a frame's events stays with that reader.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import ValidationError

from luotuo_rpg.sim.files import AgentFrame, Frame

log = logging.getLogger(__name__)


class FrameStreamError(ValueError):
    """A line of frames.jsonl that is not a frame (other than a torn last line); says file and line."""


class FrameFile:
    """frames.jsonl, frame by frame. A run killed mid-write leaves a torn last line: resume
    drops it, so do readers (``torn_line`` says it happened); a bad line elsewhere is an error.
    Blank lines are skipped."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.torn_line = False

    def __iter__(self) -> Iterator[Frame]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            lines = handle.readlines()
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                frame = Frame.model_validate_json(line)
            except ValidationError as error:
                if number == len(lines) - 1:
                    log.warning("%s: ignoring a torn last line", self.path)
                    self.torn_line = True
                    return
                raise FrameStreamError(f"{self.path}:{number + 1}: not a frame: {error.errors()[0]['msg']}") from None
            yield frame


@dataclass
class AgentNow:
    """One agent as the frames tell it so far; a field keeps its value until a frame sets it."""

    pos: tuple[int, int] = (0, 0)
    action: str = ""
    emoji: str = ""
    place: str = ""
    at: str | None = None  # where it stands; None for replays older than the field
    conv: int = -1
    asleep: bool = False

    def update(self, delta: AgentFrame) -> None:
        """Copy the fields the delta sets; unset fields keep their value."""
        for name in delta.model_fields_set:
            value = getattr(delta, name)
            if value is not None:
                setattr(self, name, value)

    def frame(self) -> AgentFrame:
        return AgentFrame(**asdict(self))


class TownState:
    """Agents and objects as of ``tick``: the last keyframe plus every delta applied since.

    A keyframe replaces agents and objects wholesale; a delta sets what it names.
    """

    def __init__(self) -> None:
        self.tick = -1
        self.time = ""
        self.agents: dict[int, AgentNow] = {}
        self.objects: dict[str, str] = {}
        self.gaps = 0
        """Delta frames that did not follow the previous tick (a lossy stream)."""

    def apply(self, frame: Frame) -> None:
        if frame.key:
            self.agents = {}
            for agent_id, full in frame.agents.items():
                now = AgentNow()
                now.update(full)
                self.agents[agent_id] = now
            self.objects = dict(frame.objects)
        else:
            if self.tick >= 0 and frame.tick != self.tick + 1:
                self.gaps += 1
                log.debug("frame gap: tick %d after %d", frame.tick, self.tick)
            for agent_id, delta in frame.agents.items():
                self.agents.setdefault(agent_id, AgentNow()).update(delta)
            self.objects.update(frame.objects)
        self.tick = frame.tick
        self.time = frame.time

    def keyframe(self) -> Frame:
        """The state now as a keyframe (no events: those belonged to their own tick)."""
        return Frame(
            tick=self.tick,
            time=self.time,
            key=True,
            agents={i: a.frame() for i, a in sorted(self.agents.items())},
            objects=dict(sorted(self.objects.items())),
        )
