"""One writer for the world YAML that the authoring tools produce.

Generated worlds are written as text rather than dumped by PyYAML because
their value is their layout: one field per line with a comment beside it,
small mappings (objects, routine blocks) on one line in flow style, the map
as a literal block. Quoting lives here, once: a string is written plain only
when YAML reads it back as the same string, otherwise as a JSON string (JSON
strings are valid YAML), so no name, time or sentence can change meaning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

# Characters that mean something in flow context or at the start of a plain scalar.
_SPECIAL = set(":#{}[],&*!|>'\"%@`")

Scalar = str | int | float | bool | None


def scalar(value: Any) -> str:
    """``value`` as a YAML scalar or flow collection that reads back unchanged."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return flow(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(scalar(item) for item in value) + "]"
    text = str(value)
    if _plain_is_safe(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def flow(mapping: Mapping[str, Any]) -> str:
    """A one-line mapping: ``{name: 床, tile: [3, 4], state: 空着}``."""
    return "{" + ", ".join(f"{key}: {scalar(value)}" for key, value in mapping.items()) + "}"


def _plain_is_safe(text: str) -> bool:
    if not text or text != text.strip() or any(ch in _SPECIAL for ch in text) or "\n" in text:
        return False
    if text[0] in "-?" or text.lower() in {"yes", "no", "on", "off", "y", "n", "~"}:
        return False
    try:
        return yaml.safe_load(text) == text
    except yaml.YAMLError:
        return False


class YamlWriter:
    """Lines of YAML with comments, indented by nesting level (two spaces a level)."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def comment(self, text: str, level: int = 0) -> None:
        self._lines.append(f"{'  ' * level}# {text}" if text else "")

    def blank(self) -> None:
        self._lines.append("")

    def line(self, text: str, level: int = 0) -> None:
        """A line written as given (a key that needs quoting, a commented-out field)."""
        self._lines.append(f"{'  ' * level}{text}")

    def field(self, key: str, value: Any = ..., level: int = 0, *, comment: str = "", item: bool = False) -> None:
        """``key: value  # comment``; no value opens a nested block; ``item`` starts a list entry."""
        indent = "  " * level + ("- " if item else "")
        text = f"{indent}{key}:" if value is ... else f"{indent}{key}: {scalar(value)}"
        self._lines.append(f"{text}  # {comment}" if comment else text)

    def entry(self, value: Any, level: int, *, comment: str = "") -> None:
        """A list entry on one line: ``- {at: "07:00", do: 起床}``."""
        text = f"{'  ' * level}- {scalar(value)}"
        self._lines.append(f"{text}  # {comment}" if comment else text)

    def block(self, key: str, lines: Iterable[str], level: int = 0) -> None:
        """A literal block (``key: |``), for the map rows."""
        self._lines.append(f"{'  ' * level}{key}: |")
        self._lines.extend(f"{'  ' * (level + 1)}{line}" for line in lines)

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


@dataclass(frozen=True)
class RoomDraft:
    """A room as the authoring tools write it: objects are flow mappings (name, tile, state)."""

    name: str
    rect: tuple[int, int, int, int]
    objects: Sequence[Mapping[str, Any]] = ()
    color: str | None = None
    color_comment: str = ""


def write_map(
    out: YamlWriter, legend: Mapping[str, Mapping[str, Scalar]], rows: Sequence[str], comments: Sequence[str] = ()
) -> None:
    """The ``map:`` section: what each character is, then the rows."""
    out.field("map")
    for text in comments:
        out.comment(text, 1)
    out.field("legend", level=1)
    for char, tile in legend.items():
        out.line(f"{json.dumps(char)}: {flow(tile)}", 2)
    out.block("rows", rows, level=1)


def write_area(
    out: YamlWriter,
    name: str,
    color: str,
    rooms: Sequence[RoomDraft],
    *,
    public: bool | None = None,
    public_comment: str = "",
) -> None:
    """One entry of ``areas:``."""
    out.field("name", name, 1, item=True)
    out.field("color", color, 2)
    if public is not None:
        out.field("public", public, 2, comment=public_comment)
    out.field("rooms", level=2)
    for room in rooms:
        out.field("name", room.name, 3, item=True)
        out.field("rect", list(room.rect), 4)
        if room.color:
            out.field("color", room.color, 4, comment=room.color_comment)
        if room.objects:
            out.field("objects", level=4)
            for obj in room.objects:
                out.entry(obj, 5)
        else:
            out.field("objects", [], 4)
