"""Pacing shared by live runs and replays: pause, resume, speed, single steps.

A :class:`Ticker` calls ``advance`` (one tick: run the engine, or read the
next replay frame) at ``speed`` ticks per second, or back to back with a turn
of the event loop in between when the speed is 0. Everything that must not
interleave with a tick (a single step, an interview, swapping the world,
seeking) holds :attr:`Ticker.lock`; asyncio's lock is first-come first-served,
so such a request waits for at most the tick in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Advance = Callable[[], Awaitable[bool]]
"""Run one tick; False when there is nothing more (a replay's end) or it failed."""


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Stop a background loop and wait until it has unwound (its finally blocks ran)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Ticker:
    def __init__(self, advance: Advance, speed: float, paused: bool, on_change: Callable[[], None]):
        if speed < 0:
            raise ValueError("speed must be ≥ 0 ticks per second")
        self._advance = advance
        self.speed = speed
        self.paused = paused
        self._on_change = on_change
        self.lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ticker")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def pause(self) -> None:
        self.paused = True
        self._poke()

    def resume(self) -> None:
        self.paused = False
        self._poke()

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be ≥ 0 ticks per second")
        self.speed = speed
        self._poke()

    async def step(self) -> bool:
        async with self.lock:
            return await self._advance()

    def _poke(self) -> None:
        self._changed.set()
        self._on_change()

    async def _wait_change(self, timeout: float | None) -> bool:
        """Sleep for ``timeout`` (forever if None) or until pause/resume/speed changes; True if it changed."""
        if not self._changed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        changed = self._changed.is_set()
        self._changed.clear()
        return changed

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if self.paused:
                await self._wait_change(None)
                next_at = loop.time()
                continue
            self._changed.clear()
            async with self.lock:
                ok = await self._advance()
            if not ok:
                self.paused = True
                self._on_change()
                continue
            if self.speed <= 0:
                # As fast as possible, but let the senders and the HTTP side run between ticks.
                await asyncio.sleep(0)
                continue
            interval = 1.0 / self.speed
            # A tick that overran its slot moves the schedule instead of causing a burst.
            next_at = max(next_at + interval, loop.time())
            delay = next_at - loop.time()
            if delay > 0 and await self._wait_change(delay):
                next_at = loop.time()
