"""Checkpoints: the complete state of a run, so a crash costs at most one interval.

In a run folder:

``checkpoint.json``
    the latest checkpoint, complete and uncompressed: resume reads only this.
``checkpoints/tick-000360.json.gz``
    one file per checkpoint ever written, for fork-at-any-point. Memory streams
    only grow, so each history file stores every agent's stream as a *delta*:
    the nodes and embeddings added since the previous history file (named in
    ``previous``), plus the small last-access column in full. A two-day run of
    25 agents then keeps its history in roughly the size of one full
    checkpoint, not one full checkpoint per game hour. A file whose deltas all
    start at 0 is complete on its own (the first of a run, and the first after
    a fork).

Both are written to a temp file and renamed, history first: the history file
for the latest checkpoint's tick therefore always exists, and history files
past it (written just before a crash) are dropped on resume.

A checkpoint at tick T holds the state *before* tick T runs, and names the
frames already written (T frames, ``frames.bytes`` bytes of frames.jsonl).
"""

from __future__ import annotations

import base64
import gzip
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from luotuo_rpg.llm import LLMStats
from luotuo_rpg.sim.recorder import write_bytes_atomic

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
LATEST_NAME = "checkpoint.json"
HISTORY_DIR = "checkpoints"
_HISTORY_RE = re.compile(r"^tick-(\d+)\.json\.gz$")


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable or inconsistent; the message says which and where."""


class FramesMark(BaseModel):
    """Where frames.jsonl ends for this checkpoint: resume truncates it to exactly here."""

    count: int = Field(ge=0, description="Frames written: ticks 0 … count − 1.")
    bytes: int = Field(ge=0, description="Size of frames.jsonl holding exactly those frames.")


class Checkpoint(BaseModel):
    format_version: int = CHECKPOINT_VERSION
    run_id: str
    tick: int = Field(ge=0, description="The next tick to run.")
    time: str
    frames: FramesMark
    wall_seconds: float = Field(default=0.0, description="Wall time spent on the run up to here, all sessions.")
    llm: LLMStats
    sim: dict[str, Any] = Field(description="Simulation.get_state(): world, agents with memory streams, last frame.")
    previous: str | None = Field(default=None, description="History files: the file whose memories this one extends.")


def _to_json(checkpoint: Checkpoint) -> bytes:
    """Compact UTF-8 JSON straight from pydantic-core: no intermediate ``str``, which for text with
    emoji takes four bytes a character and made a checkpoint's working set several times its size."""
    return Checkpoint.__pydantic_serializer__.to_json(checkpoint)


def history_name(tick: int) -> str:
    return f"tick-{tick:06d}.json.gz"


def history_dir(run_dir: Path) -> Path:
    return Path(run_dir) / HISTORY_DIR


def history_ticks(run_dir: Path) -> list[int]:
    """Ticks of the history checkpoints present, ascending."""
    folder = history_dir(run_dir)
    if not folder.is_dir():
        return []
    ticks = []
    for path in folder.iterdir():
        match = _HISTORY_RE.match(path.name)
        if match:
            ticks.append(int(match.group(1)))
    return sorted(ticks)


# --- memory deltas --------------------------------------------------------------
# These work on the dicts of MemoryStream.get_state(): {"nodes", "vectors" (base64
# float32 rows), "last_access"}; a delta adds "from", the first node it holds.


def _memory_counts(sim_state: dict[str, Any]) -> list[int]:
    return [len(agent["memory"]["nodes"]) for agent in sim_state["agents"]]


def _memory_delta(memory: dict[str, Any], start: int) -> dict[str, Any]:
    nodes = memory["nodes"]
    if start == 0:
        return {**memory, "from": 0}
    raw = base64.b64decode(memory["vectors"])
    row = len(raw) // len(nodes) if nodes else 0
    return {
        "from": start,
        "nodes": nodes[start:],
        "vectors": base64.b64encode(raw[start * row :]).decode("ascii"),
        "last_access": memory["last_access"],
    }


