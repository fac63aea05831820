"""A headless run: world + mind + engine + recorder, a progress bar, a summary."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

from luotuo_rpg.config import SimConfig
from luotuo_rpg.llm.chat import BudgetExceeded
from luotuo_rpg.llm.factory import MindOptions, build_mind, describe
from luotuo_rpg.llm.mind import Mind
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.sim.files import AgentSummary, EventSpread, RunMeta, RunSummary
from luotuo_rpg.sim.recorder import Recorder
from luotuo_rpg.world.loader import load_world_spec
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)


class RunOptions(BaseModel):
    hours: float = Field(default=24.0, gt=0)
    seed: int = 0
    out: Path | None = None
    progress: bool = False
    mind: MindOptions = Field(default_factory=MindOptions)
    config: SimConfig = Field(default_factory=SimConfig)


def default_run_dir(root: Path = Path("replays")) -> Path:
    return root / dt.datetime.now().strftime("%Y%m%d-%H%M%S")


class Run:
    """One run in progress: owns the simulation, the recorder and the clock on the wall."""

    def __init__(self, spec: WorldSpec, world_file: str, options: RunOptions, mind: Mind | None = None):
        self.spec = spec
        self.world_file = world_file
        self.options = options
        self.mind = mind or build_mind(options.mind.model_copy(update={"seed": options.seed, "language": spec.world.language}))
        self.sim = Simulation(spec, self.mind, options.config)
        self.out = Path(options.out) if options.out else default_run_dir()
        self.run_id = self.out.name
        self.known_at_start = {e.what: len(e.known_by) for e in spec.events}
        self.wall_seconds = 0.0
        self.stopped_early: str | None = None

    def meta(self) -> RunMeta:
        return RunMeta(
            run_id=self.run_id,
            world_file=self.world_file,
            world=self.spec.model_dump(mode="json"),
            seed=self.options.seed,
            llm=describe(self.options.mind),
            config=self.options.config.model_dump(mode="json"),
            keyframe_every=self.options.config.keyframe_every,
        )

    async def run(self, ticks: int, recorder: Recorder) -> RunSummary:
        bar = _progress(ticks, self.options.progress)
        started = time.perf_counter()
        try:
            for _ in range(ticks):
                try:
                    frame = await self.sim.step()
                except BudgetExceeded as exc:
                    self.stopped_early = f"token budget reached: {exc}"
                    log.warning("stopping: %s", self.stopped_early)
                    break
                recorder.write(frame)
                if bar is not None:
                    bar.update(1)
                    if frame.tick % 30 == 0:
                        bar.set_postfix_str(f"{frame.time} 请求 {self.mind.stats.requests}", refresh=False)
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
                EventSpread(what=event.what, known_at_start=self.known_at_start[event.what], known_at_end=len(knowers), known_by_end=knowers)
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


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="tick", file=sys.stderr, dynamic_ncols=True, desc="模拟中", smoothing=0.1)


async def run_async(spec: WorldSpec, world_file: str, options: RunOptions, mind: Mind | None = None) -> tuple[RunSummary, Path]:
    run = Run(spec, world_file, options, mind)
    recorder = Recorder(run.out, run.meta())
    ticks = run.sim.world.clock.ticks_for_hours(options.hours)
    try:
        summary = await run.run(ticks, recorder)
    finally:
        await run.mind.aclose()
        recorder.close()
    summary = summary.model_copy(update={"llm": run.mind.stats})
    recorder.finish(summary)
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
