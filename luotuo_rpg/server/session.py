"""A session: one world shown to its viewers — a live run or a replay.

Both kinds share the pieces here: the :class:`FrameMirror` of the current
state, the :class:`Broadcaster` to the viewers, the :class:`Ticker` that paces
them, the cached ``hello`` and the controls that mean the same in both
(pause, resume, speed, step). Each kind adds how to advance one tick and the
controls only it understands (``live.py``, ``replay_source.py``).
"""

from __future__ import annotations

import abc
import logging

from luotuo_rpg.server.broadcast import DEFAULT_QUEUE_LIMIT, Broadcaster
from luotuo_rpg.server.mirror import FrameMirror
from luotuo_rpg.server.protocol import (
    Control,
    ControlResult,
    Hello,
    ReplayInfo,
    Status,
    hello_from_spec,
)
from luotuo_rpg.server.ticker import Ticker
from luotuo_rpg.server.views import (
    AgentBrief,
    AgentDetail,
    WorldInfo,
    agent_briefs,
    places_of,
)
from luotuo_rpg.sim.files import Frame
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)


class Session(abc.ABC):
    mode: str

    def __init__(self, spec: WorldSpec, *, speed: float, paused: bool, queue_limit: int = DEFAULT_QUEUE_LIMIT):
        self.spec = spec
        self.mirror = FrameMirror()
        self.broadcaster = Broadcaster(self.hello_text, queue_limit)
        self.ticker = Ticker(self._advance, speed, paused, self._status_changed)
        self.errors: list[str] = []
        self.ended = False
        self._hello_cache: tuple[tuple[object, ...], str] | None = None
        # Bumped whenever the world or the position in it jumps (reload, seek).
        self.generation = 0

    # --- what subclasses provide -------------------------------------------
    @abc.abstractmethod
    async def _advance(self) -> bool:
        """Produce the next frame, apply it to the mirror, publish it; False at the end."""

    @abc.abstractmethod
    def replay_info(self) -> ReplayInfo | None: ...

    @abc.abstractmethod
    def agent_detail(self, agent_id: int) -> AgentDetail: ...

    @abc.abstractmethod
    async def _special_control(self, control: Control) -> ControlResult:
        """interview, inject, seek: what only one kind of session can do."""

    async def start(self) -> None:
        self.ticker.start()

    async def stop(self) -> None:
        await self.ticker.stop()

    # --- shared ---------------------------------------------------------------
    def emit(self, frame: Frame) -> None:
        """Mirror first, then publish: a hello built at any later moment includes this frame."""
        self.mirror.apply(frame)
        self.broadcaster.publish(frame)

    def hello(self) -> Hello:
        return hello_from_spec(
            self.spec,
            self.mirror.keyframe(),
            paused=self.ticker.paused,
            speed=self.ticker.speed,
            replay=self.replay_info(),
            errors=list(self.errors),
            recording=self.recording_name(),
        )

    def recording_name(self) -> str | None:
        """The run folder this session is written to, if any (only live sessions record)."""
        return None

    def hello_text(self) -> str:
        # Viewers that resync together (a reload, a seek) share one serialisation.
        key = (self.generation, self.mirror.tick, self.ticker.paused, self.ticker.speed, tuple(self.errors))
        if self._hello_cache is None or self._hello_cache[0] != key:
            self._hello_cache = (key, self.hello().model_dump_json())
        return self._hello_cache[1]

    def status(self) -> Status:
        return Status(tick=self.mirror.tick, paused=self.ticker.paused, speed=self.ticker.speed, ended=self.ended)

    def _status_changed(self) -> None:
        self.broadcaster.send_all(self.status())

    def world_info(self) -> WorldInfo:
        replay = self.replay_info()
        return WorldInfo(
            mode="replay" if replay else "live",
            world=self.spec.world.name,
            tick=self.mirror.tick,
            time=self.mirror.time,
            paused=self.ticker.paused,
            speed=self.ticker.speed,
            agents=len(self.spec.personas),
            viewers=self.broadcaster.viewers,
            places=places_of(self.spec),
            replay=replay.run_id if replay else None,
            first_tick=replay.first_tick if replay else 0,
            last_tick=replay.last_tick if replay else None,
            errors=list(self.errors),
        )

    def agents(self) -> list[AgentBrief]:
        return agent_briefs(self.spec, self.mirror)

    async def control(self, control: Control) -> ControlResult:
        """Apply a control whose token has been checked."""
        action = control.action
        try:
            if action == "pause":
                self.ticker.pause()
            elif action == "resume":
                self.ticker.resume()
            elif action == "speed":
                if control.value is None:
                    return ControlResult(
                        action=action,
                        ok=False,
                        id=control.id,
                        error="speed needs value (ticks per second, 0 = fastest)",
                    )
                self.ticker.set_speed(control.value)
            elif action == "step":
                if not self.ticker.paused:
                    return ControlResult(
                        action=action, ok=False, id=control.id, error="先暂停再单步 (step works while paused)"
                    )
                if not await self.ticker.step():
                    return ControlResult(action=action, ok=False, id=control.id, error="没有下一帧了 (no next tick)")
            else:
                return await self._special_control(control)
        except ValueError as error:
            return ControlResult(action=action, ok=False, id=control.id, error=str(error))
        return ControlResult(action=action, ok=True, id=control.id)