def _with_deltas(sim_state: dict[str, Any], starts: list[int]) -> dict[str, Any]:
    agents = [
        {**agent, "memory": _memory_delta(agent["memory"], start)} for agent, start in zip(sim_state["agents"], starts)
    ]
    return {**sim_state, "agents": agents}


def _is_complete(sim_state: dict[str, Any]) -> bool:
    return all(agent["memory"].get("from", 0) == 0 for agent in sim_state["agents"])


class _MemoryJoin:
    """Reassembles full memory streams from a chain of deltas, oldest first."""

    def __init__(self, agents: int, vectors: bool = True):
        self.nodes: list[list[dict[str, Any]]] = [[] for _ in range(agents)]
        self.vectors: list[bytearray] = [bytearray() for _ in range(agents)]
        self.with_vectors = vectors

    def add(self, sim_state: dict[str, Any], where: str) -> None:
        for index, agent in enumerate(sim_state["agents"]):
            memory = agent["memory"]
            start = memory.get("from", 0)
            if start == 0:
                self.nodes[index], self.vectors[index] = [], bytearray()
            if start != len(self.nodes[index]):
                raise CheckpointError(
                    f"{where}: agent {index}'s memories continue from node {start}, "
                    f"but the files before it hold {len(self.nodes[index])}"
                )
            self.nodes[index].extend(memory["nodes"])
            if self.with_vectors:
                self.vectors[index].extend(base64.b64decode(memory["vectors"]))

    def full(self, sim_state: dict[str, Any]) -> dict[str, Any]:
        agents = []
        for index, agent in enumerate(sim_state["agents"]):
            memory = {
                "nodes": list(self.nodes[index]),
                "vectors": base64.b64encode(bytes(self.vectors[index])).decode("ascii"),
                "last_access": agent["memory"]["last_access"],
            }
            agents.append({**agent, "memory": memory})
        return {**sim_state, "agents": agents}


# --- reading -----------------------------------------------------------------------


def _read_checkpoint(path: Path) -> Checkpoint:
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        checkpoint = Checkpoint.model_validate_json(data)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except (OSError, EOFError, ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: unreadable checkpoint ({first})") from exc
    if checkpoint.format_version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {checkpoint.format_version} is newer than this program's {CHECKPOINT_VERSION}"
        )
    return checkpoint


def load_latest(run_dir: Path) -> Checkpoint | None:
    """The run's latest checkpoint, or None when it has none yet."""
    path = Path(run_dir) / LATEST_NAME
    if not path.exists():
        return None
    return _read_checkpoint(path)


def load_history(run_dir: Path, tick: int) -> Checkpoint:
    """The history checkpoint at exactly ``tick``, with its memory streams reassembled."""
    folder = history_dir(run_dir)
    chain: list[tuple[str, Checkpoint]] = []
    name: str | None = history_name(tick)
    while name is not None:
        checkpoint = _read_checkpoint(folder / name)
        chain.append((name, checkpoint))
        if _is_complete(checkpoint.sim):
            break
        if checkpoint.previous is None:
            raise CheckpointError(f"{folder / name}: holds memory deltas but names no previous file")
        name = checkpoint.previous
    chain.reverse()
    join = _MemoryJoin(len(chain[-1][1].sim["agents"]))
    for name, checkpoint in chain:
        join.add(checkpoint.sim, str(folder / name))
    target = chain[-1][1]
    return target.model_copy(update={"sim": join.full(target.sim), "previous": None})


def iter_history(run_dir: Path, vectors: bool = True) -> Iterator[Checkpoint]:
    """Every history checkpoint in tick order, reassembled, reading each file once.

    ``vectors=False`` skips the embeddings (left empty): readers that only count
    and search memories (the report) then stay fast on long runs.
    """
    folder = history_dir(run_dir)
    join: _MemoryJoin | None = None
    last: str | None = None
    for tick in history_ticks(run_dir):
        name = history_name(tick)
        try:
            checkpoint = _read_checkpoint(folder / name)
        except CheckpointError as exc:
            log.warning("skipping history checkpoint: %s", exc)
            join, last = None, None
            continue
        if _is_complete(checkpoint.sim) or (join is not None and checkpoint.previous == last):
            if join is None:
                join = _MemoryJoin(len(checkpoint.sim["agents"]), vectors)
            join.add(checkpoint.sim, str(folder / name))
            full = checkpoint.model_copy(update={"sim": join.full(checkpoint.sim), "previous": None})
        else:
            full = load_history(run_dir, tick)  # the chain broke here: rebuild it from its start
            join = _MemoryJoin(len(full.sim["agents"]), vectors)
            join.add(full.sim, str(folder / name))
        last = name
        yield full


