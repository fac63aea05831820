"""A live session written down as a run folder, so that watching costs nothing later.

The same files a headless run writes — ``meta.json``, ``frames.jsonl`` (every tick,
as it happens), checkpoints every N game minutes, ``summary.json`` when the server
stops — so a town watched in the browser can afterwards be played back, reported on,
interviewed, resumed headless or forked. What viewers changed (injected events,
interviews) is part of what happened and is recorded like the rest.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from luotuo_rpg.llm import Mind
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.sim.files import Frame, RunSummary
from luotuo_rpg.sim.recorder import Recorder
from luotuo_rpg.sim.runner import Run, RunOptions, clear_run_files
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)


def free_folder(path: Path) -> Path:
    """``path`` if it is missing or empty, else ``path-2``, ``path-3`` …: a recording never overwrites another."""
    candidate, number = Path(path), 1
    while candidate.exists() and any(candidate.iterdir()):
        number += 1
        candidate = Path(f"{path}-{number}")
    return candidate


class LiveRecording:
    def __init__(self, spec: WorldSpec, world_file: str, mind: Mind, options: RunOptions):
        self.run = Run(spec, world_file, options, mind)
        clear_run_files(self.run.out)
        self.recorder = Recorder(self.run.out, self.run.meta())
        self.checkpointer = self.run.checkpointer()
        self._started = time.perf_counter()
        self.summary: RunSummary | None = None
        if self.checkpointer is not None:
            # Before tick 0, as a headless run does: resume always has a start, fork can begin at 0.
            self.checkpointer.save(self.run.checkpoint(self.recorder, 0.0))

    @property
    def out(self) -> Path:
        return self.run.out

    @property
    def sim(self) -> Simulation:
        return self.run.sim

    def _wall(self) -> float:
        return time.perf_counter() - self._started

    def record(self, frame: Frame) -> None:
        self.recorder.write(frame)
        if self.checkpointer is not None and self.checkpointer.due(self.sim.tick):
            self.checkpointer.save(self.run.checkpoint(self.recorder, self._wall()))

    def finish(self) -> RunSummary | None:
        """Last checkpoint, meta.json with the game time covered as the run's target, summary.json."""
        if self.summary is not None:
            return self.summary
        ticks = self.sim.tick
        self.run.wall_seconds = self._wall()
        if ticks > 0:
            # A live run has no target of its own: it covered what it covered. `resume --hours` extends it.
            hours = ticks * self.run.spec.world.tick_seconds / 3600
            self.run.options = self.run.options.model_copy(update={"hours": hours})
            self.recorder.write_meta(self.run.meta())
        if self.checkpointer is not None:
            self.checkpointer.save(self.run.checkpoint(self.recorder))
        self.summary = self.run.measured(self.run.summary())
        self.recorder.finish(self.summary)
        log.info("recorded %d ticks into %s", ticks, self.out)
        return self.summary
