"""Prompt templates: one file per request kind and language, rendered with
``string.Template`` (``$agent``, ``$persona``, ``$time``, ``$context``) so JSON
examples inside the templates need no escaping.

The request's own fields go into the prompt as one JSON block (the model
reads it as context); :func:`recover_request` reads that block back, which
is how the mock server answers real HTTP requests with the offline mind.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from luotuo_rpg.llm.json_extract import clean_text
from luotuo_rpg.llm.kinds import REQUEST_KINDS, PersonaBrief, Request
from luotuo_rpg.phrases import phrase

Messages = list[dict[str, str]]


@cache
def _template(language: str, name: str) -> str:
    return resources.files("luotuo_rpg.llm").joinpath(f"prompts/{language}/{name}.txt").read_text(encoding="utf-8")


@cache
def _sections(language: str, kind: str) -> tuple[Template, Template]:
    text = _template(language, kind)
    _, _, rest = text.partition("### system\n")
    system, _, user = rest.partition("### user\n")
    return Template(system.strip()), Template(user.strip())


def _persona_line(request: Request) -> str:
    persona = getattr(request, "persona", "")
    if isinstance(persona, PersonaBrief):
        traits = phrase(request.language, "traits_separator").join(persona.traits)
        return phrase(request.language, "persona_line", name=persona.name, age=persona.age, traits=traits)
    return str(persona)


def context_json(request: Request) -> str:
    # The language travels in the block like every other field (absent when it is the default, Chinese).
    payload = {"kind": request.kind, **request.model_dump(mode="json", exclude_defaults=True)}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def render(request: Request) -> Messages:
    system, user = _sections(request.language, request.kind)
    values = {
        "agent": request.agent,
        "persona": _persona_line(request),
        "time": request.time,
        "context": context_json(request),
    }
    return [
        {"role": "system", "content": system.safe_substitute(values)},
        {"role": "user", "content": user.safe_substitute(values)},
    ]


# The rejected answer is quoted back only this far: enough to see the mistake, and a model
# that looped for 700 tokens is not handed its loop again.
REPAIR_QUOTE_CHARS = 400


def repair_messages(messages: Messages, answer: str, error: str, language: str, example: Any = None) -> Messages:
    """The request again, the rejected answer (cut short), what was wrong, and an example of the
    exact keys wanted (``schemas.skeleton``): small models copy the keys they are shown."""
    shape = json.dumps(example, ensure_ascii=False) if example is not None else ""
    note = Template(_template(language, "repair").strip()).safe_substitute(error=error, example=shape)
    quoted = clean_text(answer)[:REPAIR_QUOTE_CHARS]
    return [*messages, {"role": "assistant", "content": quoted}, {"role": "user", "content": note}]


def recover_request(messages: Messages) -> Request | None:
    """The request a rendered prompt came from, or None for foreign prompts."""
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content") or ""
        start = content.find('{"kind":')
        if start < 0:
            continue
        try:
            payload, _ = json.JSONDecoder().raw_decode(content[start:])
        except json.JSONDecodeError:
            continue
        cls = REQUEST_KINDS.get(payload.pop("kind", ""))
        if cls is None:
            continue
        return cls.model_validate(payload)
    return None
