"""How an event is told: in the words of its announcement, or in the voice of the one it names
("钱掌柜办寿宴" told by 钱掌柜 as "我办寿宴"). Who has heard of an event is read with this rule
whichever mind spoke the line."""

from __future__ import annotations


def all_cjk(text: str) -> bool:
    return bool(text) and all("\u4e00" <= ch <= "\u9fff" for ch in text)


def first_person(what: str, me: str) -> str:
    # Chinese turns "钱掌柜办寿宴" into "我办寿宴" by the name alone; an English sentence would need
    # its verb changed too, so English keeps the name (the phrases say "my"/"Do come" around it).
    return what.replace(me, "我") if all_cjk(me) else what


def mentions(line: str, what: str, speaker: str) -> bool:
    """Whether a line tells of an event: its words, or its words in the voice of the one it names."""
    return what in line or (speaker in what and first_person(what, speaker) in line)
