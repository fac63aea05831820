"""The JSON Schema an answer must fit: built from the kind's output model, narrowed by the request.

Nothing here names a kind. The schema starts as pydantic's for ``type(request).output``
(so a new kind gets one without code here), with every ``$ref`` inlined, every property
required, no extra properties, a ``maxLength`` on every free string and a ``maxItems`` on
every list (a grammar-constrained model cannot wander past them). Then the request narrows it
by what it holds: a property named in :data:`NARROWERS` (``place``, ``cites``, ``speaker`` …)
becomes an enum of what the request offers, and an output model that declares ``variants``
(``ReactOutput``: ``react`` carries ``new_activity``) becomes an ``anyOf`` with one branch per
decision, so the invalid combination cannot be generated at all.

The same schema drives :mod:`luotuo_rpg.llm.fixups`, which applies in code what a server
that ignores schemas could still get wrong.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from luotuo_rpg.llm.kinds import Request
from luotuo_rpg.phrases import width

Schema = dict[str, Any]

# A free string with no cap of its own: long enough for a Chinese sentence or two, short
# enough that a model looping on one phrase stops within a few dozen tokens.
DEFAULT_MAX_LENGTH = 80
# A list with no cap of its own: no answer of this project needs more than a dozen items.
DEFAULT_MAX_ITEMS = 12
HHMM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"

# Keywords strict servers (OpenAI) and grammar converters (llama.cpp) do not need.
_DROPPED_KEYS = ("title", "default")


def output_schema(output: type[BaseModel]) -> Schema:
    """The output model's schema, self-contained and bounded, before any request narrows it."""
    raw = output.model_json_schema()
    inlined = _inline(raw, raw.get("$defs", {}))
    _bound(inlined)
    return inlined


def request_schema(request: Request) -> Schema:
    """The schema for this request's answer: the output model's, narrowed by the request."""
    output = type(request).output
    schema = output_schema(output)
    _scale_lengths(schema, width(request.language, 1))
    _narrow(schema, request)
    variants = getattr(output, "variants", None)
    if variants:
        schema = _split_variants(schema, variants, request)
    return schema


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs)
    return {k: _inline(v, defs) for k, v in node.items() if k != "$defs" and k not in _DROPPED_KEYS}


