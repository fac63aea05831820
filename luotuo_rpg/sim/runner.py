"""A headless run: world + mind + engine + recorder + checkpoints, a progress bar, a summary.

:func:`run_async` starts a run; :mod:`luotuo_rpg.sim.resume` continues or forks
one from a checkpoint. Both drive the same :class:`Run` through :func:`drive`,
so a resumed run writes exactly the frames an uninterrupted one would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

from luotuo_rpg.config import SimConfig
from luotuo_rpg.llm import (
    BudgetExceeded,
    Mind,
    MindOptions,
    RunHalted,
    build_mind,
    describe,
    for_world,
)
from luotuo_rpg.phrases import phrase
from luotuo_rpg.sim.behaviour import measure_run
from luotuo_rpg.sim.checkpoint import (
    HISTORY_DIR,
    LATEST_NAME,
    Checkpoint,
    Checkpointer,
    FramesMark,
)
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.sim.files import AgentSummary, EventSpread, RunMeta, RunSummary
from luotuo_rpg.sim.recorder import Recorder
from luotuo_rpg.world.loader import load_world_spec
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)


class RunOptions(BaseModel):
    hours: float = Field(default=24.0, gt=0, description="Target in game hours from the world's start.")
    seed: int = 0
    out: Path | None = None
    progress: bool = False
    mind: MindOptions = Field(default_factory=MindOptions)
    config: SimConfig = Field(default_factory=SimConfig)
    checkpoints: bool = Field(default=True, description="Write checkpoint.json and its history (resume, fork).")


def default_run_dir(root: Path = Path("replays")) -> Path:
    return root / dt.datetime.now().strftime("%Y%m%d-%H%M%S")


class Run:
    """One run in progress: owns the simulation, the mind and the clock on the wall."""

    def __init__(
        self,
        spec: WorldSpec,
        world_file: str,
        options: RunOptions,
        mind: Mind | None = None,
        *,
        parent: str | None = None,
    ):
        self.spec = spec
        self.world_file = world_file
        self.options = options
        self.mind = mind or build_mind(
            for_world(options.mind.model_copy(update={"seed": options.seed}), spec, world_file)
        )
        self.sim = Simulation(spec, self.mind, options.config)
        self.out = Path(options.out) if options.out else default_run_dir()
        self.run_id = self.out.name
        self.parent = parent
        self.known_at_start = {e.what: len(e.known_by) for e in spec.events}
        self.wall_seconds = 0.0
        self.stopped_early: str | None = None

    @property
    def target_tick(self) -> int:
        return self.sim.world.clock.ticks_for_hours(self.options.hours)

    def meta(self) -> RunMeta:
        return RunMeta(
            run_id=self.run_id,
            world_file=self.world_file,
            world=self.spec.model_dump(mode="json"),
            seed=self.options.seed,
            llm=describe(self.options.mind, self.mind),
            config=self.options.config.model_dump(mode="json"),
            keyframe_every=self.options.config.keyframe_every,
            parent=self.parent,
            hours=self.options.hours,
        )

    def checkpointer(self) -> Checkpointer | None:
        if not self.options.checkpoints:
            return None
        every = self.sim.world.clock.ticks_for_minutes(self.options.config.checkpoint_minutes)
        return Checkpointer(self.out, every)

    # --- checkpoints ---------------------------------------------------------------
    def checkpoint(self, recorder: Recorder, wall_seconds: float | None = None) -> Checkpoint:
        """The complete state between two ticks; frames must already be on disk up to here."""
        recorder.sync()
        tick = self.sim.tick
        return Checkpoint(
            run_id=self.run_id,
            tick=tick,
            time=self.sim.world.clock.label(tick),
            frames=FramesMark(count=tick, bytes=recorder.bytes_written),
            wall_seconds=round(self.wall_seconds if wall_seconds is None else wall_seconds, 3),
            llm=self.mind.stats,
            sim=self.sim.get_state(),
        )

    def restore(self, checkpoint: Checkpoint) -> None:
        self.sim.set_state(checkpoint.sim)
        # Accounting continues where it stopped; the backend's name is the one serving now (a fork may change it).
        self.mind.stats = checkpoint.llm.model_copy(deep=True, update={"backend": self.mind.stats.backend})
        self.wall_seconds = checkpoint.wall_seconds

    # --- the loop ----------------------------------------------------------------------
    async def run(self, ticks: int, recorder: Recorder, checkpointer: Checkpointer | None = None) -> RunSummary:
        return await self.run_until(self.sim.tick + ticks, recorder, checkpointer)

    async def run_until(self, target: int, recorder: Recorder, checkpointer: Checkpointer | None = None) -> RunSummary:
        """Step until tick ``target``; checkpoint when due and at the end (not after an aborted tick)."""
        bar = _progress(target, self.sim.tick, self.options.progress, self.spec.world.language)
        started = time.perf_counter()
        try:
            while self.sim.tick < target:
                try:
                    frame = await self.sim.step()
                except RunHalted as exc:
                    # The aborted tick left agents half-thought: the last checkpoint stays the one to resume from.
                    self.stopped_early = (
                        str(exc) if not isinstance(exc, BudgetExceeded) else f"token budget reached: {exc}"
                    )
                    log.warning("stopping: %s", self.stopped_early)
                    break
                recorder.write(frame)
                tick = self.sim.tick
                if checkpointer is not None and (checkpointer.due(tick) or tick == target):
                    checkpointer.save(self.checkpoint(recorder, self.wall_seconds + time.perf_counter() - started))
                if bar is not None:
                    bar.update(1)
                    if frame.tick % 30 == 0:
                        requests = self.mind.stats.requests
                        postfix = phrase(self.spec.world.language, "progress_requests", time=frame.time, count=requests)
                        bar.set_postfix_str(postfix, refresh=False)
        finally:
            if bar is not None:
                bar.close()
            self.wall_seconds += time.perf_counter() - started
        return self.summary()

    def summary(self) -> RunSummary:
        sim = self.sim
        ticks = sim.tick
        agents = [
            AgentSummary(
                name=agent.name,
                plans=agent.state.counters.plans,
                reflections=agent.state.counters.reflections,
                conversations=agent.state.counters.conversations,
                memories=len(agent.memory),
                reactions=agent.state.counters.reactions,
                known_places=len(agent.state.known_places),
            )
            for agent in sim.agents
        ]
        events = []
        for event in self.spec.events:
            knowers = sim.knows(event.what)
            events.append(
                EventSpread(
                    what=event.what,
                    known_at_start=self.known_at_start[event.what],
                    known_at_end=len(knowers),
                    known_by_end=knowers,
                )
            )
        hours = ticks * self.spec.world.tick_seconds / 3600
        return RunSummary(
            run_id=self.run_id,
            world=self.spec.world.name,
            ticks=ticks,
            game_hours=round(hours, 3),
            wall_seconds=round(self.wall_seconds, 3),
            ticks_per_second=round(ticks / self.wall_seconds, 1) if self.wall_seconds else 0.0,
            agents=agents,
            conversations=sim.world.next_conversation,
            sample_lines=sim.lines_said[:12],
            events=events,
            llm=self.mind.stats,
            stopped_early=self.stopped_early,
        )

    def measured(self, summary: RunSummary) -> RunSummary:
        """The summary with the behaviour measures, read back from the frames on disk (as a viewer reads them)."""
        return summary.model_copy(update={"behaviour": measure_run(self.out, self.spec, summary.llm)})


def _progress(total: int, initial: int, enabled: bool, language: str):
    if not enabled:
        return None
    from tqdm import tqdm

    desc = phrase(language, "progress_running")
    return tqdm(
        total=total, initial=initial, unit="tick", file=sys.stderr, dynamic_ncols=True, desc=desc, smoothing=0.1
    )


async def drive(
    run: Run, recorder: Recorder, checkpointer: Checkpointer | None, *, initial_checkpoint: bool
) -> RunSummary:
    """Run to the target, close the mind and the frames, write summary.json."""
    try:
        if checkpointer is not None and initial_checkpoint:
            # A checkpoint before the first tick: resume always has a start, fork can begin at 0.
            checkpointer.save(run.checkpoint(recorder))
        summary = await run.run_until(run.target_tick, recorder, checkpointer)
    finally:
        await run.sim.aclose()  # thoughts still in flight are in the last checkpoint
        await run.mind.aclose()
        recorder.close()
    summary = run.measured(summary.model_copy(update={"llm": run.mind.stats}))
    recorder.finish(summary)
    return summary


def clear_run_files(out: Path) -> None:
    """A new run in an old folder: drop the old run's checkpoints and summary so nothing mixes."""
    for name in (LATEST_NAME, "summary.json"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / HISTORY_DIR, ignore_errors=True)


async def run_async(
    spec: WorldSpec, world_file: str, options: RunOptions, mind: Mind | None = None
) -> tuple[RunSummary, Path]:
    run = Run(spec, world_file, options, mind)
    clear_run_files(run.out)
    recorder = Recorder(run.out, run.meta())
    summary = await drive(run, recorder, run.checkpointer(), initial_checkpoint=True)
    return summary, run.out


def run_headless(
    world_path: Path | str,
    *,
    hours: float,
    seed: int = 0,
    out: Path | str,
    mind_options: MindOptions | None = None,
    config: SimConfig | None = None,
    mind: Mind | None = None,
) -> RunSummary:
    """Run a world file for ``hours`` game hours into ``out``; returns the summary."""
    spec = load_world_spec(world_path)
    options = RunOptions(
        hours=hours, seed=seed, out=Path(out), mind=mind_options or MindOptions(), config=config or SimConfig()
    )
    summary, _ = asyncio.run(run_async(spec, str(world_path), options, mind))
    return summary
