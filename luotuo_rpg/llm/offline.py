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
from luotuo_rpg.llm.chat import Embedder, LLMUnavailable, embeddings_down, estimate_tokens
from luotuo_rpg.llm.kinds import (
    AttendOutput,
    AttendRequest,
    ChatSummaryOutput,
    ChatSummaryRequest,
    ConverseOutput,
    ConverseRequest,
    EventBrief,
    ImportanceOutput,
    ImportanceRequest,
    Insight,
    InterviewOutput,
    InterviewRequest,
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
    insert_event,
)
from luotuo_rpg.llm.offline_embedding import HashEmbedder
from luotuo_rpg.llm.prompts import render

OFFLINE_LABEL = "offline rule-based mind (no language model: deterministic rules over the personas)"

# keyword → importance; the highest match wins, observations start at 2.
_IMPORTANCE_RULES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (9, ("寿宴", "婚", "死", "告示", "官府", "出事", "大事", "宴", "义诊", "party", "election", "wedding")),
    (7, ("听说", "打架", "吵", "银子", "生日", "喜欢", "比武", "宣布", "活动", "通知", "贼")),
    (5, ("说", "聊", "问", "告诉", "见到", "talk", "said")),
    (3, ("吃", "做饭", "算账", "读书", "练功", "看病", "买", "卖", "喝茶")),
)

_EMOJI_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("😴", ("睡", "sleep", "bed")),
    ("🍚", ("吃", "饭", "eat", "lunch", "dinner", "breakfast")),
    ("🍳", ("做饭", "炒", "灶", "切菜", "cook")),
    ("🧮", ("账", "算", "钱", "银")),
    ("🧹", ("扫", "擦", "收拾", "clean")),
    ("📖", ("读", "书", "念", "写", "教", "read", "study")),
    ("🥋", ("练", "武", "功", "拳", "剑")),
    ("🚓", ("巡", "捕", "衙", "案")),
    ("💊", ("药", "病", "诊", "医")),
    ("🍵", ("茶", "tea", "coffee", "咖啡")),
    ("🍶", ("酒", "pub", "bar")),
    ("🛒", ("买", "卖", "菜", "集市", "shop", "market")),
    ("🎉", ("宴", "寿", "party", "活动", "庆")),
    ("💬", ("聊", "说", "问", "打听", "talk")),
    ("🚶", ("走", "逛", "转", "walk")),
    ("🪥", ("起床", "梳洗", "洗漱", "wake")),
)

_ACTION_STEPS_ZH = ("开始{a}", "{a}", "专心{a}", "{a}，顺便歇口气", "接着{a}", "{a}，快收尾了")
_ACTION_STEPS_EN = ("start to {a}", "{a}", "{a} with focus", "{a}, taking a short break", "keep going: {a}", "finish up: {a}")


def emoji_for(text: str) -> str:
    for emoji, words in _EMOJI_RULES:
        if any(w in text for w in words):
            return emoji
    return "🙂"


# (words in the object's name, words in the activity or None for any, state while in use).
_OBJECT_USE: tuple[tuple[tuple[str, ...], tuple[str, ...] | None, str, str], ...] = (
    (("灶", "炉", "锅", "stove", "oven"), None, "烧着火", "lit"),
    (("茶桌", "茶壶", "茶台"), None, "沏着热茶", "tea brewing"),
    (("饭桌", "桌"), ("吃", "饭", "喝", "eat", "lunch", "dinner"), "摆着饭菜", "laid with food"),
    (("账桌", "柜台"), ("账", "算"), "算盘噼啪响", "accounts open"),
    (("讲台", "书桌", "desk"), ("读", "书", "讲", "教", "写", "read", "teach", "write"), "摊着书", "books open"),
    (("药柜", "诊桌"), ("药", "诊", "病"), "正在用", "in use"),
    (("铁砧", "炼炉", "风箱"), None, "叮当作响", "ringing"),
)


