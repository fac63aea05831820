"""What a schema says but a server may not enforce, applied in code to a parsed answer, and counted.

A server that ignores the schema (plain prompting, ``json_object`` without one) still gets
its answer bent into shape where the intent is clear: a string past its ``maxLength`` is cut,
a phrase repeated until the token limit is cut to one copy, an unknown place snaps to the
nearest known one, a cited id that was never given is dropped, a number is clamped to its
range, a list is cut to its ``maxItems``. Each fix is named in the list returned, which the
structured layer counts per kind (``LLMStats.fixes``), so a run says how much was bent.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from luotuo_rpg.llm.json_extract import clean_text
from luotuo_rpg.llm.kinds import Request
from luotuo_rpg.llm.schemas import Schema

# A phrase said three times or more in a row: the shape of a small model looping until
# max_tokens ("我要去看看。我要去看看。我要去看看。…"). Twice can be style ("想了想：想了想："), so it stays.
_REPEAT = re.compile(r"(.{2,}?)\1{2,}", re.S)


def apply_fixups(request: Request, data: Any, schema: Schema) -> tuple[Any, list[str]]:
    """Return ``data`` bent to ``schema`` and the names of the fixes made (one per fix)."""
    fixes: list[str] = []
    fixed = _fix(data, schema, fixes)
    fixed = _copied_context(request, fixed, fixes)
    if _durations_off(request, fixed):
        fixes.append("durations")  # the kind's check renormalises them (kinds.fit_durations)
    return fixed, fixes


# The request's own keys, which a line of talk never says: a summary quoting them copied the prompt.
_PROMPT_KEYS = re.compile(r"\b(max_lines|said_before|known_events|memories|observation|other_action|me\.doing)\b")
_PUNCTUATION = re.compile(r"[\s，。！？、,.!?…：:；;\"'“”‘’]")


def _copied_context(request: Request, data: Any, fixes: list[str]) -> Any:
    """A small model copies its prompt into a talk (the 0.5B opens with the very words of what it
    saw, and sums up with the prompt's instructions): a line that only restates the observation is
    dropped while other lines remain, and a summary that quotes the prompt's keys is rebuilt from
    the lines said. So is a summary that only restates what was seen (the 1.5B sums up a talk by
    its observation): the talk is remembered through its summary, so the news told in it would be lost."""
    observation = getattr(request, "observation", None)
    if not observation or not isinstance(data, dict) or not isinstance(data.get("lines"), list):
        return data
    seen = _PUNCTUATION.sub("", observation)
    lines = data["lines"]
    texts = [line.get("text") if isinstance(line, dict) else None for line in lines]
    copied = [isinstance(t, str) and _restates(_PUNCTUATION.sub("", t), seen) for t in texts]
    if any(copied) and not all(copied):
        data["lines"] = [line for line, copy in zip(lines, copied) if not copy]
        fixes.extend("copied line" for copy in copied if copy)
    summary = data.get("summary")
    said = [line["text"] for line in data["lines"] if isinstance(line, dict) and isinstance(line.get("text"), str)]
    copied_summary = isinstance(summary, str) and (
        _PROMPT_KEYS.search(summary) is not None or _only_restates(_PUNCTUATION.sub("", summary), seen)
    )
    if copied_summary and said:
        data["summary"] = " ".join(said)
        fixes.append("copied summary")
    return data


def _only_restates(summary: str, seen: str) -> bool:
    """The observation, give or take a few characters (the two names joined on): nothing of the talk."""
    if seen and seen in summary:
        return len(summary) - len(seen) <= _NAMES_SLACK
    return _restates(summary, seen)


_NAMES_SLACK = 8  # "刘大娘和七舅姥爷" put before the observation


def _restates(text: str, seen: str) -> bool:
    if len(text) < 4:
        return False
    return text in seen or seen in text or difflib.SequenceMatcher(None, text, seen).ratio() >= 0.8


def cut_repeats(text: str) -> str:
    return _REPEAT.sub(r"\1", text)


def nearest(value: str, choices: list[str]) -> str:
    """The known choice ``value`` most likely meant: one it starts with (a room for one of its
    objects), one that ends with it (a room named without its area), else the closest spelling."""
    prefixed = [c for c in choices if value.startswith(c + "/")]
    if prefixed:
        return max(prefixed, key=len)
    suffixed = [c for c in choices if c.endswith("/" + value) or c.endswith(value)]
    if suffixed:
        return min(suffixed, key=len)
    return max(choices, key=lambda c: (difflib.SequenceMatcher(None, value, c).ratio(), -choices.index(c)))


def _branch(data: dict[str, Any], branches: list[Schema]) -> Schema | None:
    """The ``anyOf`` branch an object answer meant: the one whose single-valued enums it matches."""
    objects = [b for b in branches if b.get("type") == "object"]
    for branch in objects:
        props = branch.get("properties", {})
        singles = {k: p["enum"][0] for k, p in props.items() if len(p.get("enum", [])) == 1}
        if singles and all(data.get(k) == v for k, v in singles.items()):
            return branch
    return None


def _fix(data: Any, schema: Schema, fixes: list[str]) -> Any:
    if "anyOf" in schema:
        if isinstance(data, dict):
            branch = _branch(data, schema["anyOf"])
            return data if branch is None else _fix(data, branch, fixes)
        if data is None:
            return data
        strings = [b for b in schema["anyOf"] if b.get("type") == "string"]
        return _fix(data, strings[0], fixes) if strings and isinstance(data, str) else data
    kind = schema.get("type")
    if kind == "object" and isinstance(data, dict):
        props = schema.get("properties", {})
        return {key: _fix(value, props[key], fixes) if key in props else value for key, value in data.items()}
    if kind == "array" and isinstance(data, list):
        items = schema.get("items", {})
        out = [_fix(item, items, fixes) for item in data]
        if "enum" in items:
            kept = [item for item in out if item in items["enum"]]
            if len(kept) < len(out):
                fixes.append("unknown_ids")
                out = kept
        cap = schema.get("maxItems")
        if cap is not None and len(out) > cap:
            fixes.append("clipped")
            out = out[:cap]
        return out
    if kind == "string" and isinstance(data, str):
        return _fix_string(data, schema, fixes)
    if kind == "integer" and isinstance(data, int) and not isinstance(data, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        clamped = data if low is None else max(low, data)
        clamped = clamped if high is None else min(high, clamped)
        if clamped != data:
            fixes.append("clamped")
        return clamped
    return data


def _fix_string(text: str, schema: Schema, fixes: list[str]) -> str:
    # JSON escapes can carry what the raw text could not ("\u0000", a lone "\ud800").
    text = clean_text(text)
    choices = schema.get("enum")
    if choices is not None:
        if text in choices or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            return text
        fixes.append("snapped")
        return nearest(text, choices)
    cap = schema.get("maxLength")
    if cap is not None:
        # Cut far past the cap first so the repeat search stays linear-ish on a megabyte.
        text = text[: cap * 4]
    shorter = cut_repeats(text)
    if shorter != text:
        fixes.append("repeats")
        text = shorter
    if cap is not None and len(text) > cap:
        fixes.append("clipped")
        text = text[:cap]
    return text


def _durations_off(request: Request, data: Any) -> bool:
    total = getattr(request, "minutes", None)
    if not isinstance(total, int) or not isinstance(data, dict):
        return False
    for value in data.values():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            minutes = [v.get("minutes") for v in value]
            if all(isinstance(m, int) for m in minutes):
                return sum(minutes) != total  # type: ignore[arg-type]
    return False
