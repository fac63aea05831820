"""A few SVG primitives and colour helpers: the report draws its own plots (no matplotlib, no CDN)."""

from __future__ import annotations

import colorsys
import math
from html import escape

FONT_FAMILY = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif'

# A qualitative palette for things without a colour of their own (kinds, events).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


def _num(value: float) -> str:
    """Short numbers keep the page small: 12.5, not 12.500000001."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _attrs(attrs: dict[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        text = _num(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        parts.append(f'{name}="{escape(text, quote=True)}"')
    return " ".join(parts)


class Svg:
    """An SVG document built element by element; ``title`` children become tooltips."""

    def __init__(self, width: float, height: float, plot: str, label: str):
        self.width = width
        self.height = height
        self.plot = plot
        self.label = label
        self._parts: list[str] = []

    def _add(self, tag: str, attrs: dict[str, object], title: str | None = None, text: str | None = None) -> None:
        inner = ""
        if title:
            inner += f"<title>{escape(title)}</title>"
        if text is not None:
            inner += escape(text)
        attr = _attrs(attrs)
        self._parts.append(f"<{tag} {attr}>{inner}</{tag}>" if inner else f"<{tag} {attr}/>")

    def rect(
        self, x: float, y: float, w: float, h: float, fill: str, title: str | None = None, **attrs: object
    ) -> None:
        self._add("rect", {"x": x, "y": y, "width": max(w, 0), "height": max(h, 0), "fill": fill, **attrs}, title)

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1, **attrs: object) -> None:
        self._add("line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke, "stroke_width": width, **attrs})

    def circle(self, cx: float, cy: float, r: float, fill: str, title: str | None = None, **attrs: object) -> None:
        self._add("circle", {"cx": cx, "cy": cy, "r": r, "fill": fill, **attrs}, title)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float = 12,
        anchor: str = "start",
        fill: str = "#333",
        **attrs: object,
    ) -> None:
        self._add("text", {"x": x, "y": y, "font_size": size, "text_anchor": anchor, "fill": fill, **attrs}, text=text)

    def polyline(
        self,
        points: list[tuple[float, float]],
        stroke: str,
        width: float = 1.5,
        title: str | None = None,
        **attrs: object,
    ) -> None:
        if not points:
            return
        coords = " ".join(f"{_num(round(x, 2))},{_num(round(y, 2))}" for x, y in points)
        self._add(
            "polyline", {"points": coords, "fill": "none", "stroke": stroke, "stroke_width": width, **attrs}, title
        )

    def raw(self, markup: str) -> None:
        self._parts.append(markup)

    def render(self) -> str:
        head = _attrs(
            {
                "xmlns": "http://www.w3.org/2000/svg",
                "class": "plot",
                "data_plot": self.plot,
                "role": "img",
                "aria_label": self.label,
                "viewBox": f"0 0 {_num(self.width)} {_num(self.height)}",
                "width": self.width,
                "height": self.height,
                "font_family": FONT_FAMILY,
            }
        )
        return f"<svg {head}>" + "".join(self._parts) + "</svg>"


def heat_colour(fraction: float) -> str:
    """0 → pale yellow, 1 → dark red (a perceptually ordered ramp, like YlOrRd)."""
    stops = ((255, 255, 204), (254, 217, 118), (253, 141, 60), (227, 26, 28), (128, 0, 38))
    fraction = min(max(fraction, 0.0), 1.0) * (len(stops) - 1)
    low = min(int(fraction), len(stops) - 2)
    t = fraction - low
    a, b = stops[low], stops[low + 1]
    r, g, bl = (round(a[i] + (b[i] - a[i]) * t) for i in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def palette(index: int) -> str:
    if index < len(PALETTE):
        return PALETTE[index]
    hue = (index * 0.618033988749895) % 1.0  # golden-ratio hues stay apart for any count
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.85)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round axis values from 0 to at least ``top``."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    values = []
    value = 0.0
    while value < top + step * 0.999:
        values.append(round(value, 10))
        value += step
    return values


def shade(colour: str, amount: float) -> str:
    """``colour`` made lighter (amount > 0) or darker (< 0), keeping its hue."""
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, light, sat = colorsys.rgb_to_hls(r, g, b)
    light = min(max(light + amount, 0.2), 0.88)
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def text_width(text: str, size: float) -> float:
    """Rough rendered width: CJK glyphs are square, Latin ones about half as wide."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.58 for ch in text)


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
