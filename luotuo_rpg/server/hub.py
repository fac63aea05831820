"""Which session a viewer or a REST call means: the server's own, or a replay named in ``?replay=``.

Replays opened by name are shared by everyone watching that name (controls
included) and stop when the last viewer leaves. A REST call about a replay
nobody watches gets a session that is loaded but never started. Indexes are
cached by file size and mtime, so reopening a long replay does not rescan it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from luotuo_rpg.server.broadcast import DEFAULT_QUEUE_LIMIT
from luotuo_rpg.server.replay_source import ReplayIndex, ReplaySession
from luotuo_rpg.server.replays_folder import resolve_replay
from luotuo_rpg.server.session import Session

log = logging.getLogger(__name__)


@dataclass
class _Open:
    session: ReplaySession
    viewers: int = 0


class SessionHub:
    def __init__(self, default: Session, replays_root: Path, *, speed: float, queue_limit: int = DEFAULT_QUEUE_LIMIT):
        self.default = default
        self.replays_root = replays_root
        self.speed = speed
        self.queue_limit = queue_limit
        self._open: dict[Path, _Open] = {}
        self._indexes: dict[Path, tuple[tuple[int, int], ReplayIndex]] = {}
        self._lock = asyncio.Lock()

    def _index(self, run_dir: Path) -> ReplayIndex:
        frames = run_dir / "frames.jsonl"
        stat = frames.stat()
        signature = (stat.st_size, stat.st_mtime_ns)
        cached = self._indexes.get(run_dir)
        if cached is None or cached[0] != signature:
            cached = (signature, ReplayIndex.build(frames))
            self._indexes[run_dir] = cached
        return cached[1]

    def _new_replay(self, run_dir: Path) -> ReplaySession:
        return ReplaySession(run_dir, index=self._index(run_dir), speed=self.speed, queue_limit=self.queue_limit)

    def peek(self, replay: str | None) -> Session:
        """The session for a REST call (raises ReplayNameError / ReplayError)."""
        if replay is None:
            return self.default
        run_dir = resolve_replay(self.replays_root, replay)
        opened = self._open.get(run_dir)
        return opened.session if opened else self._new_replay(run_dir)

    async def acquire(self, replay: str | None) -> Session:
        """The session a new viewer watches; pair with :meth:`release`."""
        if replay is None:
            return self.default
        run_dir = resolve_replay(self.replays_root, replay)
        async with self._lock:
            opened = self._open.get(run_dir)
            if opened is None:
                opened = _Open(self._new_replay(run_dir))
                self._open[run_dir] = opened
                await opened.session.start()
            opened.viewers += 1
            return opened.session

    async def release(self, session: Session) -> None:
        if session is self.default:
            return
        async with self._lock:
            for run_dir, opened in list(self._open.items()):
                if opened.session is session:
                    opened.viewers -= 1
                    if opened.viewers <= 0:
                        del self._open[run_dir]
                        await session.stop()
                    return

    async def close(self) -> None:
        async with self._lock:
            for opened in self._open.values():
                await opened.session.stop()
            self._open.clear()
        await self.default.stop()