def _bound(node: Any) -> None:
    """Caps and closure, in place, everywhere in the tree."""
    if isinstance(node, list):
        for item in node:
            _bound(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "string" and "enum" not in node and "const" not in node:
        node.setdefault("maxLength", DEFAULT_MAX_LENGTH)
        if node.get("description") == "HH:MM":
            node.setdefault("pattern", HHMM_PATTERN)
    if kind == "array":
        node.setdefault("maxItems", DEFAULT_MAX_ITEMS)
    if kind == "object" and "properties" in node:
        node["required"] = list(node["properties"])
        node["additionalProperties"] = False
    for value in node.values():
        _bound(value)


def _scale_lengths(node: Any, scale: int) -> None:
    """String caps are counted in Chinese characters; a language that needs more letters for the
    same words (English: ``text_scale`` in its phrases) gets as many times more."""
    if scale == 1:
        return
    if isinstance(node, list):
        for item in node:
            _scale_lengths(item, scale)
    elif isinstance(node, dict):
        if isinstance(node.get("maxLength"), int):
            node["maxLength"] *= scale
        for value in node.values():
            _scale_lengths(value, scale)


# --- narrowing by the request ------------------------------------------------------------------

Narrower = Callable[[Request, Schema], None]


def _strings(node: Schema) -> list[Schema]:
    """The string schemas of a property (itself, or the string branch of ``str | None``)."""
    if node.get("type") == "string":
        return [node]
    return [branch for branch in node.get("anyOf", []) if branch.get("type") == "string"]


def _enum(node: Schema, values: list[Any]) -> None:
    values = list(dict.fromkeys(values))
    if not values:
        return
    for target in _strings(node) or ([node] if node.get("type") == "integer" else []):
        target.pop("maxLength", None)
        target.pop("pattern", None)
        target["enum"] = values


def _places(request: Request, node: Schema) -> None:
    """Every place the request offers: the known ones, and those its routine and events name."""
    known = list(getattr(request, "known_places", []) or [])
    if not known:
        return
    named = [r.place for r in getattr(request, "routine", []) or []]
    named += [e.where for e in getattr(request, "known_events", []) or []]
    _enum(node, known + named)


def _cites(request: Request, node: Schema) -> None:
    ids = [m.id for m in getattr(request, "memories", []) or []]
    if ids and node.get("type") == "array":
        _enum(node["items"], ids)
        node["minItems"] = 1
        node["maxItems"] = min(node.get("maxItems", DEFAULT_MAX_ITEMS), len(ids))


def _speakers(request: Request, node: Schema) -> None:
    partner = getattr(request, "partner", None) or getattr(request, "other", None)
    if partner:
        _enum(node, [request.agent, partner])


def _scores(request: Request, node: Schema) -> None:
    observations = getattr(request, "observations", None)
    if observations is not None and node.get("type") == "array":
        node["minItems"] = node["maxItems"] = max(1, len(observations))
        node["items"].update(minimum=1, maximum=10)


def _count_cap(attribute: str) -> Narrower:
    def narrow(request: Request, node: Schema) -> None:
        cap = getattr(request, attribute, None)
        if isinstance(cap, int) and node.get("type") == "array" and cap >= node.get("minItems", 0):
            node["maxItems"] = max(1, cap)

    return narrow


def _minutes(request: Request, node: Schema) -> None:
    total = getattr(request, "minutes", None)
    if isinstance(total, int) and node.get("type") == "integer":
        node["maximum"] = max(node.get("minimum", 1), total)


def _actions(request: Request, node: Schema) -> None:
    """As many timed actions as the block's minutes allow at the shortest action length."""
    total, shortest = getattr(request, "minutes", None), getattr(request, "min_minutes", None)
    if isinstance(total, int) and isinstance(shortest, int) and shortest > 0 and node.get("type") == "array":
        node["maxItems"] = max(1, -(-total // shortest))


def _event_names(request: Request, node: Schema) -> None:
    _enum(node, [e.what for e in getattr(request, "known_events", []) or []])


# Output property name → how a request narrows it. A request without the attribute a
# narrower reads leaves the property as the output model made it.
NARROWERS: dict[str, Narrower] = {
    "place": _places,
    "cites": _cites,
    "speaker": _speakers,
    "partner": _speakers,
    "scores": _scores,
    "questions": _count_cap("count"),
    "insights": _count_cap("max_insights"),
    "lines": _count_cap("max_lines"),
    "minutes": _minutes,
    "actions": _actions,
    "event": _event_names,
}


def _narrow(node: Any, request: Request) -> None:
    if isinstance(node, list):
        for item in node:
            _narrow(item, request)
        return
    if not isinstance(node, dict):
        return
    for name, prop in (node.get("properties") or {}).items():
        narrower = NARROWERS.get(name)
        if narrower is not None:
            narrower(request, prop)
    for value in node.values():
        _narrow(value, request)


def _split_variants(schema: Schema, variants: dict[str, Any], request: Request) -> Schema:
    """One ``anyOf`` branch per value of the output's discriminator: in each, the fields that
    value needs are non-empty strings (lists: not empty) and the others are null (lists: empty).

    ``variants`` (a ClassVar on the output model) is ``{"field": name, "needs": {value: [fields]},
    "allowed": callable(request) -> values}``; ``allowed`` drops values the request rules out
    (no ``talk`` when nobody is there to talk to).
    """
    field: str = variants["field"]
    needs: dict[str, list[str]] = variants["needs"]
    allowed_of = variants.get("allowed")
    allowed = list(allowed_of(request)) if allowed_of else list(needs)
    conditional = {name for names in needs.values() for name in names}
    branches: list[Schema] = []
    for value in [v for v in needs if v in allowed]:
        branch = copy.deepcopy(schema)
        branch.pop("description", None)
        props = branch["properties"]
        props[field] = {"type": "string", "enum": [value]}
        for name in conditional:
            if props[name].get("type") == "array":
                # A list (a talk's lines): at least one item where needed, none elsewhere.
                if name in needs[value]:
                    props[name] = {**props[name], "minItems": max(1, props[name].get("minItems", 0))}
                else:
                    props[name] = {"type": "array", "items": props[name].get("items", {}), "maxItems": 0}
                continue
            strings = _strings(props[name])
            cap = strings[0].get("maxLength", DEFAULT_MAX_LENGTH) if strings else DEFAULT_MAX_LENGTH
            if name in needs[value]:
                props[name] = {"type": "string", "minLength": 2, "maxLength": cap}
            else:
                props[name] = {"type": "null"}
        branches.append(branch)
    if len(branches) == 1:
        return branches[0]
    return {"anyOf": branches}


def allowed_strings(schema: Schema) -> dict[str, list[Any]]:
    """Property name → its enum, wherever one appears (the fixups snap to these)."""
    found: dict[str, list[Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                for target in _strings(prop) if isinstance(prop, dict) else []:
                    if "enum" in target and len(target["enum"]) > 1:
                        found.setdefault(name, list(target["enum"]))
            for value in node.values():
                walk(value)

    walk(schema)
    return found


def skeleton(schema: Schema) -> Any:
    """A minimal example that fits ``schema``, for the repair prompt: the keys, in order."""
    if "anyOf" in schema:
        return skeleton(schema["anyOf"][0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: skeleton(prop) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        return [skeleton(schema.get("items", {}))]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if kind == "string":
        return "HH:MM" if "pattern" in schema else "…"
    return None
