"""Every tunable in one place, with where its default comes from.

"Paper" is Park et al., *Generative Agents: Interactive Simulacra of Human
Behavior* (UIST 2023); "reference" is its code (joonspk-research/generative_agents).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# Thinking takes game time (DESIGN.md): while a thought's answers travel, the world runs on and the
# thinker carries on with what it was doing. The engine waits on the wall clock only when a decision
# is due and its answer has not come; requests whose due ticks fall within one such wait share it, so
# the longer these are the more of them overlap (benchmarks/llm_concurrency.py measures it). They are
# kept to how long a person would take, since the thinker meanwhile neither reacts nor answers.
THINK_DELAY_SECONDS: dict[str, int] = {
    # Scoring what one saw runs beside the agent's other thoughts (its decisions never wait for it),
    # and a memory is only read when recalled later: stored five minutes on, it changes nothing.
    "importance": 300,
    # Noticing someone and weighing whether to go over and talk, walking on meanwhile — and if so, what
    # the talk will be (one request writes both): two minutes; then one walks over
    # (SimConfig.talk_approach_minutes). Half a minute cost a third more waits a day than one minute,
    # one minute about a fifth more than two (benchmarks/llm_concurrency.py).
    "react": 120,
    # Working out the next hour's steps takes a minute; plan-ahead does it before the hour begins, and
    # a re-plan (a room found full) keeps the agent where it is meanwhile, so not longer.
    "plan_block": 60,
    # The day is planned lying awake after waking: five minutes in bed.
    "plan_day": 300,
    # Whether to go to an event one has heard of is weighed against the day's plan: three minutes (news comes
    # from a talk, and the event is hours off). A minute cost some fifty more waits a day.
    "attend": 180,
    # Reflection is slow musing and runs beside the day: half an hour.
    "reflect_questions": 1800,
    "reflect_insights": 1800,
    # Asked from outside the run (a viewer, `interview`), answered at once; never part of a tick.
    "interview": 0,
}


class SimConfig(BaseModel):
    # Perception
    vision_radius: int = Field(default=8, ge=1, description="Tiles an agent sees (reference: vision_r = 8).")
    attention_bandwidth: int = Field(
        default=4, ge=1, description="Nearest perceived agents/events attended to per tick (reference: att_bandwidth)."
    )
    observe_repeat_minutes: int = Field(
        default=120, ge=1, description="The same person doing the same thing is noted again only after this long."
    )

    # Memory and retrieval
    recency_decay: float = Field(default=0.995, gt=0, le=1, description="Per game hour since last access (paper).")
    w_recency: float = Field(default=1.0, ge=0, description="Retrieval weight (paper: all weights 1).")
    w_relevance: float = Field(default=1.0, ge=0)
    w_importance: float = Field(default=1.0, ge=0)
    retrieve_k: int = Field(
        default=6, ge=1, description="Memories passed to a prompt (ours; the reference passed ~30)."
    )
    trivial_importance: int = Field(
        default=1, ge=1, le=10, description="Score of idle/sleeping/walking observations, no request."
    )
    importance_batch: int = Field(
        default=16,
        ge=1,
        description="Score pending observations in one request once this many wait (ours; they are scored "
        "at each hour's last quarter too, score_before_the_hour, so this only caps a busy hour's batch).",
    )
    importance_max_wait_minutes: int = Field(default=120, ge=1, description="…or once the oldest has waited this long.")
    score_before_the_hour: bool = Field(
        default=True,
        description="…or at the hour's last quarter, due on the hour (ours): an hour's observations are one "
        "batch, recallable within the hour, and the whole town's scorings go out together with the "
        "plan-aheads of the blocks that begin on the hour (plan_ahead_minutes before it), instead of each "
        "costing a wait of its own.",
    )

    # Reflection
    reflection_threshold: int = Field(
        default=150, ge=1, description="Summed importance that triggers reflection (paper)."
    )
    reflect_at_bedtime: bool = Field(
        default=True,
        description="Reflect on going to sleep if the day brought none yet (ours: a quiet day still gets one).",
    )
    reflection_questions: int = Field(default=2, ge=1, le=5, description="Focal questions per reflection (paper: 3).")
    insights_per_question: int = Field(default=3, ge=1, le=5, description="At most 5 (issue 3).")

    # Planning
    action_min_minutes: int = Field(default=5, ge=1)
    action_max_minutes: int = Field(default=15, ge=1)
    plan_ahead_minutes: int = Field(
        default=15,
        ge=0,
        description="Decompose the next block this long before it begins (ours): much longer than a decomposition's "
        "think delay, so its answer has game time to come while the world runs on; 0 turns plan-ahead off.",
    )
    full_room_wait_minutes: int = Field(
        default=3,
        ge=1,
        description="Stood still in sight of the room of one's action this long, not let in: it is packed (ours).",
    )
    full_room_avoid_minutes: int = Field(
        default=45,
        ge=1,
        description="A room found full is left out of the places offered to plans this long (ours: about a block).",
    )

    # Reaction and conversation
    conversation_max_turns: int = Field(default=6, ge=2, description="Lines per conversation, both sides together.")
    talk_approach_minutes: int = Field(
        default=3,
        ge=0,
        description="How long the one who decided to talk walks after the other before giving up (ours; the "
        "reference's initiator walks to its partner too).",
    )
    conversation_line_seconds: int = Field(
        default=20,
        ge=1,
        description="Game seconds from one line of a talk to the next: said and heard (two 10 s ticks), so a "
        "six-line talk lasts two minutes, as when each line was a thought of its own.",
    )
    pair_cooldown_minutes: int = Field(
        default=180, ge=0, description="Before the same two talk again (ours; stops loops)."
    )
    social_cooldown_minutes: int = Field(
        default=90,
        ge=0,
        description="After a conversation, before starting another encounter (ours; the paper's agents chat ~5×/day).",
    )
    react_cooldown_minutes: int = Field(
        default=30, ge=0, description="Before an agent weighs reacting to the same person again."
    )
    react_gap_minutes: int = Field(
        default=5,
        ge=0,
        description="After weighing whether to react to someone, before weighing anyone else (ours): the people "
        "one passes meanwhile are noted, not each weighed. Each weighing is a request and a wait in a busy street.",
    )

    # Prompt size: what a request carries sets its tokens, so its cost and its wait on a slow model. Lengths are in
    # Chinese characters; other languages quote phrases.width()'s multiple (an English word is several letters).
    recent_for_questions: int = Field(
        default=15, ge=1, description="Latest memories a reflection asks its focal questions about (paper: 100)."
    )
    question_memory_chars: int = Field(
        default=80, ge=10, description="Of each of those: a whole observation or line, most insights (ours)."
    )
    recalled_memory_chars: int = Field(
        default=60, ge=10, description="Of each memory retrieval puts in a prompt: the gist of a line or plan (ours)."
    )
    persona_background_chars: int = Field(
        default=60, ge=10, description="Background in the one-line persona and the speaking voice: who one is (ours)."
    )
    brief_background_chars: int = Field(
        default=40, ge=10, description="Background where a quick choice needs only a hint of it: react, attend (ours)."
    )
    brief_traits: int = Field(default=3, ge=1, description="Traits in that brief persona (ours: the leading ones).")
    voice_catchphrases: int = Field(default=3, ge=1, description="Catchphrases offered to a line of dialogue (ours).")
    recall_k_plan_block: int = Field(
        default=2, ge=1, description="Memories recalled to break a block into actions: routine work needs few (ours)."
    )
    recall_k_social: int = Field(
        default=3, ge=1, description="Memories about the other one recalled to react to or talk with someone (ours)."
    )

    # Importance of what an agent stores without asking (the paper scores every memory by a model; these are fixed).
    known_importance: int = Field(
        default=5, ge=1, le=10, description="What the persona file says one remembers and whom one knows: middling."
    )
    known_event_importance: int = Field(
        default=8, ge=1, le=10, description="An event one is told of at the start: a reason to plan the day around it."
    )
    plan_importance: int = Field(
        default=5, ge=1, le=10, description="The day's plan: middling, recalled when it matters."
    )
    attend_importance: int = Field(
        default=6, ge=1, le=10, description="Deciding to go to an event: above a plan, since it changes one."
    )
    insight_importance: int = Field(
        default=6, ge=1, le=10, description="A reflection's insight: above the plans it is drawn from."
    )

    # Engine
    think_concurrently: bool = Field(
        default=True, description="False thinks one agent after another, like the reference (for comparison only)."
    )
    think_delays: dict[str, int] = Field(
        default_factory=lambda: dict(THINK_DELAY_SECONDS),
        description="Game seconds from the tick a thought starts to the tick its decision is applied, per request "
        "kind it asks (the longest counts; a thought that asks nothing is applied in its own tick). See "
        "THINK_DELAY_SECONDS for the reason of each default.",
    )
    pipeline_thoughts: bool = Field(
        default=True,
        description="False applies every decision in the tick it was started, waiting for its answers there "
        "(the old barrier; for comparison in benchmarks/llm_concurrency.py).",
    )

    # Run files
    keyframe_every: int = Field(
        default=60, ge=1, description="Full keyframe every K ticks (10 game minutes at 10 s ticks)."
    )
    checkpoint_minutes: int = Field(default=60, ge=1, description="Game minutes between checkpoints.")