def object_state_for(place: str, activity: str, language: str) -> str | None:
    """What using an object does to it (the stove is lit while cooking); None when the action uses none.
    The engine puts the object back in its resting state when the user moves on."""
    if place.count("/") != 2:
        return None
    name = place.rsplit("/", 1)[1]
    for names, doing, zh, en in _OBJECT_USE:
        if any(n in name for n in names) and (doing is None or any(w in activity for w in doing)):
            return zh if language == "zh" else en
    return None


def importance_of(text: str) -> int:
    for score, words in _IMPORTANCE_RULES:
        if any(w in text for w in words):
            return score
    return 2


def _minute(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minute: int) -> str:
    minute %= 24 * 60
    return f"{minute // 60:02d}:{minute % 60:02d}"


def is_sleep(text: str) -> bool:
    return any(w in text for w in ("睡觉", "就寝", "入睡", "sleep", "go to bed"))


class OfflineMind:
    name = "offline"

    def __init__(self, seed: int = 0, language: str = "zh", stats: LLMStats | None = None, embed_dim: int = 256):
        self.seed = seed
        self.language = language
        self.stats = stats or LLMStats(backend="offline")
        # A real embedder may take the hash's place (llm/factory.py): retrieval over model embeddings.
        self.embedder: Embedder = HashEmbedder(dim=embed_dim)

    # --- the Mind interface ---------------------------------------------------
    async def ask(self, request: Request) -> BaseModel:
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
    def answer(self, request: Request) -> BaseModel:
        handler = getattr(self, f"_{request.kind}")
        return request.check(handler(request))

    def _rng(self, request: Request, *extra: object) -> random.Random:
        key = "|".join(str(p) for p in (self.seed, request.kind, request.agent, request.time, *extra))
        return random.Random(zlib.crc32(key.encode("utf-8")))

    def _importance(self, request: ImportanceRequest) -> ImportanceOutput:
        return ImportanceOutput(scores=[importance_of(o) for o in request.observations])

    def _plan_day(self, request: PlanDayRequest) -> PlanDayOutput:
        routine = sorted(request.routine, key=lambda r: _minute(r.at))
        today = request.time[:10]
        events = [e for e in request.known_events if e.when[:10] == today]
        blocks: list[ScheduleBlock] = []
        known = set(request.known_places)
        for index, item in enumerate(routine):
            start = _minute(item.at)
            end = _minute(routine[index + 1].at) if index + 1 < len(routine) else start + 60
            place = item.place if "/".join(item.place.split("/")[:2]) in known else request.known_places[0]
            if is_sleep(item.do):
                blocks.append(ScheduleBlock(start=_hhmm(start), activity=item.do, place=place))
                continue
            for chunk in range(start, end, 60):
                blocks.append(ScheduleBlock(start=_hhmm(chunk), activity=item.do, place=place))
        blocks.sort(key=lambda b: _minute(b.start))
        for event in events:
            label = f"去参加{event.what}" if self.language == "zh" else f"attend: {event.what}"
            blocks = insert_event(blocks, event.when[11:16], event.minutes, label, event.where)
        outline = [item.do for item in routine if not is_sleep(item.do)][:5]
        outline += [(f"别忘了：{e.what}" if self.language == "zh" else f"remember: {e.what}") for e in events]
        if request.reflections:
            outline.append(request.reflections[-1][:40])
        return PlanDayOutput(wake_up=routine[0].at, outline=outline[:8] or [routine[0].do], schedule=blocks)

    def _plan_block(self, request: PlanBlockRequest) -> PlanBlockOutput:
        rng = self._rng(request, request.block.start)
        block = request.block
        if is_sleep(block.activity):
            return PlanBlockOutput(
                actions=[PlannedAction(activity=block.activity, minutes=request.minutes, place=block.place, emoji="😴")]
            )
        first = None
        if _room(block.place) in request.full_places:
            block, first = self._elsewhere(request, rng)
        objects = [p for p in request.known_places if p.startswith(block.place + "/")]
        if block.place.count("/") == 2:
            objects = [block.place]
        steps = _ACTION_STEPS_ZH if self.language == "zh" else _ACTION_STEPS_EN
        actions: list[PlannedAction] = []
        remaining = request.minutes
        index = 0
        while remaining > 0:
            minutes = min(remaining, rng.choice((10, 15, 15)) if remaining > request.max_minutes else remaining)
            activity = first if first and not index else steps[min(index, len(steps) - 1)].format(a=block.activity)
            place = rng.choice(objects) if objects and rng.random() < 0.6 else block.place
            actions.append(
                PlannedAction(
                    activity=activity, minutes=minutes, place=place, emoji=emoji_for(block.activity),
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
        zh = self.language == "zh"
        full = _room(block.place)
        kind = _kind_of(full)
        rooms = [p for p in request.known_places if p.count("/") == 1]
        same = [p for p in rooms if _kind_of(p) == kind]
        full_name = _place_name(full)
        if same:
            place = rng.choice(same)
            activity = block.activity
            first = f"{full_name}人满了，换到{_place_name(place)}{activity}" if zh else f"{full} is full; to {place}"
        else:
            lively = [p for p in rooms if any(w in p for w in _LIVELY)]
            quiet = [p for p in rooms if p not in lively]
            sociable = any(w in "".join(request.persona.traits) for w in _SOCIABLE)
            place = rng.choice((lively if sociable else quiet) or rooms)
            activity = "凑凑热闹，等人少了再说" if zh and sociable else "歇一会儿，等人少了再说" if zh else "wait for it to empty"
            first = f"{full_name}挤不进去，先去{_place_name(place)}{activity}" if zh else f"{full} is packed; to {place}"
        return ScheduleBlock(start=block.start, activity=activity, place=place), first

    def _react(self, request: ReactRequest) -> ReactOutput:
        rng = self._rng(request, request.other, request.observation)
        busy = is_sleep(request.current_action)
        if request.other and not busy:
            knows = request.other in request.persona.relationships
            chance = 0.5 if knows else 0.15
            if rng.random() < chance:
                reason = (
                    f"正好碰见{request.other}，上去打个招呼。" if self.language == "zh" else f"Ran into {request.other}; say hello."
                )
                return ReactOutput(decision="talk", reason=reason)
        reason = "手头的事要紧。" if self.language == "zh" else "What I am doing matters more."
        return ReactOutput(decision="continue", reason=reason)

    def _converse(self, request: ConverseRequest) -> ConverseOutput:
        rng = self._rng(request, request.partner, len(request.history))
        zh = self.language == "zh"
        persona = request.persona
        said = set(request.said_before)
        mine = [line for line in request.history if line.speaker == persona.name]
        theirs = [line for line in request.history if line.speaker != persona.name]
        catchphrases = [c for c in persona.catchphrases if _exclaim(c) not in said]
        catch = rng.choice(catchphrases) if catchphrases else ""
        told = " ".join(line.text for line in request.history) + " " + " ".join(said)
        untold = [e for e in request.known_events if e.what not in told and _first_person(e.what, persona.name) not in told]
        if not mine and not theirs:
            address = address_for(persona.relationships.get(request.partner, ""), request.partner)
            greetings = [g for g in _GREETINGS if f"{address}，{g}" not in said] or list(_GREETINGS)
            line = (
                f"{address}，{rng.choice(greetings)}" + (_exclaim(catch) if catch and rng.random() < 0.5 else "")
                if zh
                else f"Hello, {request.partner}! {catch}".strip()
            )
            return ConverseOutput(line=line, end=False)
        if untold:
            return ConverseOutput(line=self._news(untold[0], persona.name, request.time), end=False)
        last = theirs[-1].text if theirs else ""
        if "就在" in last or "Have you heard" in last or "一定要来" in last:  # the partner just passed on news
            # Told several things in a row: a different answer to each.
            fresh = [r for r in _NEWS_REPLIES if not any(line.startswith(r) for line in said)] or list(_NEWS_REPLIES)
            line = rng.choice(fresh) if zh else "Really? I will go and see."
            return ConverseOutput(line=line + (_exclaim(catch) if catch and zh and rng.random() < 0.4 else ""), end=len(mine) >= 2)
        if request.turns_left <= 1 or len(mine) >= 3:
            return ConverseOutput(line=_farewell(rng, said, zh), end=True)
        # News about third parties makes talk; telling people about themselves does not.
        # Nor is news already told in this conversation, in whatever words a memory holds it,
        # nor what one already told this partner today, nor the partner's own news told back.
        told_events = [e.what for e in request.known_events if e.what in told]
        gossip = [
            m.text for m in request.memories
            # Gossip is what one saw or heard, not one's own notes on people (the persona's relationships).
            if m.kind in _GOSSIP_KINDS
            and not m.text.startswith(request.partner) and m.text not in told
            and _trim(m.text) not in told
            and f"和{request.partner}聊" not in m.text and f"{request.partner}说" not in m.text
            and not any(what in m.text for what in told_events)
            # Events are told as news (above), and nobody speaks of themselves by name.
            and not any(e.what in m.text for e in request.known_events) and not m.text.startswith("我知道：")
            and persona.name not in m.text
            and not any(word in m.text for word in _NOT_NEWS)
        ]
        if gossip:
            memory = rng.choice(gossip)
            line = f"{rng.choice(('我跟你说，', '你知道吗，', '说起来，'))}{_trim(memory)}。" if zh else f"You know, {_trim(memory)}."
        elif catch:
            line = _exclaim(catch) if zh else catch
        else:
            # Nothing new to say to this partner today: say goodbye rather than repeat oneself.
            return ConverseOutput(line=_farewell(rng, said, zh), end=True)
        return ConverseOutput(line=line, end=False)

    def _news(self, event: EventBrief, me: str, now: str) -> str:
        """An event told in the speaker's voice: one's own as an invitation, a past one as past."""
        zh = self.language == "zh"
        ended = dt.datetime.strptime(event.when, "%Y-%m-%d %H:%M") + dt.timedelta(minutes=event.minutes)
        past = ended <= dt.datetime.strptime(now, "%Y-%m-%d %H:%M")
        if not zh:
            if past:
                return f"Did you hear? {event.what}, at {event.where}, was on {event.when}."
            return f"Have you heard? {event.what}, at {event.where}, {event.when}."
        if me in event.what:
            what = _first_person(event.what, me)
            if past:
                return f"{what}，{_when(event)}已经办过了，多谢捧场。"
            return f"{what}，就在{_place_name(event.where)}，{_when(event)}，你可一定要来啊！"
        if past:
            return f"你知道吗？{event.what}，{_when(event)}在{_place_name(event.where)}已经办过了。"
        return f"你听说了吗？{event.what}，就在{_place_name(event.where)}，{_when(event)}。"

    def _chat_summary(self, request: ChatSummaryRequest) -> ChatSummaryOutput:
        theirs = [line.text for line in request.history if line.speaker != request.agent]
        gist = "；".join(_trim(t, 60) for t in theirs[:3]) or "寒暄了几句"
        if self.language == "zh":
            return ChatSummaryOutput(summary=f"我和{request.partner}聊了几句，{request.partner}说：{gist}")
        return ChatSummaryOutput(summary=f"I talked with {request.partner}, who said: {gist}")

    def _reflect_questions(self, request: ReflectQuestionsRequest) -> ReflectQuestionsOutput:
        people: dict[str, int] = {}
        for memory in request.memories:
            for word in memory.text.replace("，", " ").split():
                if 2 <= len(word) <= 3:
                    people[word] = people.get(word, 0) + 1
        if self.language == "zh":
            questions = ["我最近最在意的是什么？", "身边的人最近都在忙些什么？", "接下来有什么要紧的事？"]
        else:
            questions = ["What have I cared about most lately?", "What are the people around me busy with?", "What is coming up?"]
        return ReflectQuestionsOutput(questions=questions[: request.count])

    def _reflect_insights(self, request: ReflectInsightsRequest) -> ReflectInsightsOutput:
        ranked = sorted(request.memories, key=lambda m: -importance_of(m.text))
        insights = []
        for memory in ranked[: request.max_insights]:
            text = f"想了想：{_trim(memory.text, 50)}，这事值得放在心上。" if self.language == "zh" else f"On reflection: {_trim(memory.text, 80)} matters."
            insights.append(Insight(text=text, cites=[memory.id]))
        if not insights:
            fallback = "今天平平淡淡，也挺好。" if self.language == "zh" else "A quiet day."
            return ReflectInsightsOutput(insights=[Insight(text=fallback, cites=[request.memories[0].id])])
        return ReflectInsightsOutput(insights=insights)

    def _attend(self, request: AttendRequest) -> AttendOutput:
        """Go or not, from the persona: ties to the people the event names or to the teller pull,
        a sociable or reserved nature tips it, a busy or late plan holds one back. Deterministic
        per seed, agent and event, and never all or none of a town."""
        rng = self._rng(request, request.event.what)
        zh = self.language == "zh"
        persona = request.persona
        if persona.name in request.event.what:  # one's own event
            return AttendOutput(decision="go", reason="我自己张罗的，当然得在。" if zh else "It is mine.", minutes=request.event.minutes)
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
                reason = f"那会儿得{busy[0].activity}，走不开。" if zh else f"I have to {busy[0].activity} then."
            else:
                reason = "不凑这个热闹了。" if zh else "I will give it a miss."
            return AttendOutput(decision="skip", reason=reason, minutes=0)
        if not zh:
            reason = "I will go."
        elif named:
            reason = f"{named[0]}的事，得去捧个场。"
        else:
            reason = f"{request.told_by}说起了，去凑个热闹。" if request.told_by else "去凑个热闹。"
        stay = max(30, round(request.event.minutes * rng.uniform(0.5, 1.0)))
        return AttendOutput(decision="go", reason=reason, minutes=min(stay, request.event.minutes))

    def _interview(self, request: InterviewRequest) -> InterviewOutput:
        rng = self._rng(request, request.question)
        catch = rng.choice(request.persona.catchphrases) if request.persona.catchphrases else ""
        # The same thing heard twice is two memories, but one thing to tell.
        width = 50 if self.language == "zh" else 80
        distinct = list(dict.fromkeys(_trim(m.text, width) for m in request.memories))[:3]
        if self.language == "zh":
            if distinct:
                remembered = "；".join(distinct)
                answer = f"{_exclaim(catch) if catch else ''}我是{request.persona.name}。我记得：{remembered}。我现在正在{request.current_action}。"
            else:
                answer = f"我是{request.persona.name}，这事我还真不知道。我现在正在{request.current_action}。"
        else:
            remembered = "; ".join(distinct) or "nothing about that"
            answer = f"I'm {request.persona.name}. I remember: {remembered}. Right now I am {request.current_action}."
        return InterviewOutput(answer=answer)


# Deciding whether to go to an event (_attend): a chance, moved by ties, nature and plans.
_ATTEND_BASE = 0.35
_ATTEND_TIE = 0.35
_ATTEND_TRAIT = 0.15
_ATTEND_BUSY = 0.2
_ATTEND_LATE = 0.25
_SOCIABLE = ("爱聊天", "热心", "嘴碎", "爱热闹", "好客", "外向", "活泼", "贪玩", "八卦", "豪爽", "仗义", "sociable", "outgoing", "friendly")
_RESERVED = ("寡言", "内向", "孤僻", "清高", "吝啬", "抠门", "胆小", "懒", "shy", "reserved", "introvert")
_DUTIES = ("坐诊", "巡", "升堂", "上课", "讲", "当班", "守", "打更", "看店", "work", "shift", "class")

# Places where the sociable go when where they meant to be is packed (_elsewhere).
_LIVELY = ("茶", "酒", "集市", "街", "市", "cafe", "pub", "bar", "market", "street")

_GOSSIP_KINDS = ("observation", "chat")
# Someone asleep or on their way somewhere is not worth telling anyone.
_NOT_NEWS = ("睡觉", "走向", "发呆", "闲着", "sleeping", "walking to", "idle")


def _exclaim(catchphrase: str) -> str:
    """A catchphrase said aloud: with one "！", unless it already ends in its own punctuation."""
    return catchphrase if catchphrase[-1] in "！？。…!?~～" else f"{catchphrase}！"


_NEWS_REPLIES = ("真的？那我可得去看看。", "还有这事？回头我也去凑个热闹。", "好嘞，我记下了。", "哟，这我还真不知道。")
_GREETINGS = ("忙着呢？", "吃了吗？", "今儿个怎么样？", "好久不见！", "正找你呢。")
_FAREWELLS_ZH = ("不说了，我还有事，回头聊。", "行，那就先这样，回见！", "得嘞，我先忙去了。", "那我先走了，改天再聊。")
# Relationship notes open with what one calls the other ("掌柜的，…", "同福客栈的老白，…"); these
# openings describe the other instead, and a name is used then.
_NOT_ADDRESS = ("独生子", "上司", "长辈", "兄弟", "邻居", "朋友", "同屋", "同事", "客人", "街坊", "老乡", "对头", "冤家")


def address_for(relationship: str, name: str) -> str:
    """What one calls a person: the relationship note's opening words when they are a form of address
    (掌柜的, 小郭, 老白, 小姐), else the name."""
    head = relationship.replace(",", "，").split("，")[0].split("。")[0].strip()
    head = head.split("兼")[0]
    for prefix in ("徒弟", "师弟", "师妹", "女伙计", "伙计"):
        if head.startswith(prefix) and len(head) > len(prefix) + 1:
            head = head[len(prefix):]
    if "的" in head[:-1]:
        head = head[head.rindex("的", 0, len(head) - 1) + 1:]
    if 2 <= len(head) <= 4 and _all_cjk(head) and not any(word in head for word in _NOT_ADDRESS):
        return head
    return name


def _all_cjk(text: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in text)


def _first_person(what: str, me: str) -> str:
    return what.replace(me, "我")


def mentions(line: str, what: str, speaker: str) -> bool:
    """Whether a line tells of an event: its words, or its words in the voice of the one it names."""
    return what in line or (speaker in what and _first_person(what, speaker) in line)


def _farewell(rng: random.Random, said: set[str], zh: bool) -> str:
    if not zh:
        return "Got to go, see you!"
    fresh = [f for f in _FAREWELLS_ZH if f not in said] or list(_FAREWELLS_ZH)
    return rng.choice(fresh)


def _trim(text: str, limit: int = 40) -> str:
    text = text.strip().rstrip("。！!.")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _room(address: str) -> str:
    return "/".join(address.split("/")[:2])


def _kind_of(room: str) -> tuple[str, str]:
    """A room by its kind: copies of one place (医馆, 医馆2 …) differ only in the area's number."""
    area, _, name = room.partition("/")
    return area.rstrip("0123456789"), name


def _place_name(address: str) -> str:
    return address.replace("/", "")


def _when(event: EventBrief) -> str:
    return f"{event.when[5:7].lstrip('0')}月{event.when[8:10].lstrip('0')}日{event.when[11:16]}"


def dump_answer(output: BaseModel) -> str:
    """An output as the JSON text a model would send (the mock server uses it)."""
    return json.dumps(output.model_dump(mode="json"), ensure_ascii=False)
