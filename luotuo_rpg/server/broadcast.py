"""Fan-out of frames to viewers without ever waiting for one.

The tick loop calls :meth:`Broadcaster.publish` synchronously: it serialises a
frame once and appends the text to every subscriber's bounded queue. Each
websocket has its own sender task draining its queue, so a slow or stalled
viewer only ever delays itself.

When a queue is full its frames are dropped and the subscriber is marked for
resync: the next thing its sender takes is a fresh ``hello`` built from the
state at that moment, followed by the frames published after it. The queue is
cleared and the hello built in one synchronous step, so no frame is both in
the hello and after it, and none falls between them: hello + the frames after
it always reconstruct the state.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable

from pydantic import BaseModel

from luotuo_rpg.server.protocol import encode_frame
from luotuo_rpg.sim.files import Frame

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 32
# Results, errors and status changes are few and must not be lost to a resync;
# the cap only guards against a client that sends controls and never reads.
_URGENT_LIMIT = 64

HelloFactory = Callable[[], str]


class SubscriberStats(BaseModel):
    id: int
    queued: int
    sent: int
    dropped: int = 0
    resyncs: int = 0


class Subscriber:
    """One viewer's outbox: frames (bounded, dropped on overflow) and urgent messages (kept)."""

    def __init__(self, sid: int, limit: int, hello: HelloFactory):
        self.id = sid
        self.limit = limit
        self._hello = hello
        self._frames: deque[str] = deque()
        self._urgent: deque[str] = deque(maxlen=_URGENT_LIMIT)
        self._ready = asyncio.Event()
        # A new subscriber starts with a hello, built when its sender first runs.
        self._resync = True
        self.sent = 0
        self.dropped = 0
        self.resyncs = 0

    def offer(self, text: str) -> None:
        """Queue a frame; never blocks. On overflow drop the backlog and resync instead."""
        if self._resync:
            return  # the coming hello will include this frame's state
        if len(self._frames) >= self.limit:
            self.dropped += len(self._frames) + 1
            self._frames.clear()
            self._resync = True
            self.resyncs += 1
        else:
            self._frames.append(text)
        self._ready.set()

    def urgent(self, text: str) -> None:
        self._urgent.append(text)
        self._ready.set()

    def resync(self) -> None:
        """Send a fresh hello next (the world was replaced, or a replay seeked)."""
        self._frames.clear()
        self._resync = True
        self._ready.set()

    async def next_message(self) -> str:
        while True:
            if self._urgent:
                text = self._urgent.popleft()
            elif self._resync:
                # Clear and build in one synchronous step: frames published later follow the hello.
                self._frames.clear()
                self._resync = False
                text = self._hello()
            elif self._frames:
                text = self._frames.popleft()
            else:
                self._ready.clear()
                await self._ready.wait()
                continue
            self.sent += 1
            return text

    def stats(self) -> SubscriberStats:
        return SubscriberStats(
            id=self.id, queued=len(self._frames), sent=self.sent, dropped=self.dropped, resyncs=self.resyncs
        )


class Broadcaster:
    def __init__(self, hello: HelloFactory, limit: int = DEFAULT_QUEUE_LIMIT):
        self._hello = hello
        self.limit = limit
        self._subscribers: dict[int, Subscriber] = {}
        self._ids = itertools.count(1)
        self.published = 0

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber(next(self._ids), self.limit, self._hello)
        self._subscribers[subscriber.id] = subscriber
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.pop(subscriber.id, None)

    @property
    def viewers(self) -> int:
        return len(self._subscribers)

    def publish(self, frame: Frame) -> None:
        self.published += 1
        if not self._subscribers:
            return
        text = encode_frame(frame, sent=time.time())
        for subscriber in self._subscribers.values():
            subscriber.offer(text)

    def send_all(self, message: BaseModel) -> None:
        """A message every viewer must get (status, world-file error), never dropped."""
        text = message.model_dump_json()
        for subscriber in self._subscribers.values():
            subscriber.urgent(text)

    def resync_all(self) -> None:
        for subscriber in self._subscribers.values():
            subscriber.resync()

    def stats(self) -> list[SubscriberStats]:
        return [s.stats() for s in self._subscribers.values()]
