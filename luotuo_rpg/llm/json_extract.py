"""Find the JSON object in what a model said: fenced, wrapped in prose, or cut off."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


class NoJSON(ValueError):
    pass


def extract_json(text: str) -> dict[str, Any]:
    text = (text or "").strip()
    if not text:
        raise NoJSON("the answer is empty")
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
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict):
            return value
    raise NoJSON("no JSON object found in the answer")


def close_truncated(fragment: str) -> str:
    """Close the strings, arrays and objects a cut-off answer left open."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in fragment:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    repaired = fragment
    if in_string:
        repaired += '"'
    repaired = re.sub(r"[,:]\s*$", "", repaired.rstrip())
    # A key left without its value ('{"a": 1, "b"') cannot be saved; drop it.
    repaired = re.sub(r',\s*"[^"]*"\s*$', "", repaired)
    return repaired + "".join(reversed(stack))
