"""The viewer's picture of the town: the last keyframe plus every delta applied since.

Pure Python (no pygame), so the replay player, the websocket client and the
tests all drive it the same way: ``apply(frame)`` for each frame in order; a
keyframe replaces agents and objects wholesale, and also forgets whatever the
history says happened at or after its tick, which is what makes seeking back
(reset to an earlier keyframe, replay the deltas) give the same picture as
playing forward.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace

from luotuo_rpg.phrases import phrase
from luotuo_rpg.server.protocol import Hello, PersonaInfo
from luotuo_rpg.sim.files import Frame, FrameEvent
from luotuo_rpg.sim.frame_stream import TownState

log = logging.getLogger(__name__)

LINES_KEPT = 400
"""Speech lines remembered for the side panel (all agents together)."""
NOTES_KEPT = 6
"""Plans, reflections and answers remembered per agent."""
BUBBLE_SECONDS = 4.0
"""How long a speech bubble stays up, in wall-clock seconds of drawing."""
BUBBLE_MAX_TICKS = 90
"""…and at most this many game ticks (15 game minutes at 10 s/tick), so a
fast replay does not keep a line on screen long after the talk is over."""

_NOTE_KINDS = ("plan", "reflect", "interview", "object")


@dataclass(frozen=True)
class Line:
    tick: int
    time: str
    speaker: int
    to: int | None
    text: str


@dataclass(frozen=True)
class Note:
    tick: int
    time: str
    kind: str
    text: str


@dataclass
class Bubble:
    text: str
    tick: int
    seconds_left: float = BUBBLE_SECONDS


@dataclass(frozen=True)
class TownEvent:
    what: str
    place: str
    start_tick: int
    end_tick: int | None = None


class ViewerState(TownState):
    """Agents, objects (the :class:`TownState`), recent speech and running town events, as of ``tick``."""

    def __init__(self, hello: Hello) -> None:
        self._start(hello)

    def _start(self, hello: Hello) -> None:
        TownState.__init__(self)
        self.hello = hello
        self.personas: dict[int, PersonaInfo] = {p.id: p for p in hello.personas}
        self.lines: deque[Line] = deque(maxlen=LINES_KEPT)
        self.notes: dict[int, deque[Note]] = {}
        self.bubbles: dict[int, Bubble] = {}
        self.town_events: list[TownEvent] = []
        if not hello.state.key:
            log.warning(
                "hello carried a delta frame at tick %d, not a keyframe; the picture may be incomplete",
                hello.state.tick,
            )
        self.apply(hello.state)

    # -- applying frames ------------------------------------------------------------------------

    def resync(self, hello: Hello) -> None:
        """A fresh hello mid-stream: the server resynced a slow viewer, seeked, or reloaded the world.

        In the same world its state is just a keyframe (history before it is
        kept); a different map or cast starts the picture over.
        """
        old = self.hello
        if (hello.map, hello.places, hello.personas) != (old.map, old.places, old.personas):
            self._start(hello)
            return
        self.hello = hello
        self.apply(hello.state)

    def apply(self, frame: Frame) -> None:
        if frame.key:
            self._forget_from(frame.tick)
        super().apply(frame)
        for event in frame.events:
            self._record(frame, event)

    def _forget_from(self, key_tick: int) -> None:
        """Drop history from a keyframe's tick on.

        History at or after the keyframe's tick is dropped because either it is
        the future (seeking back) or it is about to be re-applied (the
        keyframe's own events, then the deltas after it).
        """
        self.lines = deque((line for line in self.lines if line.tick < key_tick), maxlen=LINES_KEPT)
        self.notes = {
            agent: deque((n for n in notes if n.tick < key_tick), maxlen=NOTES_KEPT)
            for agent, notes in self.notes.items()
        }
        self.bubbles = {agent: b for agent, b in self.bubbles.items() if b.tick < key_tick}
        # An event that ended after the keyframe was still running at it: reopen it.
        self.town_events = [
            e if e.end_tick is None or e.end_tick < key_tick else replace(e, end_tick=None)
            for e in self.town_events
            if e.start_tick < key_tick
        ]

    def _record(self, frame: Frame, event: FrameEvent) -> None:
        if event.type == "say" and event.agent is not None and event.text:
            self.lines.append(Line(frame.tick, frame.time, event.agent, event.to, event.text))
            self.bubbles[event.agent] = Bubble(event.text, frame.tick)
        elif event.type == "event_start" and event.text:
            self.town_events.append(TownEvent(event.text, event.place or "", frame.tick))
        elif event.type == "event_end" and event.text:
            self.town_events = [
                replace(e, end_tick=frame.tick) if e.what == event.text and e.end_tick is None else e
                for e in self.town_events
            ]
        elif event.type in _NOTE_KINDS and event.agent is not None and (event.text or event.outline):
            # A plan outline on one line, joined as the agents themselves join one.
            text = event.text or phrase(self.hello.language, "outline_separator").join(event.outline or [])
            notes = self.notes.setdefault(event.agent, deque(maxlen=NOTES_KEPT))
            notes.append(Note(frame.tick, frame.time, event.type, text))

    # -- time passing on screen ---------------------------------------------------------------

    def age_bubbles(self, seconds: float) -> None:
        """Called once per drawn frame: bubbles fade by wall-clock time and by game time."""
        kept: dict[int, Bubble] = {}
        for agent, bubble in self.bubbles.items():
            left = bubble.seconds_left - seconds
            if left > 0 and self.tick - bubble.tick <= BUBBLE_MAX_TICKS:
                kept[agent] = replace(bubble, seconds_left=left)
        self.bubbles = kept

    # -- questions the renderer and the panel ask ----------------------------------------------

    def name(self, agent_id: int | None) -> str:
        if agent_id is None:
            return ""
        persona = self.personas.get(agent_id)
        return persona.name if persona else f"#{agent_id}"

    def lines_of(self, agent_id: int, limit: int) -> list[Line]:
        """The last ``limit`` lines the agent said or was told, oldest first."""
        found: list[Line] = []
        for line in reversed(self.lines):
            if line.speaker == agent_id or line.to == agent_id:
                found.append(line)
                if len(found) == limit:
                    break
        return found[::-1]

    def partners_of(self, agent_id: int) -> list[int]:
        """Agents in the same conversation as this one."""
        me = self.agents.get(agent_id)
        if me is None or me.conv < 0:
            return []
        return [other for other, view in self.agents.items() if other != agent_id and view.conv == me.conv]

    def running_events(self) -> list[TownEvent]:
        return [e for e in self.town_events if e.end_tick is None]

    def conversations(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for agent_id, view in sorted(self.agents.items()):
            if view.conv >= 0:
                groups.setdefault(view.conv, []).append(agent_id)
        return {conv: members for conv, members in groups.items() if len(members) > 1}