def at_or_before(run_dir: Path, tick: int) -> int:
    """The latest history checkpoint tick ≤ ``tick``."""
    ticks = [t for t in history_ticks(run_dir) if t <= tick]
    if not ticks:
        available = history_ticks(run_dir)
        shown = ", ".join(map(str, available[:8])) + (" …" if len(available) > 8 else "")
        raise CheckpointError(
            f"{history_dir(run_dir)}: no checkpoint at or before tick {tick}"
            + (f" (checkpoints at ticks {shown})" if available else " (the run has no checkpoint history)")
        )
    return ticks[-1]


def drop_history_after(run_dir: Path, tick: int) -> list[int]:
    """Remove history written past ``tick`` (a crash between the history and the latest file)."""
    dropped = [t for t in history_ticks(run_dir) if t > tick]
    for stale in dropped:
        (history_dir(run_dir) / history_name(stale)).unlink()
    for tmp in [*Path(run_dir).glob("*.tmp"), *history_dir(run_dir).glob("*.tmp")]:
        tmp.unlink()
    return dropped


# --- writing -------------------------------------------------------------------------


class Checkpointer:
    """Decides when a checkpoint is due and writes it (history delta, then the latest)."""

    def __init__(self, run_dir: Path, every_ticks: int, keep_history: bool = True):
        self.run_dir = Path(run_dir)
        self.every_ticks = max(1, every_ticks)
        self.keep_history = keep_history
        self._previous: str | None = None
        self._counts: list[int] | None = None
        self.written = 0
        self.last_seconds = 0.0
        self.last_bytes = 0

    def due(self, tick: int) -> bool:
        return tick % self.every_ticks == 0

    def continue_from(self, checkpoint: Checkpoint) -> None:
        """After a resume: the next history file extends the one at ``checkpoint.tick``."""
        name = history_name(checkpoint.tick)
        if (history_dir(self.run_dir) / name).exists():
            self._previous, self._counts = name, _memory_counts(checkpoint.sim)
        else:
            self._previous, self._counts = None, None

    def save(self, checkpoint: Checkpoint) -> None:
        started = time.perf_counter()
        latest = _to_json(checkpoint)
        size = len(latest)
        if self.keep_history:
            size += self._save_history(checkpoint)
        write_bytes_atomic(self.run_dir / LATEST_NAME, latest)
        self.written += 1
        self.last_seconds = time.perf_counter() - started
        self.last_bytes = size
        log.debug("checkpoint at tick %d: %d bytes in %.3f s", checkpoint.tick, size, self.last_seconds)

    def _save_history(self, checkpoint: Checkpoint) -> int:
        folder = history_dir(self.run_dir)
        folder.mkdir(exist_ok=True)
        counts = _memory_counts(checkpoint.sim)
        name = history_name(checkpoint.tick)
        previous = self._previous
        starts = self._counts
        if (
            previous is None
            or starts is None
            or previous == name
            or len(starts) != len(counts)
            or any(s > c for s, c in zip(starts, counts))
            or not (folder / previous).exists()
        ):
            previous, starts = None, [0] * len(counts)
        delta = checkpoint.model_copy(update={"sim": _with_deltas(checkpoint.sim, starts), "previous": previous})
        # Level 5: most of level 9's gain at a third of its time on checkpoint JSON.
        write_bytes_atomic(folder / name, gzip.compress(_to_json(delta), compresslevel=5, mtime=0))
        self._previous, self._counts = name, counts
        return (folder / name).stat().st_size
