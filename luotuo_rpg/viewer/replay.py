"""Playing a run folder back: meta.json gives the hello, frames.jsonl the frames.

The hello is built with the server's own :func:`hello_from_spec`, so a replay
reaches the renderer exactly as a live connection would. Seeking back resets
to a keyframe at or before the target (an hour earlier, to rebuild the recent
lines) and replays the deltas from there; seeking forward applies the deltas
in between.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from luotuo_rpg.phrases import phrase
from luotuo_rpg.server.protocol import Hello, ReplayInfo, hello_from_spec
from luotuo_rpg.sim.files import Frame, RunMeta
from luotuo_rpg.sim.frame_stream import FrameFile, FrameStreamError
from luotuo_rpg.viewer.playback import DEFAULT_REPLAY_SPEED, ViewerError, next_speed
from luotuo_rpg.viewer.state import ViewerState
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)

HISTORY_FRAMES = 360
"""A jump rebuilds from a keyframe at least this far back (one game hour at 10 s a tick), so the
side panel has recent lines to show; applying a few hundred deltas takes milliseconds."""


@dataclass
class ReplayRun:
    """A run folder read into memory: its hello and every frame, in file order."""

    folder: Path
    meta: RunMeta
    hello: Hello
    frames: list[Frame]
    keyframes: list[int]
    """Indices into ``frames`` of the keyframes, ascending."""

    @classmethod
    def open(cls, folder: Path) -> ReplayRun:
        folder = Path(folder)
        meta_path, frames_path = folder / "meta.json", folder / "frames.jsonl"
        if not meta_path.is_file():
            raise ViewerError(f"{folder} is not a run folder: no meta.json (make one with `luotuo-rpg run`)")
        if not frames_path.is_file():
            raise ViewerError(f"{folder} has no frames.jsonl")
        try:
            meta = RunMeta.model_validate_json(meta_path.read_text(encoding="utf-8"))
            spec = WorldSpec.model_validate(meta.world)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ViewerError(f"{meta_path}: {where}: {first['msg']}") from None
        try:
            frames = list(FrameFile(frames_path))
        except FrameStreamError as error:
            raise ViewerError(str(error)) from None
        keyframes = [i for i, frame in enumerate(frames) if frame.key]
        if not frames or keyframes[:1] != [0]:
            raise ViewerError(f"{frames_path}: the first frame must be a keyframe")
        info = ReplayInfo(run_id=meta.run_id, ticks=len(frames), first_tick=frames[0].tick, last_tick=frames[-1].tick)
        hello = hello_from_spec(spec, frames[0], replay=info)
        return cls(folder=folder, meta=meta, hello=hello, frames=frames, keyframes=keyframes)

    def index_of_tick(self, tick: int) -> int:
        """The first frame at or after ``tick`` (the last frame if the run ends before it)."""
        ticks = [frame.tick for frame in self.frames]
        return min(bisect.bisect_left(ticks, tick), len(self.frames) - 1)

    def keyframe_before(self, index: int) -> int:
        """Index of the last keyframe at or before frame ``index``."""
        return self.keyframes[bisect.bisect_right(self.keyframes, index) - 1]


class ReplayPlayer:
    """A :class:`~luotuo_rpg.viewer.playback.Playback` over a :class:`ReplayRun`."""

    def __init__(self, run: ReplayRun, speed: float = DEFAULT_REPLAY_SPEED, start_tick: int = 0) -> None:
        self.run = run
        self.state = ViewerState(run.hello)
        self.index = 0
        self.speed = speed
        self.paused = False
        self.notice = ""
        self._carry = 0.0
        if start_tick > 0:
            self.seek(run.index_of_tick(start_tick))

    @property
    def last_index(self) -> int:
        return len(self.run.frames) - 1

    def seek(self, index: int) -> None:
        """Show frame ``index``: forward by applying deltas, backward (or far forward) via a keyframe."""
        index = max(0, min(index, self.last_index))
        if index == self.index:
            return
        if index < self.index or self.run.keyframe_before(index) > self.index + HISTORY_FRAMES:
            # Back, or far forward: restart from a keyframe, early enough to rebuild recent history.
            key = self.run.keyframe_before(max(0, index - HISTORY_FRAMES))
            self.state.apply(self.run.frames[key])
            self.index = key
        for i in range(self.index + 1, index + 1):
            self.state.apply(self.run.frames[i])
        self.index = index

    def update(self, seconds: float) -> None:
        if self.paused or self.index >= self.last_index:
            return
        if self.speed <= 0:
            self.seek(self.last_index)
            return
        self._carry += seconds * self.speed
        ticks = int(self._carry + 1e-9)  # 3 × (20/30) must make 2 ticks despite rounding
        if ticks:
            self._carry -= ticks
            self.seek(self.index + ticks)

    def toggle_pause(self) -> None:
        if self.index >= self.last_index and self.paused is False:
            self.seek(0)  # at the end, space plays it again from the start
            return
        self.paused = not self.paused
        self._carry = 0.0

    def step(self, ticks: int) -> None:
        self.paused = True
        self._carry = 0.0
        self.seek(self.index + ticks)

    def change_speed(self, direction: int) -> None:
        self.speed = next_speed(self.speed, direction)
        speed = phrase(self.state.hello.language, "viewer_speed_value", speed=f"{self.speed:g}")
        self.notice = phrase(self.state.hello.language, "viewer_speed", speed=speed)

    def status(self) -> str:
        language = self.state.hello.language
        if self.index >= self.last_index:
            mode = phrase(language, "viewer_ended")
        elif self.paused:
            mode = phrase(language, "viewer_paused")
        else:
            mode = "▶ " + phrase(language, "viewer_speed_value", speed=f"{self.speed:g}")
        return f"{mode} · {phrase(language, 'viewer_replay')} {self.index + 1}/{len(self.run.frames)}"

    def close(self) -> None:
        return None
