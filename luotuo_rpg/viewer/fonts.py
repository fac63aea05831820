"""Fonts: one that draws Chinese, and emoji where some installed font can.

pygame's default font has no CJK glyphs (Chinese becomes boxes), so a CJK
font is looked up by name among common ones. Whether a font really draws a
character is decided by rendering it and comparing with the font's "missing
glyph" box, because ``Font.metrics`` reports the box's metrics for missing
characters of the Basic Plane and nothing at all for emoji.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pygame

log = logging.getLogger(__name__)

CJK_FONT_NAMES = (
    "wenquanyimicrohei",
    "wenquanyizenhei",
    "notosanscjksc",
    "notosanscjk",
    "notosanscjkscregular",
    "sourcehansanssc",
    "sourcehansans",
    "sourcehansanscn",
    "notoserifcjksc",
    "droidsansfallback",
    "simhei",
    "microsoftyahei",
    "msyh",
    "pingfangsc",
    "pingfang",
    "heitisc",
    "stheiti",
    "arplumingcn",
)
EMOJI_FONT_NAMES = (
    "notocoloremoji",
    "applecoloremoji",
    "segoeuiemoji",
    "twemoji",
    "twitteremoji",
    "emojione",
    "symbola",
    "notoemoji",
    "dejavusans",
)
INSTALL_HINT = "apt install fonts-wqy-microhei (or fonts-noto-cjk; on Windows/macOS pass --font PATH)"
_MISSING_PROBE = "\ue000"  # private use: no font we ask for draws it, so it shows the missing-glyph box
_JOINERS = {"\ufe0f", "\ufe0e", "\u200d"}  # variation selectors and ZWJ draw nothing on their own
_CACHE_LIMIT = 2000


def find_cjk_font() -> str | None:
    for name in CJK_FONT_NAMES:
        path = pygame.font.match_font(name)
        if path:
            return path
    return None


class FontSet:
    """Sized fonts and a cache of rendered text, for one CJK font and any emoji fonts found."""

    def __init__(self, cjk_path: str | Path | None = None) -> None:
        if not pygame.font.get_init():
            pygame.font.init()
        path = str(cjk_path) if cjk_path else find_cjk_font()
        if path is None:
            log.warning("no Chinese font found, names will show as boxes; install one: %s", INSTALL_HINT)
        self.cjk_path = path
        self._emoji_paths = [p for p in dict.fromkeys(pygame.font.match_font(n) for n in EMOJI_FONT_NAMES) if p]
        self._fonts: dict[tuple[str | None, int], pygame.font.Font] = {}
        self._text: dict[tuple[str, int, tuple[int, ...], bool], pygame.Surface] = {}
        self._emoji: dict[tuple[str, int], pygame.Surface | None] = {}
        self._missing: dict[tuple[str | None, int], bytes] = {}

    def font(self, size: int) -> pygame.font.Font:
        key = (self.cjk_path, max(6, size))
        font = self._fonts.get(key)
        if font is None:
            try:
                font = pygame.font.Font(key[0], key[1])
            except (OSError, pygame.error) as error:
                log.warning("cannot open font %s: %s; using pygame's default", key[0], error)
                font = pygame.font.Font(None, key[1])
            self._fonts[key] = font
        return font

    def render(self, text: str, size: int, color: tuple[int, int, int], bold: bool = False) -> pygame.Surface:
        key = (text, size, color, bold)
        surface = self._text.get(key)
        if surface is None:
            if len(self._text) > _CACHE_LIMIT:
                self._text.clear()  # speech changes all the time; a bounded cache is plenty
            font = self.font(size)
            font.set_bold(bold)
            surface = font.render(text, True, color)
            font.set_bold(False)
            self._text[key] = surface
        return surface

    def width(self, text: str, size: int) -> int:
        return self.font(size).size(text)[0]

    def draws(self, text: str, size: int) -> bool:
        """Whether the CJK font has a glyph for every character of ``text``."""
        return self._draws(self.font(size), (self.cjk_path, size), text)

    def _draws(self, font: pygame.font.Font, key: tuple[str | None, int], text: str) -> bool:
        box = self._missing.get(key)
        if box is None:
            box = self._missing[key] = _pixels(font, _MISSING_PROBE)
        return all(_pixels(font, ch) != box for ch in text if ch not in _JOINERS)

    def emoji(self, text: str, size: int) -> pygame.Surface | None:
        """The emoji drawn ``size`` pixels high by the first font that has it, or None when none does."""
        key = (text, size)
        if key in self._emoji:
            return self._emoji[key]
        surface = None
        if text.strip():
            for path in self._emoji_paths:
                font = self._emoji_font(path, size)
                if font is not None and self._draws(font, (path, size), text):
                    surface = font.render("".join(ch for ch in text if ch != "\ufe0e"), True, (20, 20, 20))
                    if surface.get_height() != size:
                        # Colour emoji fonts are bitmaps of one size (109 px for Noto): scale to fit.
                        scale = size / max(1, surface.get_height())
                        surface = pygame.transform.smoothscale(
                            surface, (max(1, round(surface.get_width() * scale)), size)
                        )
                    break
        self._emoji[key] = surface
        return surface

    def _emoji_font(self, path: str, size: int) -> pygame.font.Font | None:
        key = (path, size)
        if key in self._fonts:
            return self._fonts[key]
        font: pygame.font.Font | None
        try:
            font = pygame.font.Font(path, size)
        except (OSError, pygame.error):
            try:
                font = pygame.font.Font(path, 109)  # bitmap-only colour fonts open at their one size
            except (OSError, pygame.error) as error:
                log.debug("emoji font %s unusable: %s", path, error)
                font = None
        if font is not None:
            self._fonts[key] = font
        return font


def _pixels(font: pygame.font.Font, text: str) -> bytes:
    surface = font.render(text, False, (0, 0, 0), (255, 255, 255))
    size = surface.get_size()
    return bytes(f"{size}", "ascii") + pygame.image.tobytes(surface, "RGB")
