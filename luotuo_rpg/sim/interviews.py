"""Interview the agents of a finished (or stopped) run, as the paper evaluates its agents.

The state comes from a checkpoint — the latest, or the one at or before a tick — so a
run can be questioned long after it ended, with the mind it ran on or another one.
Nothing in the run folder changes. All agents asked are interviewed concurrently.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, Field

from luotuo_rpg.llm import Mind, MindOptions
from luotuo_rpg.sim.checkpoint import at_or_before, load_history, load_latest
from luotuo_rpg.sim.resume import (
    ResumeError,
    check_fits,
    read_meta,
    run_mind_options,
    spec_and_config,
)
from luotuo_rpg.sim.runner import Run, RunOptions


class InterviewAnswer(BaseModel):
    agent: str
    tick: int = Field(description="Tick of the checkpoint the agent was restored from.")
    time: str
    question: str
    answer: str


async def interview_run(
    run_dir: Path,
    question: str,
    *,
    agents: list[str] | None = None,
    at: int | None = None,
    mind_options: MindOptions | None = None,
    mind: Mind | None = None,
) -> list[InterviewAnswer]:
    """Answers of ``agents`` (default: everyone) to ``question``, in the world's persona order."""
    run_dir = Path(run_dir)
    if not question.strip():
        raise ResumeError("the question is empty")
    meta = read_meta(run_dir)
    spec, config = spec_and_config(meta, run_dir)
    names = [p.name for p in spec.personas]
    unknown = [name for name in agents or [] if name not in names]
    if unknown:
        raise ResumeError(f"no agent named {', '.join(unknown)} in {meta.run_id}; the agents: {'、'.join(names)}")
    checkpoint = load_history(run_dir, at_or_before(run_dir, at)) if at is not None else load_latest(run_dir)
    if checkpoint is None:
        raise ResumeError(f"{run_dir}: no checkpoint yet — the run stopped before its first one")
    check_fits(checkpoint, spec, run_dir)
    options = RunOptions(
        hours=meta.hours or 24.0,
        seed=meta.seed,
        out=run_dir,
        mind=run_mind_options(meta, mind_options),
        config=config,
        checkpoints=False,
    )
    run = Run(spec, meta.world_file, options, mind)
    try:
        run.restore(checkpoint)
        chosen = [i for i, name in enumerate(names) if agents is None or name in agents]
        answers = await asyncio.gather(*(run.sim.interview(i, question) for i in chosen))
    finally:
        await run.mind.aclose()
    return [
        InterviewAnswer(agent=names[i], tick=checkpoint.tick, time=checkpoint.time, question=question, answer=answer)
        for i, answer in zip(chosen, answers)
    ]
