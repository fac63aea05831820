"""How each OpenAI-compatible endpoint wants the answer's JSON Schema: its ``response_format`` dialect.

Servers disagree on the wire format of a schema constraint:

- ``json_schema_strict`` — ``{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}``:
  OpenAI (strict structured outputs), and servers that copy it;
- ``json_schema`` — the same without ``strict``: llama.cpp's own ``llama-server``, vLLM, SGLang, Ollama;
- ``json_object_schema`` — ``{"type": "json_object", "schema": {...}}``: llama-cpp-python's server
  (its ``json_schema`` type is a 500);
- ``json_object`` — JSON mode without a schema: DeepSeek, DashScope;
- ``plain`` — no ``response_format`` at all: the prompt alone asks for JSON.

An endpoint starts at the most constraining dialect and steps down one at a time when it refuses
one (a 400 or 422, or a 5xx whose body names the response format); once a dialect has been
answered it is confirmed and kept, and a later refusal steps down again. The structured layer
parses and repairs whatever comes back, so a step down loses constraint, never an answer.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)

DIALECTS = ("json_schema_strict", "json_schema", "json_object_schema", "json_object", "plain")
SCHEMA_DIALECTS = frozenset({"json_schema_strict", "json_schema", "json_object_schema"})

# Words a server's refusal of a response_format uses (OpenAI, vLLM, llama.cpp, DeepSeek bodies).
_REJECTION_MARKERS = ("response_format", "response format", "json_object", "json_schema", "schema", "grammar")

# A throwaway schema for the probe: tiny, so a server that accepts it answers in one token.
_PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}


def effective(dialect: str, schema: dict[str, Any] | None) -> str:
    """The dialect a request really speaks: without a schema, a schema dialect is JSON mode."""
    return "json_object" if schema is None and dialect in SCHEMA_DIALECTS else dialect


def response_format(dialect: str, schema: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The ``response_format`` body for ``dialect``; a schema dialect without a schema is JSON mode."""
    if dialect == "plain":
        return None
    if schema is None or dialect == "json_object":
        return {"type": "json_object"}
    if dialect == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    body: dict[str, Any] = {"name": name, "schema": schema}
    if dialect == "json_schema_strict":
        body["strict"] = True
    return {"type": "json_schema", "json_schema": body}


def names_response_format(status: int, body_text: str) -> bool:
    """Whether a failed request looks like a refusal of its response_format (worth stepping down)."""
    if status in (400, 422):
        return True
    text = body_text.lower()
    return status >= 500 and any(marker in text for marker in _REJECTION_MARKERS)


class DialectBook:
    """The dialect each endpoint gets, what it started from, and how often it stepped down."""

    def __init__(self, urls: list[str], json_mode: str, known: dict[str, str] | None = None) -> None:
        # "off": never a response_format; "on": JSON mode at least, never plain; "auto": down to plain.
        self.urls = urls
        self.floor = "plain" if json_mode in ("auto", "off") else "json_object"
        start = "plain" if json_mode == "off" else DIALECTS[0]
        known = known or {}
        self.dialect = [known.get(url, start) if known.get(url) in DIALECTS else start for url in urls]
        self.confirmed = [url in known for url in urls]
        self.steps_down = 0

    def current(self, index: int, json_mode: bool) -> str:
        return self.dialect[index] if json_mode else "plain"

    def confirm(self, index: int) -> None:
        self.confirmed[index] = True

    def step_down(self, index: int, sent: str | None = None) -> bool:
        """Move endpoint ``index`` past ``sent`` (the dialect the refused request really used: a schema
        dialect without a schema is ``json_object``); False when it is already at its floor."""
        position = max(DIALECTS.index(self.dialect[index]), DIALECTS.index(sent or self.dialect[index]))
        if DIALECTS[position] == self.floor:
            return False
        self.dialect[index] = DIALECTS[position + 1]
        self.confirmed[index] = False
        self.steps_down += 1
        log.warning("endpoint %s refuses that response_format; trying %s", self.urls[index], self.dialect[index])
        return True

    def report(self) -> dict[str, str]:
        """URL → dialect in use (for meta.json and the summary)."""
        return dict(zip(self.urls, self.dialect))


def probe(url: str, model: str, headers: dict[str, str], timeout_s: float, json_mode: str) -> str | None:
    """Ask ``url`` once per dialect, most constraining first, with a one-token request; return the
    first it answers, or None when no answer says anything about dialects (a server down, busy)."""
    book = DialectBook([url], json_mode)
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        while True:
            dialect = book.dialect[0]
            body: dict[str, Any] = {
                "model": model,
                "messages": [{"role": "user", "content": 'Answer {"ok": true}'}],
                "max_tokens": 1,
                "temperature": 0,
            }
            fmt = response_format(dialect, _PROBE_SCHEMA, "probe")
            if fmt is not None:
                body["response_format"] = fmt
            try:
                response = client.post(f"{url}/chat/completions", json=body)
            except httpx.HTTPError as exc:
                log.info("dialect probe of %s failed (%s); the first requests will find it", url, exc)
                return None
            if response.status_code < 400:
                return dialect
            # A refusal of a well-formed one-token request is a refusal of its format — unless the
            # server is busy or the key is wrong, which says nothing about dialects.
            if response.status_code in (401, 403, 408, 409, 429) or fmt is None:
                return None
            if not names_response_format(400, response.text) or not book.step_down(0):
                return None
