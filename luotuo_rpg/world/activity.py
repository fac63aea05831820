"""What an action means, by its words: sleep, the emoji it shows, what it does to the object it uses.

Rules of the world, not of any mind: the engine decides who is asleep with them and every mind's
answers are read with them, so a model-driven run and the offline mind share one meaning of
"睡觉". Chinese words first, then English (an English stem may sit inside a longer word).
"""

from __future__ import annotations

from luotuo_rpg.world.spec import PLACE_SEPARATOR


def is_sleep(text: str) -> bool:
    return any(w in text for w in ("睡觉", "就寝", "入睡", "sleep", "go to bed"))


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
    # English words only below: a Chinese text matched none of the rules above and still matches none.
    ("🎨", ("paint", "drawing", "sketch", "animat", "watercolo", "photo")),
    ("🎵", ("music", "guitar", "piano", "compos", "song", "melod")),
    ("💻", ("coding", "code", "computer", "laptop", "stream", "software")),
    ("📝", ("writ", "poem", "poetry", "novel", "essay", "thesis")),
    ("🏃", ("jog", "running", "exercis", "dumbbell", "workout")),
    ("🧾", ("tax", "account", "prescri", "pharmac")),
    ("🛒", ("grocer", "shelves", "customer", "store", "supplies")),
    ("🍺", ("drink", "beer", "cocktail")),
)


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
    if place.count(PLACE_SEPARATOR) != 2:
        return None
    name = place.rsplit(PLACE_SEPARATOR, 1)[1]
    for names, doing, zh, en in _OBJECT_USE:
        if any(n in name for n in names) and (doing is None or any(w in activity for w in doing)):
            return zh if language == "zh" else en
    return None
