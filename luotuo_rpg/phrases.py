"""Per-language phrases: every text the code itself builds for an agent's memory, a prompt or a frame.

The phrases live beside the prompt templates, one file per language with the same keys
(``luotuo_rpg/llm/prompts/<language>/phrases.yaml``), so a new language is a folder of files,
not a hunt through the code. Importable from every layer, like ``config``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml


@cache
def _table(language: str) -> dict[str, str | int | list[str]]:
    path = resources.files("luotuo_rpg.llm").joinpath(f"prompts/{language}/phrases.yaml")
    table: dict[str, str | int | list[str]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return table


def phrase(language: str, key: str, **values: object) -> str:
    """The phrase ``key`` in ``language``, its ``{names}`` filled from ``values``."""
    template = _table(language)[key]
    assert isinstance(template, str), f"phrase {key!r} is not text"
    return template.format(**values)


def phrases(language: str, key: str) -> tuple[str, ...]:
    """A list of phrases (alternatives to choose from, or words to look for)."""
    items = _table(language)[key]
    assert isinstance(items, list), f"phrase {key!r} is not a list"
    return tuple(items)


def number(language: str, key: str) -> int:
    """A whole number that depends on the language (how many characters fit somewhere)."""
    value = _table(language)[key]
    assert isinstance(value, int), f"phrase {key!r} is not a whole number"
    return value


def width(language: str, chinese_characters: int) -> int:
    """How many characters of ``language`` to quote where a Chinese text would quote ``chinese_characters``."""
    scale = _table(language)["text_scale"]
    assert isinstance(scale, int | float), "text_scale is not a number"
    return round(chinese_characters * scale)
