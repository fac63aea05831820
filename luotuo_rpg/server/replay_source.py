"""Playing back a finished (or still growing) run through the live protocol.

:class:`ReplayIndex` scans ``frames.jsonl`` once and keeps the byte offset of
every keyframe, so the state at any tick T is one ``seek`` plus at most
``keyframe_every`` lines: the last keyframe at or before T, then the deltas
up to T. :class:`ReplaySession` reads one line per tick at the chosen speed;
a seek rebuilds the mirror at T and sends every viewer a fresh ``hello``.
"""

from __future__ import annotations

import bisect
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from luotuo_rpg.server.broadcast import DEFAULT_QUEUE_LIMIT
from luotuo_rpg.server.mirror import FrameMirror
from luotuo_rpg.server.protocol import Control, ControlResult, ReplayInfo
from luotuo_rpg.server.session import Session
from luotuo_rpg.server.views import AgentDetail, replay_agent_detail
from luotuo_rpg.sim.files import Frame, RunMeta
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)


class ReplayError(Exception):
    """A folder that is not a readable run (no meta.json or frames.jsonl, or no frames)."""


@dataclass
class ReplayIndex:
    path: Path
    key_ticks: list[int] = field(default_factory=list)
    key_offsets: list[int] = field(default_factory=list)
    first_tick: int | None = None
    first_offset: int = 0
    last_tick: int | None = None
    count: int = 0
    end_offset: int = 0  # bytes of complete lines indexed so far

    @classmethod
    def build(cls, path: Path) -> ReplayIndex:
        index = cls(path)
        index.refresh()
        if index.count == 0:
            raise ReplayError(f"{path} has no frames")
        return index

    def refresh(self) -> bool:
        """Index lines appended since the last scan (a run still being written); True if any."""
        before = self.count
        with open(self.path, "rb") as handle:
            handle.seek(self.end_offset)
            offset = self.end_offset
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # a line still being written: index it next time
                if line.strip():
                    head = json.loads(line)
                    tick = int(head["tick"])
                    if self.first_tick is None:
                        self.first_tick, self.first_offset = tick, offset
                    if head.get("key"):
                        self.key_ticks.append(tick)
                        self.key_offsets.append(offset)
                    self.last_tick = tick
                    self.count += 1
                offset += len(line)
            self.end_offset = offset
        return self.count > before

    def offset_for(self, tick: int) -> int:
        """Where to start reading to rebuild the state at ``tick``: its last keyframe at or before it."""
        position = bisect.bisect_right(self.key_ticks, tick) - 1
        return self.key_offsets[position] if position >= 0 else self.first_offset

    def info(self, run_id: str) -> ReplayInfo:
        return ReplayInfo(
            run_id=run_id, ticks=self.count, first_tick=self.first_tick or 0, last_tick=self.last_tick or 0
        )


def read_meta(run_dir: Path) -> RunMeta:
    meta_path = run_dir / "meta.json"
    if not meta_path.is_file() or not (run_dir / "frames.jsonl").is_file():
        raise ReplayError(f"{run_dir} is not a run folder (needs meta.json and frames.jsonl)")
    return RunMeta.model_validate_json(meta_path.read_text(encoding="utf-8"))


def state_at(index: ReplayIndex, tick: int) -> tuple[FrameMirror, int]:
    """The mirror at ``tick`` (or the last frame before it) and the offset of the line after it."""
    mirror = FrameMirror()
    with open(index.path, "rb") as handle:
        offset = index.offset_for(tick)
        handle.seek(offset)
        while offset < index.end_offset:
            line = handle.readline()
            frame = Frame.model_validate_json(line)
            if frame.tick > tick and mirror.tick >= 0:
                break
            mirror.apply(frame)
            offset += len(line)
            if frame.tick >= tick:
                break
    return mirror, offset


class ReplaySession(Session):
    mode = "replay"

    def __init__(
        self,
        run_dir: Path,
        *,
        index: ReplayIndex | None = None,
        speed: float = 5.0,
        paused: bool = False,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
    ):
        self.run_dir = run_dir
        self.meta = read_meta(run_dir)
        self.index = index or ReplayIndex.build(run_dir / "frames.jsonl")
        super().__init__(WorldSpec.model_validate(self.meta.world), speed=speed, paused=paused, queue_limit=queue_limit)
        self._file: BinaryIO | None = None  # opened by start(): a session only peeked at by REST holds no file
        self._offset = 0
        self._load(self.index.first_tick or 0)

    def _load(self, tick: int) -> None:
        self.mirror, self._offset = state_at(self.index, tick)

    async def start(self) -> None:
        # A local file opened once per playback; every read after this is one line per tick.
        self._file = open(self.index.path, "rb")  # noqa: SIM115, ASYNC230
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._file is not None:
            self._file.close()
            self._file = None

    async def _advance(self) -> bool:
        if self._file is None:
            return False
        if self._offset >= self.index.end_offset and not self.index.refresh():
            self.ended = True  # the ticker pauses and announces it
            return False
        self._file.seek(self._offset)
        line = self._file.readline()
        self._offset += len(line)
        self.emit(Frame.model_validate_json(line))
        return True

    async def seek(self, tick: int) -> int:
        first, last = self.index.first_tick or 0, self.index.last_tick or 0
        tick = max(first, min(last, tick))
        async with self.ticker.lock:
            self._load(tick)
            self.ended = False
            self.generation += 1
            self.broadcaster.resync_all()
        return self.mirror.tick

    def replay_info(self) -> ReplayInfo:
        return self.index.info(self.meta.run_id)

    def agent_detail(self, agent_id: int) -> AgentDetail:
        if not 0 <= agent_id < len(self.spec.personas):
            raise IndexError(agent_id)
        return replay_agent_detail(self.spec, agent_id, self.mirror)

    async def _special_control(self, control: Control) -> ControlResult:
        action = control.action
        if action == "seek":
            if control.value is None:
                return ControlResult(action=action, ok=False, id=control.id, error="seek needs value (a tick)")
            await self.seek(int(control.value))
            return ControlResult(action=action, ok=True, id=control.id)
        return ControlResult(
            action=action,
            ok=False,
            id=control.id,
            error=f"回放里不能{'采访' if action == 'interview' else '发布事件'}，只有实时模拟可以 ({action} works "
            "only live)",
        )
