"""The embedded offline mind: deterministic, no network, no weights.

It is not a language model. It answers every request kind with rules over
the persona (routine → day plan, catchphrases and memories → dialogue,
keywords → importance) so that the whole pipeline runs for real, the town
looks alive, and runs are reproducible. It is also the logged fallback when
a real model's answer cannot be used.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import zlib

import numpy as np
from pydantic import BaseModel

from luotuo_rpg.llm.accounting import LLMStats
from luotuo_rpg.llm.chat import (
    Embedder,
    LLMUnavailable,
    embeddings_down,
    estimate_tokens,
)
from luotuo_rpg.llm.embeddings.hashed import HashEmbedder
from luotuo_rpg.llm.kinds import (
    SUMMARY_CHARS,
    AttendOutput,
    AttendRequest,
    ChatLine,
    EventBrief,
    ImportanceOutput,
    ImportanceRequest,
    Insight,
    InterviewOutput,
    InterviewRequest,
    Out,
    PlanBlockOutput,
    PlanBlockRequest,
    PlanDayOutput,
    PlanDayRequest,
    PlannedAction,
    ReactOutput,
    ReactRequest,
    ReflectInsightsOutput,
    ReflectInsightsRequest,
    ReflectQuestionsOutput,
    ReflectQuestionsRequest,
    Request,
    ScheduleBlock,
    TalkSide,
    insert_event,
)
from luotuo_rpg.llm.prompts import render
from luotuo_rpg.phrases import phrase, phrases, width
from luotuo_rpg.world.activity import emoji_for, is_sleep, object_state_for
from luotuo_rpg.world.clock import hhmm, minute_of, parse_label
from luotuo_rpg.world.news import all_cjk, first_person
from luotuo_rpg.world.places import room_of

OFFLINE_LABEL = "offline rule-based mind (no language model: deterministic rules over the personas)"

# keyword → importance; the highest match wins, observations start at 2. Chinese words, then English
# stems (an English word may sit inside a longer one: "reading", not "read", which is in "already").
_IMPORTANCE_RULES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (9, ("寿宴", "婚", "死", "告示", "官府", "出事", "大事", "宴", "义诊", "party", "election", "wedding")),
    (9, ("mayor", "funeral", "died", "Valentine")),
    (7, ("听说", "打架", "吵", "银子", "生日", "喜欢", "比武", "宣布", "活动", "通知", "贼")),
    (7, ("heard", "fight", "argu", "birthday", "crush", "love", "announc", "news", "candida", "invit")),
    (5, ("说", "聊", "问", "告诉", "见到", "talk", "said")),
    (5, ("chat", "asked", "told", "visit")),
    (3, ("吃", "做饭", "算账", "读书", "练功", "看病", "买", "卖", "喝茶")),
    (3, ("eating", "cook", "reading", "studying", "buying", "selling", "coffee", "breakfast", "lunch", "dinner")),
)


def importance_of(text: str) -> int:
    for score, words in _IMPORTANCE_RULES:
        if any(w in text for w in words):
            return score
    return 2


class OfflineMind:
    name = "offline"

    def __init__(self, seed: int = 0, language: str = "zh", stats: LLMStats | None = None, embed_dim: int = 256):
        self.seed = seed
        self.language = language
        self.stats = stats or LLMStats(backend="offline")
        # A real embedder may take the hash's place (llm/factory.py): retrieval over model embeddings.
        self.embedder: Embedder = HashEmbedder(dim=embed_dim)

    # --- the Mind interface ---------------------------------------------------
    async def ask(self, request: Request[Out]) -> Out:
        output = self.answer(request)
        # Estimated as if the rendered prompt had gone to a model: a preview of cost.
        prompt = sum(estimate_tokens(m["content"]) for m in render(request))
        self.stats.record(request.kind, prompt, estimate_tokens(output.model_dump_json()))
        return output

    async def embed(self, texts: list[str]) -> np.ndarray:
        try:
            return await self.embedder.embed(texts)
        except LLMUnavailable as exc:  # a real embedder put in place of the hash, its server gone
            raise embeddings_down(exc) from exc

    async def aclose(self) -> None:
        close = getattr(self.embedder, "aclose", None)  # a real embedder put in place of the hash
        if close is not None:
            await close()

    # --- answers ------------------------------------------------------------
    def answer(self, request: Request[Out]) -> Out:
        handler = getattr(self, f"_{request.kind}")  # each handler builds its kind's output model
        return request.check(handler(request))

    def _rng(self, request: Request, *extra: object) -> random.Random:
        key = "|".join(str(p) for p in (self.seed, request.kind, request.agent, request.time, *extra))
        return random.Random(zlib.crc32(key.encode("utf-8")))

    def _importance(self, request: ImportanceRequest) -> ImportanceOutput:
        return ImportanceOutput(scores=[importance_of(o) for o in request.observations])

    def _plan_day(self, request: PlanDayRequest) -> PlanDayOutput:
        routine = sorted(request.routine, key=lambda r: minute_of(r.start))
        today = request.time[:10]
        events = [e for e in request.known_events if e.when[:10] == today]
        blocks: list[ScheduleBlock] = []
        known = set(request.known_places)
        for index, item in enumerate(routine):
            start = minute_of(item.start)
            end = minute_of(routine[index + 1].start) if index + 1 < len(routine) else start + 60
            place = item.place if room_of(item.place) in known else request.known_places[0]
            if is_sleep(item.activity):
                blocks.append(ScheduleBlock(start=hhmm(start), activity=item.activity, place=place))
                continue
            for chunk in range(start, end, 60):
                blocks.append(ScheduleBlock(start=hhmm(chunk), activity=item.activity, place=place))
        blocks.sort(key=lambda b: minute_of(b.start))
        for event in events:
            label = phrase(self.language, "attend_event", what=event.what)
            blocks = insert_event(blocks, event.when[11:16], event.minutes, label, event.where)
        outline = [item.activity for item in routine if not is_sleep(item.activity)][:5]
        outline += [phrase(self.language, "outline_event", what=e.what) for e in events]
        if request.reflections:
            outline.append(request.reflections[-1][: width(self.language, 40)])
        return PlanDayOutput(wake_up=routine[0].start, outline=outline[:8] or [routine[0].activity], schedule=blocks)

    def _plan_block(self, request: PlanBlockRequest) -> PlanBlockOutput:
        rng = self._rng(request, request.block.start)
        block = request.block
        if is_sleep(block.activity):
            return PlanBlockOutput(
                actions=[PlannedAction(activity=block.activity, minutes=request.minutes, place=block.place, emoji="😴")]
            )
        first = None
        if room_of(block.place) in request.full_places:
            block, first = self._elsewhere(request, rng)
        objects = [p for p in request.known_places if p.startswith(block.place + "/")]
        if block.place.count("/") == 2:
            objects = [block.place]
        steps = phrases(self.language, "action_steps")
        actions: list[PlannedAction] = []
        remaining = request.minutes
        index = 0
        while remaining > 0:
            minutes = min(remaining, rng.choice((10, 15, 15)) if remaining > request.max_minutes else remaining)
            activity = first if first and not index else steps[min(index, len(steps) - 1)].format(a=block.activity)
            place = rng.choice(objects) if objects and rng.random() < 0.6 else block.place
            actions.append(
                PlannedAction(
                    activity=activity,
                    minutes=minutes,
                    place=place,
                    emoji=emoji_for(block.activity),
                    object_state=object_state_for(place, block.activity, self.language),
                )
            )
            remaining -= minutes
            index += 1
        return PlanBlockOutput(actions=actions)

    def _elsewhere(self, request: PlanBlockRequest, rng: random.Random) -> tuple[ScheduleBlock, str]:
        """The block's room is packed: the same work at another place of its kind if one is known
        (医馆2 for 医馆), else somewhere that suits one's nature — the lively places for the sociable,
        a quiet one for the rest — until it empties. Returns the block moved there and its first step."""
        block = request.block
        language = self.language
        full = room_of(block.place)
        kind = _kind_of(full)
        rooms = [p for p in request.known_places if p.count("/") == 1]
        same = [p for p in rooms if _kind_of(p) == kind]
        names = {"full": _place_name(full, language)}
        if same:
            place = rng.choice(same)
            activity = block.activity
            first = phrase(language, "moved_from_full", place=_place_name(place, language), activity=activity, **names)
        else:
            lively = [p for p in rooms if any(w in p for w in phrases(language, "lively_places"))]
            quiet = [p for p in rooms if p not in lively]
            sociable = any(w in "".join(request.persona.traits) for w in _SOCIABLE)
            place = rng.choice((lively if sociable else quiet) or rooms)
            activity = phrase(language, "wait_among_people" if sociable else "wait_quietly")
            first = phrase(language, "detour_from_full", place=_place_name(place, language), activity=activity, **names)
        return ScheduleBlock(start=block.start, activity=activity, place=place), first

    def _react(self, request: ReactRequest) -> ReactOutput:
        rng = self._rng(request, request.other, request.observation)
        busy = is_sleep(request.me.doing)
        if request.them is not None and request.other and not busy:
            knows = request.other in request.me.persona.relationships
            chance = 0.5 if knows else 0.15
            if rng.random() < chance:
                return self.write_talk(request)
        return ReactOutput(decision="continue", reason=phrase(self.language, "react_continue"))

    def write_talk(self, request: ReactRequest) -> ReactOutput:
        """The answer that goes over to talk, with its talk (the tests read the talk alone through this)."""
        assert request.other is not None and request.them is not None, "a talk needs the other's side"
        lines = self._converse(request, request.other, request.them)
        return ReactOutput(
            decision="talk",
            reason=phrase(self.language, "react_talk", other=request.other),
            lines=lines,
            summary=self._talk_summary(lines),
        )

    def _converse(self, request: ReactRequest, partner: str, them: TalkSide) -> list[ChatLine]:
        """The talk line by line, each side answering the last line from what it knows, until one
        says goodbye or the lines run out."""
        sides = {request.agent: (request.me, partner), partner: (them, request.agent)}
        history: list[ChatLine] = []
        speaker = request.agent
        for said in range(request.max_lines):
            side, other = sides[speaker]
            text, end = self._line(side, other, history, request.max_lines - said, request.time)
            history.append(ChatLine(speaker=speaker, text=text))
            if end:
                break
            speaker = other
        return history

    def _line(
        self, side: TalkSide, partner: str, history: list[ChatLine], turns_left: int, time: str
    ) -> tuple[str, bool]:
        """One line of ``side`` to ``partner`` after ``history``, and whether it ends the talk."""
        persona = side.persona
        key = "|".join(str(p) for p in (self.seed, "converse", persona.name, time, partner, len(history)))
        rng = random.Random(zlib.crc32(key.encode("utf-8")))
        language = self.language
        gap = phrase(language, "gap")
        mine = [line for line in history if line.speaker == persona.name]
        said = set(side.said_before) | {line.text for line in mine}  # said today, this talk included
        theirs = [line for line in history if line.speaker != persona.name]
        catchphrases = [c for c in persona.catchphrases if _exclaim(c, language) not in said]
        catch = rng.choice(catchphrases) if catchphrases else ""
        told = " ".join(line.text for line in history) + " " + " ".join(said)
        untold = [e for e in side.known_events if e.what not in told and first_person(e.what, persona.name) not in told]
        if not mine and (not theirs or not untold):
            # The one who starts greets first; the other greets back unless it has news to tell at once.
            address = (
                address_for(persona.relationships.get(partner, ""), partner) if language == "zh" else partner.split()[0]
            )
            options = [g.format(partner=address) for g in phrases(language, "greetings")]
            line = rng.choice([g for g in options if g not in said] or options)
            line += (gap + _exclaim(catch, language)) if catch and rng.random() < 0.5 else ""
            return line, False
        if untold:
            return self._news(untold[0], persona.name, time), False
        last = theirs[-1].text if theirs else ""
        if any(marker in last for marker in phrases(language, "news_markers")):  # the partner just passed on news
            # Told several things in a row: a different answer to each.
            replies = phrases(language, "news_replies")
            line = rng.choice([r for r in replies if not any(said_line.startswith(r) for said_line in said)] or replies)
            line += (gap + _exclaim(catch, language)) if catch and rng.random() < 0.4 else ""
            return line, len(mine) >= 2
        if turns_left <= 1 or len(mine) >= 3:
            return _farewell(rng, said, language), True
        # News about third parties makes talk; telling people about themselves does not.
        # Nor is news already told in this conversation, in whatever words a memory holds it,
        # nor what one already told this partner today, nor the partner's own news told back.
        told_events = [e.what for e in side.known_events if e.what in told]
        gossip = [
            m.text
            for m in side.memories
            # Gossip is what one saw or heard, not one's own notes on people (the persona's relationships).
            if m.kind in _GOSSIP_KINDS
            and not m.text.startswith(partner)
            and m.text not in told
            and _trim(m.text, width(language, 40)) not in told
            and f"和{partner}聊" not in m.text
            and f"{partner}说" not in m.text
            and not any(what in m.text for what in told_events)
            # Events are told as news (above), and nobody speaks of themselves by name.
            and not any(e.what in m.text for e in side.known_events)
            and not m.text.startswith(phrase(language, "known_event_prefix"))
            and persona.name not in m.text
            and not any(word in m.text for word in phrases(language, "not_news"))
        ]
        if gossip:
            memory = rng.choice(gossip)
            line = rng.choice(phrases(language, "gossip")).format(memory=_trim(memory, width(language, 40)))
        elif catch:
            line = _exclaim(catch, language)
        else:
            # Nothing new to say to this partner today: say goodbye rather than repeat oneself.
            return _farewell(rng, said, language), True
        return line, False

    def _talk_summary(self, lines: list[ChatLine]) -> str:
        """What was said past the greetings, each line in short with who said it."""
        language = self.language
        told = [line for line in lines[1:] if line is not lines[-1]] or lines
        gist = phrase(language, "gist_separator").join(
            phrase(language, "said", name=line.speaker, text=_trim(line.text, width(language, 30))) for line in told[:3]
        )
        return _trim(gist, width(language, SUMMARY_CHARS))

    def _news(self, event: EventBrief, me: str, now: str) -> str:
        """An event told in the speaker's voice: one's own as an invitation, a past one as past."""
        language = self.language
        ended = parse_label(event.when) + dt.timedelta(minutes=event.minutes)
        past = ended <= parse_label(now)
        own = me in event.what
        key = ("news_own" if own else "news") + ("_past" if past else "")
        what = first_person(event.what, me) if own else event.what
        return phrase(language, key, what=what, place=_place_name(event.where, language), when=_when(event, language))

    def _reflect_questions(self, request: ReflectQuestionsRequest) -> ReflectQuestionsOutput:
        questions = list(phrases(self.language, "reflect_questions"))
        return ReflectQuestionsOutput(questions=questions[: request.count])

    def _reflect_insights(self, request: ReflectInsightsRequest) -> ReflectInsightsOutput:
        ranked = sorted(request.memories, key=lambda m: -importance_of(m.text))
        insights = []
        for memory in ranked[: request.max_insights]:
            text = phrase(self.language, "insight", memory=_trim(memory.text, width(self.language, 50)))
            insights.append(Insight(text=text, cites=[memory.id]))
        if not insights:
            fallback = phrase(self.language, "quiet_day")
            return ReflectInsightsOutput(insights=[Insight(text=fallback, cites=[request.memories[0].id])])
        return ReflectInsightsOutput(insights=insights)

    def _attend(self, request: AttendRequest) -> AttendOutput:
        """Go or not, from the persona: ties to the people the event names or to the teller pull,
        a sociable or reserved nature tips it, a busy or late plan holds one back. Deterministic
        per seed, agent and event, and never all or none of a town."""
        rng = self._rng(request, request.event.what)
        language = self.language
        persona = request.persona
        if persona.name in request.event.what:  # one's own event
            return AttendOutput(decision="go", reason=phrase(language, "attend_own"), minutes=request.event.minutes)
        named = [who for who in persona.relationships if who in request.event.what]
        chance = _ATTEND_BASE
        if named:
            chance += _ATTEND_TIE
        elif request.told_by in persona.relationships:
            chance += _ATTEND_TIE / 2
        traits = "".join(persona.traits)
        chance += _ATTEND_TRAIT * (any(w in traits for w in _SOCIABLE) - any(w in traits for w in _RESERVED))
        busy = [b for b in request.planned if not is_sleep(b.activity) and any(w in b.activity for w in _DUTIES)]
        if busy:
            chance -= _ATTEND_BUSY
        if any(is_sleep(b.activity) for b in request.planned):
            chance -= _ATTEND_LATE
        if rng.random() >= chance:
            if busy:
                reason = phrase(language, "attend_busy", activity=busy[0].activity)
            else:
                reason = phrase(language, "attend_skip")
            return AttendOutput(decision="skip", reason=reason, minutes=0)
        if named:
            reason = phrase(language, "attend_for", who=named[0])
        elif request.told_by:
            reason = phrase(language, "attend_told", who=request.told_by)
        else:
            reason = phrase(language, "attend_go")
        stay = max(30, round(request.event.minutes * rng.uniform(0.5, 1.0)))
        return AttendOutput(decision="go", reason=reason, minutes=min(stay, request.event.minutes))

    def _interview(self, request: InterviewRequest) -> InterviewOutput:
        rng = self._rng(request, request.question)
        catch = rng.choice(request.persona.catchphrases) if request.persona.catchphrases else ""
        language = self.language
        # The same thing heard twice is two memories, but one thing to tell.
        distinct = list(dict.fromkeys(_trim(m.text, width(language, 50)) for m in request.memories))[:3]
        said = {"name": request.persona.name, "action": request.current_action}
        if distinct:
            remembered = phrase(language, "memory_separator").join(distinct)
            catch_said = _exclaim(catch, language) + phrase(language, "gap") if catch else ""
            answer = phrase(language, "interview_remembered", catch=catch_said, remembered=remembered, **said)
        else:
            answer = phrase(language, "interview_unknown", catch="", **said)
        return InterviewOutput(answer=answer)


# Deciding whether to go to an event (_attend): a chance, moved by ties, nature and plans.
_ATTEND_BASE = 0.35
_ATTEND_TIE = 0.35
_ATTEND_TRAIT = 0.15
_ATTEND_BUSY = 0.2
_ATTEND_LATE = 0.25
_SOCIABLE = (
    "爱聊天",
    "热心",
    "嘴碎",
    "爱热闹",
    "好客",
    "外向",
    "活泼",
    "贪玩",
    "八卦",
    "豪爽",
    "仗义",
    "sociable",
    "outgoing",
    "friendly",
)
_RESERVED = ("寡言", "内向", "孤僻", "清高", "吝啬", "抠门", "胆小", "懒", "shy", "reserved", "introvert")
_DUTIES = ("坐诊", "巡", "升堂", "上课", "讲", "当班", "守", "打更", "看店", "work", "shift", "class")


_GOSSIP_KINDS = ("observation", "chat")


def _exclaim(catchphrase: str, language: str) -> str:
    """A catchphrase said aloud: with one "!", unless it already ends in its own punctuation."""
    return catchphrase if catchphrase[-1] in "！？。…!?~～." else phrase(language, "exclaim", text=catchphrase)


# Relationship notes open with what one calls the other ("掌柜的，…", "同福客栈的老白，…"); these
# openings describe the other instead, and a name is used then.
_NOT_ADDRESS = (
    "独生子",
    "上司",
    "长辈",
    "兄弟",
    "邻居",
    "朋友",
    "同屋",
    "同事",
    "客人",
    "街坊",
    "老乡",
    "对头",
    "冤家",
)


def address_for(relationship: str, name: str) -> str:
    """What one calls a person in Chinese: the relationship note's opening words when they are a form
    of address (掌柜的, 小郭, 老白, 小姐), else the name."""
    head = relationship.replace(",", "，").split("，")[0].split("。")[0].strip()
    head = head.split("兼")[0]
    for prefix in ("徒弟", "师弟", "师妹", "女伙计", "伙计"):
        if head.startswith(prefix) and len(head) > len(prefix) + 1:
            head = head[len(prefix) :]
    if "的" in head[:-1]:
        head = head[head.rindex("的", 0, len(head) - 1) + 1 :]
    if 2 <= len(head) <= 4 and all_cjk(head) and not any(word in head for word in _NOT_ADDRESS):
        return head
    return name


def _farewell(rng: random.Random, said: set[str], language: str) -> str:
    goodbyes = phrases(language, "goodbyes")
    return rng.choice([f for f in goodbyes if f not in said] or goodbyes)


def _trim(text: str, limit: int) -> str:
    text = text.strip().rstrip("。！!.")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind_of(room: str) -> tuple[str, str]:
    """A room by its kind: copies of one place (医馆, 医馆2 …) differ only in the area's number."""
    area, _, name = room.partition("/")
    return area.rstrip("0123456789"), name


def _place_name(address: str, language: str) -> str:
    return address.replace("/", phrase(language, "place_joiner"))


def _when(event: EventBrief, language: str) -> str:
    month, day = event.when[5:7].lstrip("0"), event.when[8:10].lstrip("0")
    return phrase(language, "date_time", month=month, day=day, hhmm=event.when[11:16])


def dump_answer(output: BaseModel) -> str:
    """An output as the JSON text a model would send (the mock server uses it)."""
    return json.dumps(output.model_dump(mode="json"), ensure_ascii=False)
