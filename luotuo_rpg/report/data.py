"""What a report shows, read from a run folder in one pass over each file.

frames.jsonl gives actions, places, positions, conversations, plans and
reflections tick by tick; the checkpoint history gives memory streams and who
knew of each scheduled event at each checkpoint; summary.json gives the model
accounting and the final counts (the latest checkpoint stands in while a run
is still going).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from luotuo_rpg.llm import LLMStats
from luotuo_rpg.sim.behaviour import measure_run
from luotuo_rpg.sim.checkpoint import CheckpointError, iter_history, load_latest
from luotuo_rpg.sim.files import BehaviourMeasures, RunMeta, RunSummary
from luotuo_rpg.sim.frame_stream import FrameFile, FrameStreamError, TownState
from luotuo_rpg.world.clock import GameClock
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)


class ReportError(Exception):
    """The folder is not a readable run; the message says what is missing."""


@dataclass
class Segment:
    """One stretch of ticks [start, end) with the same action at the same place."""

    start: int
    end: int
    action: str
    place: str
    asleep: bool


@dataclass
class FrameFacts:
    ticks: int
    segments: list[list[Segment]]
    heat: np.ndarray  # [y, x] agent-ticks spent awake on each tile
    conversations: Counter[tuple[int, int]] = field(default_factory=Counter)
    lines: Counter[tuple[int, int]] = field(default_factory=Counter)
    said: Counter[int] = field(default_factory=Counter)
    plans: list[tuple[int, int]] = field(default_factory=list)  # (tick, agent)
    reflections: list[tuple[int, int]] = field(default_factory=list)
    torn_line: bool = False


@dataclass
class MemoryPoint:
    tick: int
    memories: list[int]  # per agent
    thoughts: list[int]  # reflections stored: thoughts citing other memories
    knowers: dict[str, int]  # scheduled event → agents knowing of it


@dataclass
class RunData:
    run_dir: Path
    meta: RunMeta
    spec: WorldSpec
    clock: GameClock
    frames: FrameFacts
    history: list[MemoryPoint]
    summary: RunSummary | None
    llm: LLMStats | None
    behaviour: BehaviourMeasures | None = None

    @property
    def language(self) -> str:
        """The world's language: every text of the page is in it."""
        return self.spec.world.language


def read_meta(run_dir: Path) -> tuple[RunMeta, WorldSpec]:
    """The run's meta.json and the world it ran, or a :class:`ReportError` saying what is wrong."""
    path = run_dir / "meta.json"
    try:
        meta = RunMeta.model_validate_json(path.read_bytes())
        return meta, WorldSpec.model_validate(meta.world)
    except FileNotFoundError:
        raise ReportError(f"{path}: not found — is {run_dir} a run folder?") from None
    except ValidationError as exc:
        raise ReportError(f"{path}: unreadable ({exc.errors()[0]['msg']})") from exc


def _read_summary(run_dir: Path) -> RunSummary | None:
    path = run_dir / "summary.json"
    if not path.exists():
        return None
    try:
        return RunSummary.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        log.warning("%s: unreadable, ignored (%s)", path, exc.errors()[0]["msg"])
        return None


