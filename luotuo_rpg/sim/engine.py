"""The tick: think on a frozen snapshot, act in agent-id order.

1. snapshot the world; every agent perceives it (sync, cheap) and says
   whether it has something to decide; those that are not already thinking
   start a thought on that snapshot (:mod:`luotuo_rpg.sim.thoughts`);
2. the engine waits only for thoughts whose decision may be due in this tick
   (thinking takes game time: a decision is applied a fixed delay per request
   kind after its thought began), then commits the due ones in agent-id order;
3. bodies move one tile, and a frame describing what changed is produced.

Neither completion order nor latency ever matters, so a run is a function of
(world, seed, model answers).
"""

from __future__ import annotations

import logging

from luotuo_rpg.agent import plan_ahead
from luotuo_rpg.agent.agent import Agent
from luotuo_rpg.agent.intents import Decision
from luotuo_rpg.config import SimConfig
from luotuo_rpg.llm import Mind
from luotuo_rpg.llm.kinds import ScheduleBlock
from luotuo_rpg.phrases import phrase
from luotuo_rpg.sim.files import AgentFrame, Frame, FrameEvent
from luotuo_rpg.sim.thoughts import Pipeline
from luotuo_rpg.world.activity import is_sleep
from luotuo_rpg.world.grid import Tile
from luotuo_rpg.world.places import room_of
from luotuo_rpg.world.spec import WorldSpec
from luotuo_rpg.world.state import ActiveEvent, Approach, Body, Conversation, WorldState, WorldView

log = logging.getLogger(__name__)
_BLOCKED_REPATH = 3
_WAIT_RETRY = 6  # ticks between looks at a full room for a tile that has come free (a game minute)
_KEEP_ENDED_CONVERSATIONS = 6
_KEEP_UNHANDLED_CONVERSATIONS = 360  # a game hour: longer than any thought's delay
_LINES_KEPT = 200
_TALK_REACH = 3  # tiles apart at most for a talk to begin: across a table, or a few steps off in the street
_CALL_REACH = 8  # tiles (vision_radius) within which the one coming over calls out and the other stops for them


