"""What a viewer sends: read with limits, so no message can take the server or its connection down.

A control is one flat JSON object of a few short fields. Anything else gets an ``error``
message back and the connection stays open: a text over the size limit, nesting deeper than
``MAX_DEPTH`` (checked before the decoder runs: Python's recursive decoder would otherwise
raise ``RecursionError`` on a few kilobytes of ``[[[[``), ``NaN``/``Infinity``, numbers of
more than ``MAX_INT_DIGITS`` digits or that overflow a float, malformed JSON, an invalid
control, or more messages than the connection's rate allows.
"""

from __future__ import annotations

import json
import math
import time

from pydantic import ValidationError

from luotuo_rpg.llm.json_extract import nesting_depth
from luotuo_rpg.server.protocol import Control, ErrorMessage

MAX_DEPTH = 8
"""Nesting of arrays and objects in one message: a control needs 1."""

MAX_INT_DIGITS = 18
"""Digits of an integer: every field of a control fits in an int64."""

MESSAGES_PER_S = 20.0
"""Sustained messages per second per connection: a person clicking sends a few."""

MESSAGE_BURST = 40
"""Messages at once before the rate applies (a scripted client sends a handful together)."""


class NumberRefused(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise NumberRefused(f"{name} is not a number this server accepts")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NumberRefused(f"{text[:40]} overflows a float")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise NumberRefused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def parse_client_text(text: str, limit: int) -> Control | ErrorMessage:
    """A client's text message as a control, or the error to send back."""
    size = len(text.encode("utf-8")) if len(text) <= limit else len(text)
    if size > limit:
        return ErrorMessage(message=f"消息太大 (message of {size} bytes is over the {limit}-byte limit)")
    # Counting is cheap; skip it when there are too few brackets to be deep.
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        return ErrorMessage(message=f"嵌套太深 (JSON nested deeper than {MAX_DEPTH} levels)")
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except NumberRefused as error:
        return ErrorMessage(message=f"数字不合法 (refused number: {error})")
    except ValueError as error:
        return ErrorMessage(message=f"不是合法的 JSON (malformed JSON: {error})")
    if not isinstance(data, dict) or data.get("type", "control") != "control":
        return ErrorMessage(message='只接受 control 消息 (expected {"type": "control", ...})')
    try:
        return Control.model_validate(data)
    except ValidationError as error:
        issues = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        return ErrorMessage(message="无效的控制消息 (invalid control)", issues=issues)


class MessageRate:
    """A token bucket per connection: ``burst`` at once, then ``per_s`` a second."""

    def __init__(self, per_s: float = MESSAGES_PER_S, burst: int = MESSAGE_BURST) -> None:
        self.per_s = per_s
        self.burst = burst
        self._tokens = float(burst)
        self._at = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_s)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
