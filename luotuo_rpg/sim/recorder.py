"""Writes the files of a run: meta.json once, one frames.jsonl line per tick, summary.json at the end."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from luotuo_rpg.sim.files import Frame, RunMeta, RunSummary


def write_json_atomic(path: Path, model: BaseModel | str) -> None:
    """Write to a temp file and rename, so a crash never leaves half a file."""
    text = model if isinstance(model, str) else model.model_dump_json(indent=2)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Recorder:
    def __init__(self, out_dir: Path, meta: RunMeta | None = None, append: bool = False):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if meta is not None:
            write_json_atomic(self.out_dir / "meta.json", meta)
        # Line-buffered append: every tick's frame reaches the OS before the next tick.
        self._frames = open(self.out_dir / "frames.jsonl", "a" if append else "w", encoding="utf-8", buffering=1)

    @property
    def frames_path(self) -> Path:
        return self.out_dir / "frames.jsonl"

    def write(self, frame: Frame) -> None:
        self._frames.write(frame.to_line() + "\n")

    def flush(self) -> None:
        self._frames.flush()

    def finish(self, summary: RunSummary) -> None:
        self.close()
        write_json_atomic(self.out_dir / "summary.json", summary)

    def close(self) -> None:
        if not self._frames.closed:
            self._frames.close()