def read_frames(path: Path, spec: WorldSpec) -> FrameFacts:
    """Replay the frame deltas once, keeping only what the plots need."""
    rows = spec.map.lines()
    height, width = len(rows), max((len(r) for r in rows), default=0)
    agents = len(spec.personas)
    heat = np.zeros((height, width), dtype=np.int64)
    segments: list[list[Segment]] = [[] for _ in range(agents)]
    current: list[Segment | None] = [None] * agents
    facts = FrameFacts(ticks=0, segments=segments, heat=heat)
    reader = FrameFile(path)
    town = TownState()
    try:
        for frame in reader:
            tick = frame.tick
            town.apply(frame)
            for agent in frame.agents:
                if agent >= agents:
                    continue
                now = town.agents[agent]
                seg = current[agent]
                if seg is None or (now.action, now.place, now.asleep) != (seg.action, seg.place, seg.asleep):
                    if seg is not None:
                        seg.end = tick
                    seg = Segment(tick, tick + 1, now.action, now.place, now.asleep)
                    segments[agent].append(seg)
                    current[agent] = seg
            for agent in range(agents):
                seg = current[agent]
                if seg is not None:
                    seg.end = tick + 1
                seen = town.agents.get(agent)
                if seen is None or seen.asleep:
                    continue
                x, y = seen.pos
                if 0 <= y < height and 0 <= x < width:
                    heat[y, x] += 1
            for event in frame.events:
                if event.type == "conversation_start" and event.agent is not None and event.to is not None:
                    facts.conversations[tuple(sorted((event.agent, event.to)))] += 1  # type: ignore[index]
                elif event.type == "say" and event.agent is not None:
                    facts.said[event.agent] += 1
                    if event.to is not None:
                        facts.lines[tuple(sorted((event.agent, event.to)))] += 1  # type: ignore[index]
                elif event.type == "plan" and event.agent is not None:
                    facts.plans.append((tick, event.agent))
                elif event.type == "reflect" and event.agent is not None:
                    facts.reflections.append((tick, event.agent))
            facts.ticks = tick + 1
    except FrameStreamError as error:
        raise ReportError(str(error)) from None
    facts.torn_line = reader.torn_line
    return facts


def read_history(run_dir: Path, spec: WorldSpec) -> list[MemoryPoint]:
    """Memory counts and event knowledge at every checkpoint, scanning each new memory once."""
    events = [e.what for e in spec.events]
    points: list[MemoryPoint] = []
    seen: list[int] = []
    thought_count: list[int] = []
    known_in_memory: list[set[str]] = []
    try:
        for checkpoint in iter_history(run_dir, vectors=False):
            agents = checkpoint.sim["agents"]
            if len(seen) != len(agents):
                seen, thought_count = [0] * len(agents), [0] * len(agents)
                known_in_memory = [set() for _ in agents]
            memories, thoughts, knowers = [], [], dict.fromkeys(events, 0)
            for index, agent in enumerate(agents):
                nodes = agent["memory"]["nodes"]
                if len(nodes) < seen[index]:  # a new chain (a fork's start): scan again
                    seen[index], thought_count[index], known_in_memory[index] = 0, 0, set()
                for node in nodes[seen[index] :]:
                    known_in_memory[index].update(what for what in events if what in node["text"])
                    thought_count[index] += node["kind"] == "thought" and bool(node.get("cites"))
                seen[index] = len(nodes)
                memories.append(len(nodes))
                thoughts.append(thought_count[index])
                told = {e["what"] for e in agent["state"].get("known_events", [])}
                for what in events:
                    # Agent.knows_event: told of it, or any memory mentions it.
                    if what in told or what in known_in_memory[index]:
                        knowers[what] += 1
            points.append(MemoryPoint(checkpoint.tick, memories, thoughts, knowers))
    except CheckpointError as exc:
        log.warning("checkpoint history unreadable from here on: %s", exc)
    return points


def load_run(run_dir: Path) -> RunData:
    run_dir = Path(run_dir)
    meta, spec = read_meta(run_dir)
    clock = GameClock(spec.world.start, spec.world.tick_seconds)
    frames = read_frames(run_dir / "frames.jsonl", spec)
    history = read_history(run_dir, spec)
    summary = _read_summary(run_dir)
    llm = summary.llm if summary else None
    if llm is None:
        try:
            latest = load_latest(run_dir)
        except CheckpointError as exc:
            log.warning("%s", exc)
            latest = None
        llm = latest.llm if latest else None
    try:
        # Measured from the frames here, not taken from summary.json: old replays have none there.
        behaviour: BehaviourMeasures | None = measure_run(run_dir, spec, llm)
    except ValueError as exc:
        log.warning("behaviour not measured: %s", exc)
        behaviour = None
    return RunData(run_dir, meta, spec, clock, frames, history, summary, llm, behaviour)
