"""Writes the files of a run: meta.json once, one frames.jsonl line per tick, summary.json at the end.

Frames go straight to the OS, one ``write`` per tick (unbuffered binary), so a
killed process loses at most the tick being written: at worst a torn last line,
which a resume cuts off (see :mod:`luotuo_rpg.sim.resume`). The recorder counts
the bytes it has written so a checkpoint can name the exact end of the frames
it covers.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import BaseModel

from luotuo_rpg.sim.files import Frame, RunMeta, RunSummary

log = logging.getLogger(__name__)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: the directory entry itself must reach the disk."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # not supported on this filesystem; atomicity does not depend on it
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file, fsync, and rename, so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_json_atomic(path: Path, model: BaseModel | str) -> None:
    """Write JSON to a temp file and rename, so a crash never leaves half a file.

    A model is written indented (meta, summary: read by people); pass a string for anything else.
    """
    text = model if isinstance(model, str) else model.model_dump_json(indent=2)
    write_bytes_atomic(Path(path), text.encode("utf-8"))


class Recorder:
    """Appends frames to ``frames.jsonl``; ``append`` continues an existing file (resume, fork)."""

    def __init__(self, out_dir: Path, meta: RunMeta | None = None, append: bool = False):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if meta is not None:
            write_json_atomic(self.out_dir / "meta.json", meta)
        # Unbuffered: each tick's frame is one write() and reaches the OS before the next tick.
        self._frames = open(self.frames_path, "ab" if append else "wb", buffering=0)
        self.bytes_written = self._frames.seek(0, os.SEEK_END)

    @property
    def frames_path(self) -> Path:
        return self.out_dir / "frames.jsonl"

    def write(self, frame: Frame) -> None:
        data = (frame.to_line() + "\n").encode("utf-8")
        self._frames.write(data)
        self.bytes_written += len(data)

    def flush(self) -> None:
        """Frames are unbuffered; kept so callers need not know that."""
        self._frames.flush()

    def sync(self) -> None:
        """Force the frames to disk: a checkpoint must never point past what survives a power cut."""
        os.fsync(self._frames.fileno())

    def write_meta(self, meta: RunMeta) -> None:
        write_json_atomic(self.out_dir / "meta.json", meta)

    def finish(self, summary: RunSummary) -> None:
        self.close()
        write_json_atomic(self.out_dir / "summary.json", summary)

    def close(self) -> None:
        if not self._frames.closed:
            self._frames.close()
