"""The live session: drives a :class:`Simulation` tick by tick for its viewers.

The engine runs on the server's event loop. Each tick's frame goes to the
mirror and the broadcaster, which never waits for a viewer, so viewers cannot
slow the town. Interviews and world reloads hold the ticker's lock: they
happen between two ticks, never inside one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from luotuo_rpg.config import SimConfig
from luotuo_rpg.llm import BudgetExceeded, Mind, RunHalted
from luotuo_rpg.server.broadcast import DEFAULT_QUEUE_LIMIT
from luotuo_rpg.server.mirror import FrameMirror
from luotuo_rpg.server.protocol import Control, ControlResult, ErrorMessage, ReplayInfo
from luotuo_rpg.server.recording import LiveRecording
from luotuo_rpg.server.session import Session
from luotuo_rpg.server.views import AgentDetail, WorldInfo, live_agent_detail
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.sim.files import Frame
from luotuo_rpg.world.spec import WorldSpec

log = logging.getLogger(__name__)

MindFactory = Callable[[WorldSpec], Mind]
RecordingFactory = Callable[[WorldSpec, Mind], LiveRecording]


class LiveSession(Session):
    mode = "live"

    def __init__(
        self,
        spec: WorldSpec,
        mind_factory: MindFactory,
        *,
        world_file: str | None = None,
        config: SimConfig | None = None,
        speed: float = 5.0,
        paused: bool = False,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
        recording: RecordingFactory | None = None,
    ):
        super().__init__(spec, speed=speed, paused=paused, queue_limit=queue_limit)
        self.world_file = world_file
        self.watching = False
        self.config = config or SimConfig()
        self._mind_factory = mind_factory
        self._recording_factory = recording
        self.mind, self.sim, self.recording = self._build(spec)

    def _build(self, spec: WorldSpec) -> tuple[Mind, Simulation, LiveRecording | None]:
        mind = self._mind_factory(spec)
        if self._recording_factory is None:
            return mind, Simulation(spec, mind, self.config), None
        recording = self._recording_factory(spec, mind)
        return mind, recording.sim, recording

    async def _first_tick(self, sim: Simulation, recording: LiveRecording | None) -> Frame:
        frame = await sim.step()
        if recording is not None:
            recording.record(frame)
        return frame

    async def start(self) -> None:
        # Tick 0 runs before anyone connects, so every hello carries a real frame.
        async with self.ticker.lock:
            self.mirror.apply(await self._first_tick(self.sim, self.recording))
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self.recording is not None:
            self.recording.finish()
        await self.sim.aclose()
        await self.mind.aclose()

    async def _advance(self) -> bool:
        try:
            frame = await self.sim.step()
        except BudgetExceeded as exc:
            self._report(f"已达到 token 上限，模拟暂停 (token budget reached: {exc})")
            return False
        except RunHalted as exc:
            self._report(f"模型服务连不上，模拟暂停 ({exc})")
            return False
        except Exception as exc:  # a bug in one tick must not take the server down with it
            log.exception("tick %d failed", self.sim.tick)
            self._report(f"模拟出错，已暂停 (tick {self.sim.tick} failed: {exc!r})")
            return False
        if self.recording is not None:
            self.recording.record(frame)
        self.emit(frame)
        return True

    def _report(self, message: str, issues: list[str] | None = None) -> None:
        self.broadcaster.send_all(ErrorMessage(message=message, issues=issues or []))

    async def replace_world(self, spec: WorldSpec) -> None:
        """Start over with ``spec`` (a reloaded world file); every viewer gets a fresh hello."""
        async with self.ticker.lock:
            old_mind, old_recording, old_sim = self.mind, self.recording, self.sim
            if old_recording is not None:
                old_recording.finish()  # the old world's run ends here; the new world records into a new folder
            mind, sim, recording = self._build(spec)
            first = await self._first_tick(sim, recording)
            mirror = FrameMirror()
            mirror.apply(first)
            self.spec, self.mind, self.sim, self.mirror, self.recording = spec, mind, sim, mirror, recording
            self.errors = []
            self.generation += 1
            self.broadcaster.resync_all()
        await old_sim.aclose()
        await old_mind.aclose()
        log.info("world reloaded: %s, %d agents", spec.world.name, len(spec.personas))

    def reject_world(self, message: str, issues: list[str]) -> None:
        """A reload that failed: keep the current world and tell every viewer why."""
        self.errors = issues
        self._report(message, issues)

    def replay_info(self) -> ReplayInfo | None:
        return None

    def world_info(self) -> WorldInfo:
        return (
            super()
            .world_info()
            .model_copy(
                update={"world_file": self.world_file, "watching": self.watching, "recording": self.recording_name()}
            )
        )

    def recording_name(self) -> str | None:
        return self.recording.out.name if self.recording is not None else None

    def agent_detail(self, agent_id: int) -> AgentDetail:
        if not 0 <= agent_id < len(self.sim.agents):
            raise IndexError(agent_id)
        return live_agent_detail(self.sim, agent_id, self.mirror)

    async def _special_control(self, control: Control) -> ControlResult:
        action = control.action
        if action == "interview":
            return await self._interview(control)
        if action == "inject":
            what = (control.what or "").strip()
            if not what or not control.where:
                return ControlResult(
                    action=action, ok=False, id=control.id, error="inject needs what and where (area/room)"
                )
            async with self.ticker.lock:
                self.sim.inject_event(what, control.where, control.minutes)
            return ControlResult(action=action, ok=True, id=control.id)
        return ControlResult(
            action=action, ok=False, id=control.id, error="只有回放可以跳转 (seek works only in replays)"
        )

    async def _interview(self, control: Control) -> ControlResult:
        question = (control.question or "").strip()
        if control.agent is None or not 0 <= control.agent < len(self.sim.agents) or not question:
            return ControlResult(
                action="interview",
                ok=False,
                id=control.id,
                error=f"interview needs agent (0…{len(self.sim.agents) - 1}) and a question",
            )
        try:
            async with self.ticker.lock:
                answer = await self.sim.interview(control.agent, question)
        except RunHalted as exc:
            return ControlResult(action="interview", ok=False, id=control.id, error=str(exc))
        return ControlResult(action="interview", ok=True, id=control.id, answer=answer)