class Simulation:
    def __init__(self, spec: WorldSpec, mind: Mind, config: SimConfig | None = None, dim: int | None = None):
        self.spec = spec
        self.mind = mind
        self.config = config or SimConfig()
        self.world = WorldState(spec)
        embed_dim = dim or getattr(getattr(mind, "embedder", None), "dim", None) or 256
        self.agents = [
            Agent(i, persona, spec, self.config, self.world.clock, embed_dim) for i, persona in enumerate(spec.personas)
        ]
        self._last: dict[int, AgentFrame] = {}
        self._last_objects: dict[str, str] = {}
        self.thinks = 0
        self.lines_said: list[str] = []
        self._plan_quiet: dict[int, tuple[list[ScheduleBlock], int]] = {}
        self.thoughts = Pipeline(
            mind, self.config.think_delays, spec.world.tick_seconds, pipelined=self.config.pipeline_thoughts
        )
        self._told: list[FrameEvent] = []  # what happened between two ticks (a live interview): next frame's events

    @property
    def tick(self) -> int:
        return self.world.tick

    async def step(self) -> Frame:
        """Run one tick and return its frame; the world's tick then advances."""
        world = self.world
        thoughts = self.thoughts
        thoughts.restart(self.agents, world)
        view = world.snapshot()
        pipelined = self.config.pipeline_thoughts
        stock_taken = self._stock_taking(view) if pipelined else None
        for agent in self.agents:
            # A thinking agent still perceives (into its live state) but starts no second thought.
            wants = agent.perceive(view)
            if not thoughts.busy(agent.id, "remember") and agent.remembers_in_background(view, stock_taken is not None):
                # The observations waiting go to a thought of their own; were they all there was to think about?
                thoughts.start_remembering(agent, view, stock_taken or 0)
                wants = agent.wants_to_think(view)
            if wants and not thoughts.busy(agent.id):
                # Whom it may react to: were it to talk with them, their side is read as it is now.
                react_to = agent.state.react_to
                thought = thoughts.start(agent, view, self.agents[react_to[0]] if react_to else None)
                self.thinks += 1
                if not self.config.think_concurrently:
                    await thoughts.finish(thought)
            if pipelined and not thoughts.busy(agent.id, "reflect") and agent.wants_to_reflect(view):
                thought = thoughts.start_reflection(agent, view)
                if not self.config.think_concurrently:
                    await thoughts.finish(thought)
            # Reflection and plan-ahead beside the agent's decisions are for when thinking takes game time;
            # the old barrier (for comparison) reflects inside a think and plans when a block begins.
            if pipelined and not thoughts.busy(agent.id, "plan") and self._plan_ahead_due(agent, view):
                needed_by = plan_ahead.needed_by(agent, view)
                if needed_by is not None:
                    thoughts.start_plan_ahead(agent, view, needed_by)
        await thoughts.settle(world.tick)
        decisions = thoughts.commit_due(world.tick, self.agents)
        events, self._told = self._told, []
        for event in world.event_schedule():
            if event.start_tick == world.tick:
                events.append(FrameEvent(type="event_start", text=event.what, place=event.where))
            elif event.end_tick == world.tick:
                events.append(FrameEvent(type="event_end", text=event.what, place=event.where))
        for decision in decisions:
            self._apply(decision, events)
        self._go_over(events)
        self._talk(events)
        self._move(events)
        frame = self._frame(events)
        self._prune_conversations()
        world.tick += 1
        return frame

    def _stock_taking(self, view: WorldView) -> int | None:
        """In the first tick of the hour's last quarter (as blocks that begin on the hour are planned
        ahead), the tick on the hour by which what everyone saw is scored; else None."""
        config, clock = self.config, self.world.clock
        minute = view.minute_of_day
        if not config.score_before_the_hour or view.tick == 0 or clock.minute_of_day(view.tick - 1) == minute:
            return None
        if minute % 60 != (60 - config.plan_ahead_minutes) % 60:
            return None
        return view.tick + clock.ticks_for_minutes(60 - minute % 60) - 1

    def _plan_ahead_due(self, agent: Agent, view: WorldView) -> bool:
        # Asked every tick for every agent: skip the ticks where the block's end is still far, for as
        # long as the schedule is the one that told us so (a pure shortcut, not state). Schedules are
        # replaced, never changed in place (a new day plan, an event put in, a committed thought), so
        # holding the list itself tells whether it is still the same.
        schedule, quiet = self._plan_quiet.get(agent.id, (None, -1))
        if schedule is agent.state.schedule and view.tick < quiet:
            return False
        quiet = plan_ahead.quiet_until(agent, view)
        self._plan_quiet[agent.id] = (agent.state.schedule, quiet)
        return view.tick >= quiet

    # --- act -----------------------------------------------------------------
    def _apply(self, decision: Decision, events: list[FrameEvent]) -> None:
        world = self.world
        body = world.bodies[decision.agent]
        if decision.plan_outline is not None:
            events.append(FrameEvent(type="plan", agent=body.id, outline=list(decision.plan_outline)))
        if decision.plan_change is not None:
            events.append(FrameEvent(type="plan", agent=body.id, text=decision.plan_change))
        if decision.reflected:
            events.append(FrameEvent(type="reflect", agent=body.id, text=decision.reflected[0]))
        if decision.action is not None and body.conversation is None:
            action = decision.action
            body.action, body.emoji, body.place = action.activity, action.emoji, action.place
            body.asleep = is_sleep(action.activity)
            self._put_back(body, action.place, events)
            use = action.object_state and action.place in world.objects
            body.to_use = (action.place, action.object_state) if use else None  # type: ignore[assignment]
            if action.place != body.target or not body.path:
                # An empty path is re-made too: a conversation on the way stopped the walk,
                # and the next action at the same place must not leave the agent standing there.
                body.target = action.place
                self._route(body)
            self._arrive(body, events)
        if decision.talk_to is not None and decision.dialogue and body.conversation is None:
            # The talk begins once the two stand close; until then the one who starts it walks over.
            reach = world.clock.ticks_for_minutes(self.config.talk_approach_minutes)
            body.approach = Approach(
                partner=decision.talk_to,
                dialogue=decision.dialogue,
                summary=decision.talk_summary,
                until=world.tick + reach,
            )

    def _put_back(self, body: Body, place: str, events: list[FrameEvent]) -> None:
        """Moving on to something elsewhere puts the object one was using back at rest (the stove
        is cold after cooking), unless someone else has put it to use since."""
        world = self.world
        if body.using and body.using != place:
            resting = world.places.initial_states.get(body.using)
            users = [b for b in world.bodies if b.using == body.using and b.id != body.id]
            if resting is not None and not users and world.objects.get(body.using) != resting:
                world.objects[body.using] = resting
                events.append(FrameEvent(type="object", agent=body.id, place=body.using, text=resting))
            body.using = ""

    def _arrive(self, body: Body, events: list[FrameEvent]) -> None:
        """Using an object changes its state once the body is there, on the object's tile or stopped
        in its room (the stove is lit when the cook reaches it, not when she sets off for the kitchen)."""
        if body.to_use is None or body.conversation is not None:
            return
        place, state = body.to_use
        places = self.world.places
        tile = places.object_tiles[place]
        if body.pos != tile and (body.path or places.room_of_tile(body.pos) != places.room_of_tile(tile)):
            return
        body.to_use = None
        body.using = place
        if self.world.objects[place] != state:
            self.world.objects[place] = state
            events.append(FrameEvent(type="object", agent=body.id, place=place, text=state))

    def _route(self, body: Body) -> None:
        """A path to the tile of the body's target place (none when it is already there)."""
        goal = self.world.places.tile_for(body.target, body.name) if body.target else None
        body.path = self._path(body, goal) if goal and goal != body.pos else []
        body.blocked_ticks = 0
        body.waiting = False

    def _path(self, body: Body, goal: Tile) -> list[Tile]:
        # Plain shortest path; others standing in the way are walked around only
        # once they actually block (see _detour), which keeps A* cheap.
        return self.world.grid.find_path(body.pos, goal)[1:]

    def _detour(self, body: Body, goal: Tile, occupied: set[Tile]) -> list[Tile]:
        budget = 4 * (abs(goal[0] - body.pos[0]) + abs(goal[1] - body.pos[1])) + 64
        return self.world.grid.find_path(body.pos, goal, avoid=occupied - {body.pos}, budget=budget)[1:]

    def _start_conversation(
        self, body: Body, other: Body, dialogue: list[tuple[str, str]], summary: str, events: list[FrameEvent]
    ) -> None:
        if body.conversation is not None or other.conversation is not None or other.asleep or body.asleep:
            return  # the other is busy by now: the talk written for them is not had
        world = self.world
        conversation = Conversation(
            id=world.next_conversation,
            members=(body.id, other.id),
            script=list(dialogue),
            next_line=world.tick,
            summary=summary,
            started=world.tick,
        )
        world.next_conversation += 1
        world.conversations[conversation.id] = conversation
        for me, partner in ((body, other), (other, body)):
            me.conversation = conversation.id
            me.path = []
            me.before_talk = (me.action, me.emoji)
            me.action = phrase(self.spec.world.language, "chatting_with", partner=partner.name)
            me.emoji = "💬"
        events.append(FrameEvent(type="conversation_start", agent=body.id, to=other.id))

    def _go_over(self, events: list[FrameEvent]) -> None:
        """Who decided to talk walks towards the other, and the talk begins when they stand close;
        if the other walks off too far or too long, or gets busy, the moment has passed."""
        world = self.world
        for body in world.bodies:
            approach = body.approach
            if approach is None:
                continue
            other = world.bodies[approach.partner]
            busy = body.asleep or other.asleep or body.conversation is not None
            if not busy and other.conversation is None and _distance(body.pos, other.pos) <= _TALK_REACH:
                body.approach = None
                self._start_conversation(body, other, approach.dialogue, approach.summary, events)
            elif busy or world.tick >= approach.until:
                body.approach = None
                if body.conversation is None:
                    self._route(body)  # back to what it was doing
            elif not body.path or _distance(body.path[-1], other.pos) > 1:
                # Towards the other, who stops for it (see _move), to stand beside them.
                body.path = self._path(body, other.pos)[:-1]
                body.waiting = False

    def _talk(self, events: list[FrameEvent]) -> None:
        """Each talk says its next line when due, and ends a line's time after its last."""
        world = self.world
        every = max(1, round(self.config.conversation_line_seconds / world.clock.tick_seconds))
        for conversation in list(world.conversations.values()):
            if conversation.ended_at is not None or world.tick < conversation.next_line:
                continue
            if conversation.script:
                speaker, text = conversation.script.pop(0)
                self._say(conversation, speaker, text, events)
                conversation.next_line = world.tick + every
            else:
                self._end(conversation, events)

    def _say(self, conversation: Conversation, speaker: str, text: str, events: list[FrameEvent]) -> None:
        first, second = conversation.members
        body = self.world.bodies[first] if self.world.bodies[first].name == speaker else self.world.bodies[second]
        partner = second if body.id == first else first
        conversation.lines.append((speaker, text))
        self.lines_said.append(phrase(self.spec.world.language, "said", name=speaker, text=text))
        if len(self.lines_said) > _LINES_KEPT + 12:
            # The summary samples the first lines; the rest is only a recent log, so it stays bounded.
            del self.lines_said[12 : len(self.lines_said) - _LINES_KEPT]
        events.append(FrameEvent(type="say", agent=body.id, to=partner, text=text))

    def _end(self, conversation: Conversation, events: list[FrameEvent]) -> None:
        world = self.world
        conversation.ended_at = world.tick
        for member in conversation.members:
            member_body = world.bodies[member]
            member_body.conversation = None
            # The action and the walk the conversation interrupted resume at once; what the talk
            # changes comes with the agent's next decision, when it is due.
            if member_body.before_talk is not None:
                member_body.action, member_body.emoji = member_body.before_talk
                member_body.before_talk = None
            self._route(member_body)
        first, second = conversation.members
        last = conversation.lines[-1][0] if conversation.lines else ""
        ender = first if world.bodies[first].name == last else second
        events.append(FrameEvent(type="conversation_end", agent=ender, to=second if ender == first else first))

    def _move(self, events: list[FrameEvent]) -> None:
        at = {b.pos: b for b in self.world.bodies}
        # Someone coming over to talk is waited for once close (called to, one stops where one is), but not
        # in a way in, where one would hold up everyone behind.
        places = self.world.places
        awaited = {
            b.approach.partner
            for b in self.world.bodies
            if b.approach is not None and _distance(b.pos, self.world.bodies[b.approach.partner].pos) <= _CALL_REACH
        }
        # One going over to someone is not held up for another: two who decided at once to talk with each
        # other would both stand waiting for the other to come (the 0.5B's first talk never began).
        awaited = {
            i
            for i in awaited
            if not places.is_entry(self.world.bodies[i].pos) and self.world.bodies[i].approach is None
        }
        behind: list[Body] = []
        for body in self.world.bodies:
            if body.conversation is not None or body.id in awaited:
                continue
            if not body.path:
                if body.waiting:
                    self._wait(body)
                continue
            other = at.get(body.path[0])
            if other is None:
                self._step(body, at)
            elif other.id > body.id and other.path and other.conversation is None and other.path[0] != body.pos:
                behind.append(body)  # following someone who has yet to step this tick: try again after
            else:
                self._blocked(body, other, at)
        while behind:  # a queue moves up a tile each tick, whatever order its people are in
            still = []
            for body in behind:
                if not body.path:
                    continue  # someone squeezed past it meanwhile, which took its step
                if body.path[0] in at:
                    still.append(body)
                else:
                    self._step(body, at)
            if len(still) == len(behind):
                break
            behind = still
        for body in behind:
            if body.path and body.path[0] in at:
                self._blocked(body, at[body.path[0]], at)
            elif body.path:
                self._step(body, at)
        for body in self.world.bodies:
            if body.to_use is not None:
                self._arrive(body, events)

    @staticmethod
    def _step(body: Body, at: dict[Tile, Body]) -> None:
        del at[body.pos]
        body.pos = body.path.pop(0)
        at[body.pos] = body
        body.blocked_ticks = 0

    def _blocked(self, body: Body, other: Body, at: dict[Tile, Body]) -> None:
        if len(body.path) == 1:
            self._goal_taken(body, at)
        elif other.path and other.path[0] == body.pos and other.conversation is None:
            self._swap(body, other, at)  # head on in a one-tile passage: they pass each other
        else:
            body.blocked_ticks += 1
            if body.blocked_ticks >= _BLOCKED_REPATH:
                self._unblock(body, other, at)

    def _wait(self, body: Body) -> None:
        """Stopped short of its goal (its room was full, or it stepped aside for someone): look again
        now and then for a way in. If the room stays full, the agent re-plans elsewhere (agent/perception.py)."""
        body.blocked_ticks += 1
        if body.blocked_ticks < _WAIT_RETRY:
            return
        if self.world.places.room_of_tile(body.pos) == room_of(body.target):
            body.waiting, body.blocked_ticks = False, 0
        else:
            self._route(body)

    def _unblock(self, body: Body, other: Body, at: dict[Tile, Body]) -> None:
        """Blocked for a while: stop if already in the goal's room; else go round, or take another
        tile of the room (the way to the goal may be walled in by people), or ask a parked body
        in the way to step aside; only when none of that works, wait longer before trying again."""
        places = self.world.places
        goal = body.path[-1]
        goal_room = places.room_of_tile(goal)
        body.blocked_ticks = 0
        if goal_room is not None and places.room_of_tile(body.pos) == goal_room:
            self._settle(body, at, goal_room)  # the way to the object is crowded: inside the room is close enough
            return
        occupied = set(at)
        detour = self._detour(body, goal, occupied)
        if not detour and goal_room is not None:
            free = sorted(
                (t for t in places.room_tiles[goal_room] if t not in at), key=lambda t: (_distance(t, goal), t)
            )
            for tile in free[:3]:
                detour = self._detour(body, tile, occupied)
                if detour:
                    break
        if detour:
            body.path = detour
        elif not other.path and not self._step_aside(other, body, at):
            # Parked in a one-tile passage with nowhere to step: squeeze past each other.
            self._swap(body, other, at)
        elif other.path:
            body.blocked_ticks = -2 * _BLOCKED_REPATH

    @staticmethod
    def _swap(body: Body, other: Body, at: dict[Tile, Body]) -> None:
        """``body`` steps onto ``other``'s tile and ``other`` onto body's, each a step along its way."""
        step = body.path.pop(0)
        at[body.pos], at[step] = other, body
        body.pos, other.pos = step, body.pos
        if other.path:
            other.path.pop(0)
        else:
            other.waiting = True  # pushed off its spot: it walks back in a while
        body.blocked_ticks = other.blocked_ticks = 0

    def _goal_taken(self, body: Body, at: dict[Tile, Body]) -> None:
        """Someone stands on the goal: stop here if already in the goal's room, else take a free tile of it.
        Stopping next to the goal outside the room would park the agent in a doorway."""
        places = self.world.places
        goal = body.path[-1]
        room = places.room_of_tile(goal)
        body.path = []
        if room is None:
            return
        if places.room_of_tile(body.pos) == room:
            self._settle(body, at, room)
            return
        free = [t for t in places.room_tiles[room] if t not in at]
        if free:
            tile = min(free, key=lambda t: (_distance(t, goal), t))
            body.path = self._path(body, tile)
        else:
            body.waiting = True

    def _settle(self, body: Body, at: dict[Tile, Body], room: str) -> None:
        """In its goal's room, the way on crowded: stop here, unless here is just inside a way in, where
        one would keep everyone else out; then take a free tile further in, if one can be reached."""
        places = self.world.places
        body.path = []
        entries = places.entries[room]
        if body.pos not in entries:
            return
        free = sorted(
            (t for t in places.room_tiles[room] if t not in at and t not in entries),
            key=lambda t: (_distance(t, body.pos), t),
        )
        occupied = set(at)
        for tile in free[:3]:
            detour = self._detour(body, tile, occupied)
            if detour:
                body.path = detour
                return

    def _step_aside(self, parked: Body, blocked: Body, at: dict[Tile, Body]) -> bool:
        """A parked body (in a one-tile door, on another's way) steps onto a free neighbouring
        tile off the other's path, its own room first; it walks back to its goal after a while."""
        places = self.world.places
        room = places.room_of_tile(parked.pos)
        way = set(blocked.path)
        free = [t for t in self.world.grid.neighbours(parked.pos) if t not in at and t not in way]
        if not free:
            return False
        tile = min(free, key=lambda t: (places.room_of_tile(t) != room, t))
        del at[parked.pos]
        at[tile] = parked
        parked.pos = tile
        parked.waiting, parked.blocked_ticks = True, 0  # it walks back in a while
        return True

    def _prune_conversations(self) -> None:
        tick = self.world.tick
        for conversation in list(self.world.conversations.values()):
            if conversation.ended_at is None or tick - conversation.ended_at <= _KEEP_ENDED_CONVERSATIONS:
                continue
            # A member still thinking about something else sees the ending only after that thought commits.
            handled = all(conversation.id in self.agents[m].state.handled_conversations for m in conversation.members)
            if handled or tick - conversation.ended_at > _KEEP_UNHANDLED_CONVERSATIONS:
                del self.world.conversations[conversation.id]

    # --- frames ----------------------------------------------------------------
    def _frame(self, events: list[FrameEvent]) -> Frame:
        world = self.world
        key = world.tick % self.config.keyframe_every == 0
        agents: dict[int, AgentFrame] = {}
        for body in world.bodies:
            full = AgentFrame(
                pos=body.pos,
                action=body.action,
                emoji=body.emoji,
                place=body.place,
                at=world.places.room_of_tile(body.pos) or "",
                conv=-1 if body.conversation is None else body.conversation,
                asleep=body.asleep,
            )
            last = self._last.get(body.id)
            if key or last is None:
                agents[body.id] = full
            else:
                changed = {name: value for name, value in full if getattr(last, name) != value}
                if changed:
                    agents[body.id] = AgentFrame(**changed)
            self._last[body.id] = full
        if key:
            objects = dict(sorted(world.objects.items()))
        else:
            objects = {k: v for k, v in world.objects.items() if self._last_objects.get(k) != v}
        self._last_objects = dict(world.objects)
        return Frame(
            tick=world.tick, time=world.clock.label(world.tick), key=key, agents=agents, objects=objects, events=events
        )

    def inject_event(self, what: str, where: str, minutes: int = 60) -> None:
        """An event at a place from outside (a viewer's control): it starts next tick,
        nearby agents perceive it, and it spreads only through what they say."""
        world = self.world
        if not world.places.exists(where):
            raise ValueError(f"unknown place {where!r}")
        start = world.tick  # the tick about to run: the very next frame shows it
        world.injected.append(ActiveEvent(what, where, start, start + world.clock.ticks_for_minutes(minutes)))

    # --- queries used by the summary, the server and the report --------------
    def knows(self, what: str) -> list[str]:
        return [agent.name for agent in self.agents if agent.knows_event(what)]

    async def interview(self, agent_id: int, question: str) -> str:
        """The agent's answer; the next frame records the question and the answer (a live run's replay shows them)."""
        answer = await self.agents[agent_id].interview(question, self.world.snapshot(), self.mind)
        self._told.append(FrameEvent(type="interview", agent=agent_id, question=question, text=answer))
        return answer

    async def aclose(self) -> None:
        """Stop the thoughts still in flight (a checkpoint already holds them)."""
        await self.thoughts.aclose()

    # --- checkpoints -------------------------------------------------------------
    def get_state(self) -> dict:
        return {
            "world": self.world.get_state(),
            "agents": [agent.get_state() for agent in self.agents],
            "last_frame": {str(k): v.model_dump(mode="json") for k, v in self._last.items()},
            "last_objects": self._last_objects,
            "thinks": self.thinks,
            # The summary quotes the first lines, the viewers the latest: keep both ends.
            "lines_said": list(self.lines_said),
            "thoughts": self.thoughts.get_state(),
            "told": [event.model_dump(mode="json", exclude_defaults=True) for event in self._told],
        }

    def set_state(self, state: dict) -> None:
        self.world.set_state(state["world"])
        for agent, data in zip(self.agents, state["agents"]):
            agent.set_state(data)
        self._last = {int(k): AgentFrame.model_validate(v) for k, v in state["last_frame"].items()}
        self._last_objects = dict(state["last_objects"])
        self.thinks = state["thinks"]
        self.lines_said = list(state["lines_said"])
        self.thoughts.set_state(state.get("thoughts"))
        self._told = [FrameEvent.model_validate(e) for e in state.get("told", [])]  # absent in older checkpoints


def _distance(a: Tile, b: Tile) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])
