"""Continue a run from its latest checkpoint, or fork a new run from any checkpoint.

Everything a run needs comes from its folder: the world spec, seed, config and
model settings from meta.json (secrets are never there: a resumed openai run
takes its key from the environment or flags again), the state from the
checkpoint. frames.jsonl is cut back to the checkpoint's byte offset, which
drops the frames written after it and a torn last line, so the continued run
writes every later frame exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from luotuo_rpg.config import SimConfig
from luotuo_rpg.llm import Mind, MindOptions
from luotuo_rpg.sim.checkpoint import (
    Checkpoint,
    CheckpointError,
    FramesMark,
    at_or_before,
    drop_history_after,
    load_history,
    load_latest,
)
from luotuo_rpg.sim.files import Frame, RunMeta, RunSummary
from luotuo_rpg.sim.recorder import Recorder
from luotuo_rpg.sim.runner import Run, RunOptions, drive
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)
_COPY_CHUNK = 1 << 20


class ResumeError(CheckpointError):
    """A run folder cannot be resumed or forked as asked; the message says why."""


@dataclass(frozen=True)
class FramesRepair:
    torn_bytes: int
    dropped_frames: int
    kept_bytes: int


def read_meta(run_dir: Path) -> RunMeta:
    path = Path(run_dir) / "meta.json"
    try:
        return RunMeta.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ResumeError(f"{path}: not found — is {run_dir} a run folder?") from None
    except ValidationError as exc:
        raise ResumeError(f"{path}: not a run's meta.json ({exc.errors()[0]['msg']})") from exc


def target_tick(meta: RunMeta) -> int:
    """The tick a run stops at (its ``hours`` from the world's start); 0 when meta records none."""
    tick_seconds = int(meta.world.get("world", {}).get("tick_seconds", 10))
    return round((meta.hours or 0) * 3600 / tick_seconds)


def _line_before(path: Path, offset: int) -> bytes:
    """The complete line that ends at byte ``offset`` (which follows its newline)."""
    with open(path, "rb") as handle:
        window = 1 << 16
        while True:
            start = max(0, offset - 1 - window)
            handle.seek(start)
            chunk = handle.read(offset - 1 - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0 or start == 0:
                return chunk[cut + 1 :]
            window *= 4


def check_frames(path: Path, mark: FramesMark) -> None:
    """frames.jsonl must hold the checkpoint's frames intact: its byte offset ends frame ``count − 1``."""
    size = path.stat().st_size if path.exists() else 0
    if size < mark.bytes:
        raise ResumeError(
            f"{path}: {size} bytes, but the checkpoint covers {mark.bytes} bytes ({mark.count} frames): frames "
            "were lost"
        )
    if mark.count == 0:
        if mark.bytes != 0:
            raise ResumeError(f"{path}: checkpoint names {mark.bytes} bytes for zero frames")
        return
    with open(path, "rb") as handle:
        handle.seek(mark.bytes - 1)
        if handle.read(1) != b"\n":
            raise ResumeError(
                f"{path}: byte {mark.bytes} is not the end of a frame: the file does not match the checkpoint"
            )
    try:
        frame = Frame.model_validate_json(_line_before(path, mark.bytes))
    except ValidationError as exc:
        raise ResumeError(
            f"{path}: the frame before byte {mark.bytes} is unreadable ({exc.errors()[0]['msg']})"
        ) from exc
    if frame.tick != mark.count - 1:
        raise ResumeError(
            f"{path}: the frame before byte {mark.bytes} is tick {frame.tick}, the checkpoint expects {mark.count - 1}"
        )


def repair_frames(path: Path, mark: FramesMark) -> FramesRepair:
    """Cut frames.jsonl back to the checkpoint: drop a torn last line and the frames after ``mark``."""
    check_frames(path, mark)
    size = path.stat().st_size if path.exists() else 0
    torn = 0
    dropped = 0
    if size > mark.bytes:
        with open(path, "rb") as handle:
            handle.seek(mark.bytes)
            tail = handle.read()
        complete = tail.rfind(b"\n") + 1
        torn = len(tail) - complete
        dropped = tail.count(b"\n")
    if torn:
        log.warning("%s: dropping a torn last line (%d bytes, the process died while writing it)", path, torn)
    if dropped:
        log.info("%s: dropping %d frames written after the checkpoint at tick %d", path, dropped, mark.count)
    if size != mark.bytes or not path.exists():
        with open(path, "ab") as handle:
            handle.truncate(mark.bytes)
    return FramesRepair(torn_bytes=torn, dropped_frames=dropped, kept_bytes=mark.bytes)


def spec_and_config(meta: RunMeta, run_dir: Path) -> tuple[WorldSpec, SimConfig]:
    try:
        return WorldSpec.model_validate(meta.world), SimConfig.model_validate(meta.config)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise ResumeError(
            f"{Path(run_dir) / 'meta.json'}: world or config no longer valid at {where}: {exc.errors()[0]['msg']}"
        ) from exc


def _target_hours(meta: RunMeta, hours: float | None, run_dir: Path) -> float:
    target = hours if hours is not None else meta.hours
    if target is None:
        raise ResumeError(f"{Path(run_dir) / 'meta.json'}: no target hours recorded (an older run): pass --hours")
    return target


def run_mind_options(meta: RunMeta, given: MindOptions | None) -> MindOptions:
    if given is not None:
        return given
    try:
        return MindOptions.model_validate(meta.llm)
    except ValidationError as exc:
        raise ResumeError(f"meta.json: model settings unreadable ({exc.errors()[0]['msg']})") from exc


def check_fits(checkpoint: Checkpoint, spec: WorldSpec, where: Path) -> None:
    agents = len(checkpoint.sim.get("agents", []))
    if agents != len(spec.personas):
        raise ResumeError(f"{where}: checkpoint has {agents} agents, the run's world {len(spec.personas)}")


async def resume_async(
    run_dir: Path,
    *,
    hours: float | None = None,
    mind_options: MindOptions | None = None,
    mind: Mind | None = None,
    progress: bool = False,
) -> tuple[RunSummary, Path]:
    """Continue the run in ``run_dir`` from its latest checkpoint to its target (or ``hours``)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    spec, config = spec_and_config(meta, run_dir)
    options = RunOptions(
        hours=_target_hours(meta, hours, run_dir),
        seed=meta.seed,
        out=run_dir,
        progress=progress,
        mind=run_mind_options(meta, mind_options),
        config=config,
    )
    checkpoint = load_latest(run_dir)
    run = Run(spec, meta.world_file, options, mind, parent=meta.parent)
    run.run_id = meta.run_id
    if checkpoint is None:
        # Killed before the first checkpoint: tick 0 is the fresh state, so start over.
        log.warning("%s: no checkpoint yet; starting the run over from tick 0", run_dir)
        mark = FramesMark(count=0, bytes=0)
    else:
        check_fits(checkpoint, spec, run_dir)
        if checkpoint.tick > run.target_tick:
            raise ResumeError(
                f"{run_dir}: the checkpoint is at tick {checkpoint.tick}, past the target of {options.hours:g} hours "
                f"(tick {run.target_tick})"
            )
        run.restore(checkpoint)
        mark = checkpoint.frames
    stale = drop_history_after(run_dir, checkpoint.tick if checkpoint else -1)
    if stale:
        log.info("%s: dropped %d history checkpoints written after the latest", run_dir, len(stale))
    repair_frames(run_dir / "frames.jsonl", mark)
    (run_dir / "summary.json").unlink(missing_ok=True)  # it will describe the continued run
    log.info("resuming %s at tick %d of %d", meta.run_id, run.sim.tick, run.target_tick)
    recorder = Recorder(run_dir, run.meta(), append=True)
    checkpointer = run.checkpointer()
    if checkpointer is not None and checkpoint is not None:
        checkpointer.continue_from(checkpoint)
    summary = await drive(run, recorder, checkpointer, initial_checkpoint=checkpoint is None)
    return summary, run_dir


def check_fork_target(run_dir: Path, out: Path) -> None:
    if Path(out).resolve() == Path(run_dir).resolve():
        raise ResumeError(f"{out}: a fork needs a new folder, not its parent's")
    if Path(out).exists() and any(Path(out).iterdir()):
        raise ResumeError(f"{out}: exists and is not empty")


def _copy_prefix(source: Path, target: Path, size: int) -> None:
    with open(source, "rb") as src, open(target, "wb") as dst:
        left = size
        while left:
            chunk = src.read(min(_COPY_CHUNK, left))
            if not chunk:
                raise ResumeError(f"{source}: ended before byte {size}")
            dst.write(chunk)
            left -= len(chunk)


async def fork_async(
    run_dir: Path,
    *,
    at: int,
    out: Path,
    hours: float | None = None,
    seed: int | None = None,
    mind_options: MindOptions | None = None,
    mind: Mind | None = None,
    progress: bool = False,
) -> tuple[RunSummary, Path]:
    """A new run in ``out`` from ``run_dir``'s checkpoint at or before tick ``at``, run to the target.

    Frames up to the checkpoint are copied, so the fork's replay is whole; meta.json
    names the parent as ``run_id@tick``. Seed and model may be changed (that is what
    forks are for); with neither changed and the offline mind, the fork equals its parent.
    """
    run_dir, out = Path(run_dir), Path(out)
    meta = read_meta(run_dir)
    spec, config = spec_and_config(meta, run_dir)
    check_fork_target(run_dir, out)
    tick = at_or_before(run_dir, at)
    checkpoint = load_history(run_dir, tick)
    check_fits(checkpoint, spec, run_dir)
    check_frames(run_dir / "frames.jsonl", checkpoint.frames)
    options = RunOptions(
        hours=_target_hours(meta, hours, run_dir),
        seed=meta.seed if seed is None else seed,
        out=out,
        progress=progress,
        mind=run_mind_options(meta, mind_options),
        config=config,
    )
    run = Run(spec, meta.world_file, options, mind, parent=f"{meta.run_id}@{tick}")
    if tick > run.target_tick:
        raise ResumeError(f"tick {tick} is past the fork's target of {options.hours:g} hours (tick {run.target_tick})")
    run.restore(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    try:
        _copy_prefix(run_dir / "frames.jsonl", out / "frames.jsonl", checkpoint.frames.bytes)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    log.info("forked %s at tick %d into %s", meta.run_id, tick, out)
    recorder = Recorder(out, run.meta(), append=True)
    summary = await drive(run, recorder, run.checkpointer(), initial_checkpoint=True)
    return summary, out


def resume_headless(run_dir: Path | str, **kwargs: Any) -> RunSummary:
    summary, _ = asyncio.run(resume_async(Path(run_dir), **kwargs))
    return summary


def fork_headless(run_dir: Path | str, *, at: int, out: Path | str, **kwargs: Any) -> RunSummary:
    summary, _ = asyncio.run(fork_async(Path(run_dir), at=at, out=Path(out), **kwargs))
    return summary
