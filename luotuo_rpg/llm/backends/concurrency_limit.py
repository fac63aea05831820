"""How many requests each endpoint gets at once, learnt from latency; the rest wait in our queue.

A server on a laptop (llama.cpp, Ollama) works on one or a few requests at a time and
queues the rest. Sending it everything a think phase asks makes the last request wait for
all the others, its timeout fires while the server is still busy with it, and the retry
joins the same queue: a storm. So each endpoint has a limit, in the style of TCP Vegas and
Netflix's concurrency-limits: the round trip of a request alone on the endpoint is the
server's work (the *baseline*); a round trip much longer than that means the request waited
in the server's queue, and the limit comes down to what the server served at once. Requests
beyond the limit wait in *our* queue, where waiting costs nothing and no timeout runs, so a
request's timeout measures the server's work, not its queue.

- start low (1, or the capacity the server states), grow by one per clean answer until the
  first sign of queueing (slow start: the limit doubles every round trip while latency stays
  flat), then by one per ``max(limit, PROBE_EVERY)`` clean answers (probing whether the server
  got more room);
- a cut can come from a passing burst rather than a full server (two cores answering 28 day
  plans at once, or our own loop busy): when ``PROBE_EVERY`` answers in a row sent *above* the
  level the last cut set come back clean, the server has room after all, and slow start
  begins again. A server that really queues makes those probes late, so it never gets there;
- queued answers (two in a row) bring the limit to what the server served at once; a timeout
  or a 429 halves it; at most one cut per round of requests sent at the old limit;
- a request sent beyond the level proven clean (a probe) gets its expected wait in the
  server's queue added to its timeout, so probing never abandons work.

Pure bookkeeping in :class:`AdaptiveLimit` (no clock, no asyncio: tests feed it samples);
:class:`RequestQueue` holds the waiters of all endpoints in arrival order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from dataclasses import dataclass, field

TOLERANCE = 1.5
"""A round trip up to this many baselines counts as served at once. A request queued behind
one other takes twice the baseline; batching servers (vLLM, SGLang) slow each request by
less when they take more at once (Netflix's gradient2 uses the same 1.5)."""

BASELINE_WINDOW = 20
"""Answers over which the baseline is the minimum round trip: a server that got slower is
re-learnt after this many, even while the limit stays above one."""

PROBE_EVERY = 8
"""Clean answers at the full limit before trying one more at once, after slow start: on a
one-slot server at 25 s a request, one probe every ~3 minutes, each costing one request a
wait of one request in the server's queue (covered by its timeout allowance)."""

QUEUED_TO_CUT = 2
"""Queued answers in a row before the limit comes down: one slow answer may be a long one (or our
own machine busy for a moment); a server that really queues keeps answering late."""

DROP_FACTOR = 0.5
"""A timeout or a 429 halves the limit (AIMD's multiplicative decrease, as TCP)."""


@dataclass
class Sent:
    """What the limit knew when a request went out; handed back with its outcome."""

    in_flight: int  # on this endpoint, this request included
    full: bool  # the limit was what held requests back (as TCP grows only when the window is)
    epoch: int  # the limit's cut counter at the time
    allowance_s: float  # added to the request's timeout: its expected wait in the server's queue


class AdaptiveLimit:
    """The concurrency limit of one endpoint."""

    def __init__(self, start: int = 1, cap: int = 32) -> None:
        self.cap = max(1, cap)
        self.limit = max(1, min(start, self.cap))
        self.peak = self.limit
        self.in_flight = 0
        self.slow_start = True
        self._proven = self.limit  # most requests at once known to be served without queueing
        self._cut_to = 0  # the limit the last cut set
        self._clean_above_cut = 0  # clean answers in a row sent above that level
        self._clean = 0
        self._queued = 0
        self._epoch = 0
        self._rtts: deque[float] = deque(maxlen=BASELINE_WINDOW)

    @property
    def baseline_s(self) -> float | None:
        return min(self._rtts) if self._rtts else None

    def room(self) -> int:
        return self.limit - self.in_flight

    def set_start(self, start: int) -> None:
        """The capacity the server states (before any request went out)."""
        self.limit = self._proven = max(1, min(start, self.cap))
        self.peak = max(self.peak, self.limit)

    def send(self, waiting: int = 0) -> Sent:
        """``waiting``: requests still in our queue behind this one."""
        self.in_flight += 1
        full = self.in_flight + waiting >= self.limit
        allowance = 0.0
        baseline = self.baseline_s
        if baseline is not None and self.in_flight > self._proven:
            # Beyond the proven level the server may hold it behind the others.
            allowance = baseline * math.ceil((self.in_flight - self._proven) / self._proven)
        return Sent(in_flight=self.in_flight, full=full, epoch=self._epoch, allowance_s=allowance)

    def answered(self, sent: Sent, rtt_s: float) -> None:
        self.in_flight -= 1
        if sent.in_flight == 1 or not self._rtts:
            # Alone on the endpoint: nothing of ours was ahead of it, so this is the server's work.
            self._rtts.clear()
        self._rtts.append(rtt_s)
        ratio = rtt_s / min(self._rtts) if min(self._rtts) > 0 else 1.0
        if ratio > TOLERANCE:
            self._clean = 0
            self._clean_above_cut = 0
            if sent.epoch != self._epoch:
                return  # sent before the last cut: the cut already accounted for it
            self._queued += 1
            if self._queued < QUEUED_TO_CUT:
                return
            if sent.in_flight > self._proven:
                self._cut(self._proven)  # a probe that queued: back to the level known good
            else:
                # The server got slower or lost room: it served about in_flight / ratio at once.
                self._cut(math.ceil(sent.in_flight / ratio))
                self._proven = min(self._proven, self.limit)
            return
        self._queued = 0
        if not self.slow_start and sent.in_flight > self._cut_to:
            self._clean_above_cut += 1
            if self._clean_above_cut >= PROBE_EVERY:
                self.slow_start = True  # more at once than the cut allowed, and no slower: it was a burst
        if not sent.full:
            return  # we were not using the whole limit: it says nothing about more
        self._proven = max(self._proven, sent.in_flight)
        self._clean += 1
        if self.slow_start or self._clean >= max(self.limit, PROBE_EVERY):
            self._clean = 0
            self.limit = min(self.cap, self.limit + 1)
            self.peak = max(self.peak, self.limit)

    def dropped(self, sent: Sent) -> None:
        """A timeout or a 429: the server is overloaded."""
        self.in_flight -= 1
        self._clean = 0
        if sent.epoch == self._epoch:
            self._cut(math.floor(self.limit * DROP_FACTOR))
            self._proven = min(self._proven, self.limit)

    def ignored(self) -> None:
        """An outcome that says nothing about load (a 5xx, a refused connection, a cancelled request)."""
        self.in_flight -= 1

    def _cut(self, new_limit: int) -> None:
        self.slow_start = False
        self._queued = 0
        self.limit = max(1, min(self.limit - 1, new_limit))
        self._cut_to = self.limit
        self._clean_above_cut = 0
        self._epoch += 1


@dataclass
class Permit:
    endpoint: int
    sent: Sent
    queued_s: float


@dataclass(order=True)
class _Waiter:
    order: int
    seq: int
    future: asyncio.Future[Permit] = field(compare=False)
    since: float = field(compare=False)


class RequestQueue:
    """Waiters for a place on any endpoint, served in arrival order (a retry keeps its place),
    with at most ``cap`` requests in flight over all endpoints together (``--concurrency``)."""

    def __init__(self, limits: list[AdaptiveLimit], cap: int) -> None:
        self.limits = limits
        self.cap = cap
        self._heap: list[_Waiter] = []
        self._seq = itertools.count()

    def in_flight(self) -> int:
        return sum(limit.in_flight for limit in self.limits)

    async def acquire(self, order: int) -> Permit:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(order, next(self._seq), loop.create_future(), loop.time())
        heapq.heappush(self._heap, waiter)
        self._dispatch()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                # Granted in the same turn we were cancelled: give the place back.
                self.limits[waiter.future.result().endpoint].ignored()
                self._dispatch()
            raise

    def done(self) -> None:
        """A request's outcome went to its limit (answered, dropped, ignored): hand its place on,
        and let waiters in if the limit grew."""
        self._dispatch()

    def _dispatch(self) -> None:
        now = asyncio.get_running_loop().time()
        while self._heap and self.in_flight() < self.cap:
            if self._heap[0].future.done():  # cancelled while waiting
                heapq.heappop(self._heap)
                continue
            endpoint = max(range(len(self.limits)), key=lambda i: (self.limits[i].room(), -i))
            if self.limits[endpoint].room() <= 0:
                return
            waiter = heapq.heappop(self._heap)
            sent = self.limits[endpoint].send(waiting=len(self._heap))
            waiter.future.set_result(Permit(endpoint, sent, now - waiter.since))
