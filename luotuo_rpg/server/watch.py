"""``serve --watch``: reload the world when its file changes, keep the old one when the edit is broken.

Polling the modification time (and size) works the same on every system and
every editor, including those that save by writing a new file and renaming
it over the old one; a half-written file that fails to parse is simply
reported, and the next save is picked up by the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from luotuo_rpg.server.live import LiveSession
from luotuo_rpg.server.ticker import cancel_and_wait
from luotuo_rpg.world.loader import WorldError, load_world_spec

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 0.5


class WorldWatcher:
    def __init__(self, path: Path, session: LiveSession, interval: float = DEFAULT_INTERVAL):
        self.path = path
        self.session = session
        self.interval = interval
        self._seen = self._signature()
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0
        self.rejections = 0

    def _signature(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def start(self) -> None:
        self.session.watching = True
        self._task = asyncio.create_task(self._run(), name="world-watcher")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            signature = self._signature()
            if signature is None or signature == self._seen:
                continue  # a missing file is usually an editor mid-save: wait for it to come back
            self._seen = signature
            await self.check()

    async def check(self) -> None:
        try:
            # Parsing a big world takes a moment; keep the ticks flowing meanwhile.
            spec = await asyncio.to_thread(load_world_spec, self.path)
        except WorldError as error:
            self.rejections += 1
            issues = [str(issue) for issue in error.issues]
            log.warning("world file not reloaded, %d problem(s): %s", len(issues), "; ".join(issues))
            self.session.reject_world(
                f"世界文件有 {len(issues)} 处问题，继续运行原来的世界 (world file not reloaded: {len(issues)} "
                "problem(s))",
                issues,
            )
            return
        try:
            await self.session.replace_world(spec)
        except Exception as exc:  # e.g. the model backend refused to start: the old world keeps running
            log.exception("reloading the world failed")
            self.session.reject_world(f"新世界无法启动，继续运行原来的世界 (reload failed: {exc!r})", [repr(exc)])
            return
        self.reloads += 1
