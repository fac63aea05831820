"""Find the JSON object in what a model said: fenced, wrapped in prose, or cut off.

Any text at all is safe to pass: it is cut to :data:`MAX_ANSWER_CHARS`, stripped of control
characters and unpaired surrogates (what undecodable bytes become), and refused with
:class:`NoJSON` when nested deeper than :data:`MAX_DEPTH` (``json`` would recurse until
``RecursionError``).
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


# The longest answer of this project is ~700 tokens (≈ 3,000 characters): anything past 16 times
# that is a model looping, and scanning it would only cost time.
MAX_ANSWER_CHARS = 48_000
# Our answers nest four deep (plan_block: object → list → object → value); 5,000 brackets is noise.
MAX_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class NoJSON(ValueError):
    pass


def clean_text(text: str) -> str:
    """The answer as text JSON can hold: bounded, no control characters, valid UTF-8."""
    text = (text or "")[:MAX_ANSWER_CHARS]
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become "?"
    return _CONTROL.sub("", text).replace("\ufffd", "")


class _StringTracker:
    """Follows JSON text a character at a time and tells structure from string contents."""

    def __init__(self) -> None:
        self.in_string = False
        self._escaped = False

    def is_structure(self, ch: str) -> bool:
        """True for a character outside every string (quotes themselves count as inside)."""
        if self.in_string:
            if self._escaped:
                self._escaped = False
            elif ch == "\\":
                self._escaped = True
            elif ch == '"':
                self.in_string = False
            return False
        if ch == '"':
            self.in_string = True
            return False
        return True


def nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside strings, counted without recursion."""
    depth = deepest = 0
    tracker = _StringTracker()
    for ch in text:
        if not tracker.is_structure(ch):
            continue
        if ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth = max(0, depth - 1)
    return deepest


def extract_json(text: str) -> dict[str, Any]:
    text = clean_text(text).strip()
    if not text:
        raise NoJSON("the answer is empty")
    if nesting_depth(text) > MAX_DEPTH:
        raise NoJSON(f"the answer nests brackets deeper than {MAX_DEPTH}; answer with one flat JSON object")
    candidates = [text]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start = text.find("{")
    if start >= 0:
        end = text.rfind("}")
        if end > start:
            candidates.append(text[start : end + 1])
        candidates.append(close_truncated(text[start:]))
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    raise NoJSON("no JSON object found in the answer")


def close_truncated(fragment: str) -> str:
    """Close the strings, arrays and objects a cut-off answer left open."""
    stack: list[str] = []
    tracker = _StringTracker()
    for ch in fragment:
        if not tracker.is_structure(ch):
            continue
        if ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    repaired = fragment
    if tracker.in_string:
        repaired += '"'
    repaired = re.sub(r"[,:]\s*$", "", repaired.rstrip())
    # A key left without its value ('{"a": 1, "b"') cannot be saved; drop it.
    repaired = re.sub(r',\s*"[^"]*"\s*$', "", repaired)
    return repaired + "".join(reversed(stack))
