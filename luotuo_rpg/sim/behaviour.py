"""What agents actually did, measured from a run's frames — the stream every viewer reads.

A feature is done when the town behaves, so every run is judged from its own frames:

- *awake* agent-minutes, and *stuck* minutes among them: awake, not in a conversation, on the
  same tile as the tick before, and outside the room of the current action (the frame's
  ``place``);
- for each action (a stretch of the same action at the same place), whether its room was
  reached and how many minutes that took;
- for each scheduled or injected event: who knew before it began and when each learned
  (told at the start, heard it in a line, or saw it), who stood in its room while it ran and
  for how long;
- the share of lines that repeat one the same speaker said to the same partner that day;
- on a model, the share of requests answered by a fallback, by kind.

Only frames (and the world spec in meta.json) are read, so the measures work on any replay,
old ones included: where an agent stands is taken from its tile, not from a newer field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from luotuo_rpg.llm import LLMStats
from luotuo_rpg.sim.files import (
    CAME_MINUTES,
    ActionReach,
    BehaviourMeasures,
    EventAttendance,
    EventLearned,
    Frame,
)
from luotuo_rpg.sim.frame_stream import AgentNow, FrameFile, TownState
from luotuo_rpg.world.clock import GameClock
from luotuo_rpg.world.places import in_rect, room_of, room_rects
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)


@dataclass
class _Event:
    what: str
    where: str
    start: int
    end: int
    injected: bool
    learned: dict[int, tuple[int, str]] = field(default_factory=dict)  # agent → (tick, how)
    ticks_in_room: dict[int, int] = field(default_factory=dict)


@dataclass
class _Action:
    start: int
    action: str
    room: str
    reached_at: int | None = None


class Tally:
    """The measures, fed one frame at a time (as a viewer would see them)."""

    def __init__(self, spec: WorldSpec):
        self.spec = spec
        self.rooms = room_rects(spec)
        self.names = [p.name for p in spec.personas]
        self.clock = GameClock(spec.world.start, spec.world.tick_seconds)
        self.tick_minutes = spec.world.tick_seconds / 60
        count = len(self.names)
        self.town = TownState()
        self.prev: list[tuple[int, int] | None] = [None] * count
        self.awake_ticks = 0
        self.stuck_ticks = [0] * count
        self.current: list[_Action | None] = [None] * count
        # The action a conversation broke into: the walk resumes after it, and so does the action's record.
        self.paused: list[_Action | None] = [None] * count
        self.conv_ended = [-1] * count  # the tick a conversation ended: its last line is still being said
        self.actions: list[tuple[int, _Action]] = []
        self.events: dict[str, _Event] = {}
        for event in spec.events:
            start = self.clock.tick_of(event.when)
            end = start + self.clock.ticks_for_minutes(event.minutes)
            record = _Event(event.what, room_of(event.where), start, end, injected=False)
            for name in event.known_by:
                if name in self.names:
                    record.learned[self.names.index(name)] = (0, "told at start")
            self.events[event.what] = record
        self.lines = 0
        self.repeats = 0
        self.said: set[tuple[str, int, int, str]] = set()
        self.last_tick = -1

    def feed(self, frame: Frame) -> None:
        tick = frame.tick
        self.last_tick = tick
        for agent, change in frame.agents.items():
            before = self.town.agents.get(agent)
            if change.conv == -1 and before is not None and before.conv != -1 and agent < len(self.names):
                self.conv_ended[agent] = tick
        self.town.apply(frame)
        for event in frame.events:
            self._event(tick, event.type, event.agent, event.to, event.text or "", event.place or "")
        running = [e for e in self.events.values() if e.start <= tick < e.end]
        for agent in range(len(self.names)):
            now = self.town.agents.get(agent)
            if now is None:
                continue
            pos = now.pos
            for record in running:
                if self._inside(record.where, pos):
                    record.ticks_in_room[agent] = record.ticks_in_room.get(agent, 0) + 1
                    if not now.asleep and agent not in record.learned:
                        record.learned[agent] = (tick, "saw it")
            self._agent_tick(agent, tick, now)
            self.prev[agent] = pos

    def _agent_tick(self, agent: int, tick: int, now: AgentNow) -> None:
        room = room_of(now.place)
        known_room = room in self.rooms
        if now.asleep:
            self.current[agent] = None
            return
        self.awake_ticks += 1
        conversing = now.conv != -1
        inside = self._inside(room, now.pos)
        if not conversing and self.prev[agent] == now.pos and known_room and not inside:
            self.stuck_ticks[agent] += 1
        if conversing or self.conv_ended[agent] == tick:
            # The talk, and the tick it ends in (its action is restored in the next frame), are not an action.
            self.paused[agent] = self.current[agent] or self.paused[agent]
            self.current[agent] = None
            return
        if not known_room:
            self.current[agent] = self.paused[agent] = None
            return
        current = self.current[agent]
        if current is None or (current.action, current.room) != (now.action, room):
            paused = self.paused[agent]
            if paused is not None and (paused.action, paused.room) == (now.action, room):
                current = paused
            else:
                current = _Action(tick, now.action, room)
                self.actions.append((agent, current))
            self.current[agent] = current
            self.paused[agent] = None
        if inside and current.reached_at is None:
            current.reached_at = tick

    def _inside(self, room: str, pos: tuple[int, int]) -> bool:
        """Inside the room's rectangle (the same test for the outside check and for coming to an event)."""
        rect = self.rooms.get(room)
        return rect is not None and in_rect(rect, pos)

    def _event(self, tick: int, kind: str, agent: int | None, to: int | None, text: str, place: str) -> None:
        if kind == "event_start" and text and text not in self.events:
            # An injected event: its end comes with its own event_end frame event.
            self.events[text] = _Event(text, room_of(place), tick, 1 << 62, injected=True)
        elif kind == "event_end" and text in self.events and self.events[text].injected:
            self.events[text].end = tick
        elif kind == "say" and agent is not None and to is not None:
            self.lines += 1
            key = (self.clock.date(tick), agent, to, text)
            if key in self.said:
                self.repeats += 1
            self.said.add(key)
            for record in self.events.values():
                if record.what in text and to not in record.learned and 0 <= to < len(self.names):
                    record.learned[to] = (tick, f"heard from {self.names[agent]}")

    def measures(self, stats: LLMStats | None) -> BehaviourMeasures:
        minutes = self.tick_minutes
        awake = self.awake_ticks * minutes
        stuck = sum(self.stuck_ticks) * minutes
        worst = sorted(
            ((self.names[i], t * minutes) for i, t in enumerate(self.stuck_ticks) if t), key=lambda kv: (-kv[1], kv[0])
        )[:5]
        reached = [a for _, a in self.actions if a.reached_at is not None]
        unreached: dict[str, int] = {}
        for agent, action in self.actions:
            if action.reached_at is None:
                unreached[self.names[agent]] = unreached.get(self.names[agent], 0) + 1
        waits = [a.reached_at - a.start for a in reached if a.reached_at is not None]
        mean_reach = sum(waits) * minutes / len(waits) if waits else 0.0
        events = [self._attendance(record) for record in self.events.values()]
        fallback_share = {}
        if stats is not None:
            fallback_share = {
                kind: round(k.fallbacks / k.requests, 4) for kind, k in sorted(stats.by_kind.items()) if k.requests
            }
        return BehaviourMeasures(
            awake_minutes=round(awake, 1),
            stuck_minutes=round(stuck, 1),
            stuck_share=round(stuck / awake, 4) if awake else 0.0,
            stuck_by_agent={name: round(m, 1) for name, m in worst},
            action_reach=ActionReach(
                actions=len(self.actions),
                reached=len(reached),
                mean_minutes_to_reach=round(mean_reach, 1),
                unreached_by_agent=dict(sorted(unreached.items(), key=lambda kv: (-kv[1], kv[0]))[:10]),
            ),
            events=events,
            lines=self.lines,
            repeated_lines=self.repeats,
            repeated_share=round(self.repeats / self.lines, 4) if self.lines else 0.0,
            fallback_share_by_kind=fallback_share,
        )

    def _attendance(self, record: _Event) -> EventAttendance:
        minutes = self.tick_minutes
        end = min(record.end, self.last_tick + 1)
        learned = sorted(record.learned.items(), key=lambda kv: (kv[1][0], kv[0]))
        in_room = sorted(record.ticks_in_room.items(), key=lambda kv: (-kv[1], kv[0]))
        came = [self.names[a] for a, t in in_room if t * minutes >= CAME_MINUTES]
        told = {self.names[a] for a, (tick, how) in record.learned.items() if how == "told at start"}
        return EventAttendance(
            what=record.what,
            where=record.where,
            start=self.clock.label(record.start),
            end=self.clock.label(end),
            injected=record.injected,
            began=record.start <= self.last_tick,
            learned=[EventLearned(name=self.names[a], time=self.clock.label(t), how=how) for a, (t, how) in learned],
            known_before=[self.names[a] for a, (t, _) in learned if t < record.start],
            minutes_in_room={self.names[a]: round(t * minutes, 1) for a, t in in_room},
            came=came,
            came_uninvited=[name for name in came if name not in told],
        )


def measure_frames(frames: Iterable[Frame], spec: WorldSpec, stats: LLMStats | None = None) -> BehaviourMeasures:
    tally = Tally(spec)
    for frame in frames:
        tally.feed(frame)
    return tally.measures(stats)


def measure_run(run_dir: Path, spec: WorldSpec, stats: LLMStats | None = None) -> BehaviourMeasures:
    """The measures of a run folder (any replay: only frames.jsonl is read)."""
    return measure_frames(FrameFile(Path(run_dir) / "frames.jsonl"), spec, stats)
