"""The report's plots, each an inline SVG string drawn from :class:`RunData`."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from luotuo_rpg.phrases import number, phrase, phrases
from luotuo_rpg.report.data import RunData, Segment
from luotuo_rpg.report.svg import (
    Svg,
    heat_colour,
    nice_ticks,
    palette,
    shade,
    short,
    text_width,
)
from luotuo_rpg.world.places import room_of
from luotuo_rpg.world.spec import PLACE_SEPARATOR

_AXIS = "#888"
_GRID = "#e6e6e6"
_INK = "#333"
_MUTED = "#777"


@dataclass(frozen=True)
class Plot:
    key: str
    title: str
    caption: str
    svg: str


# --- shared helpers ---------------------------------------------------------------------


def _say(data: RunData, key: str, **values: object) -> str:
    """The phrase ``key`` in the world's language."""
    return phrase(data.language, key, **values)


def _area_colours(data: RunData) -> dict[str, str]:
    return {area.name: area.color for area in data.spec.areas}


def _room_colours(data: RunData) -> dict[str, str]:
    """Each room its own colour: the room's if the world gives one, else a shade of its area's."""
    colours = {}
    for area in data.spec.areas:
        count = len(area.rooms)
        for index, room in enumerate(area.rooms):
            colours[f"{area.name}/{room.name}"] = room.color or shade(area.color, (index - (count - 1) / 2) * 0.07)
    return colours


def _place_colour(place: str, rooms: dict[str, str], areas: dict[str, str]) -> str:
    return rooms.get(room_of(place)) or areas.get(place.split(PLACE_SEPARATOR)[0], "#bdbdbd")


def _hours(data: RunData, ticks: int) -> float:
    return ticks * data.spec.world.tick_seconds / 3600


def _time_label(data: RunData, tick: int, with_date: bool) -> str:
    when = data.clock.time_at(tick)
    return f"{when.month}/{when.day} {when:%H:%M}" if with_date else f"{when:%H:%M}"


def _time_axis(svg: Svg, data: RunData, x0: float, y: float, width: float, start: int, end: int) -> None:
    """Ticks and labels at round hours between ticks ``start`` and ``end`` (at most about ten)."""
    span_hours = max(_hours(data, end - start), 1e-9)
    step = next((h for h in (1, 2, 3, 4, 6, 12, 24, 48, 96) if span_hours / h <= 10), 168)
    first = data.clock.time_at(start)
    mark = first.replace(minute=0, second=0, microsecond=0)
    if mark < first:
        mark += dt.timedelta(hours=1)
    while mark.hour % min(step, 24) != 0:
        mark += dt.timedelta(hours=1)
    multi_day = data.clock.date(start) != data.clock.date(max(start, end - 1))
    while True:
        tick = round((mark - data.clock.start).total_seconds() / data.spec.world.tick_seconds)
        if tick > end:
            break
        x = x0 + (tick - start) / max(end - start, 1) * width
        svg.line(x, y, x, y + 4, _AXIS)
        svg.text(x, y + 16, _time_label(data, tick, multi_day and (mark.hour == 0 or step >= 24)), 10, "middle", _MUTED)
        mark += dt.timedelta(hours=step)


def _value_axis(svg: Svg, x0: float, y0: float, width: float, height: float, top: float, unit: str = "") -> float:
    """Horizontal gridlines with labels; returns the axis maximum."""
    ticks = nice_ticks(top)
    top = ticks[-1] or 1
    for value in ticks:
        y = y0 + height - value / top * height
        svg.line(x0, y, x0 + width, y, _GRID)
        svg.text(x0 - 6, y + 4, f"{value:g}{unit}", 10, "end", _MUTED)
    svg.line(x0, y0 + height, x0 + width, y0 + height, _AXIS)
    return top


def _legend(svg: Svg, items: list[tuple[str, str]], x: float, y: float, width: float, size: float = 11) -> float:
    """Swatches and labels flowed into rows; returns the height used."""
    cx, cy = x, y
    for label, colour in items:
        w = 15 + text_width(label, size) + 16
        if cx + w > x + width and cx > x:
            cx, cy = x, cy + size + 8
        svg.rect(cx, cy, 11, 11, colour, rx=2)
        svg.text(cx + 15, cy + 10, label, size, fill=_INK)
        cx += w
    return cy - y + size + 8


# --- 1. each agent's day -----------------------------------------------------------------


def timelines(data: RunData) -> list[Plot]:
    """One chart per game day: a row per agent, a bar per action, coloured by the place's area."""
    ticks = data.frames.ticks
    if ticks == 0:
        return []
    colours = _area_colours(data)
    rooms = _room_colours(data)
    per_day = round(24 * 3600 / data.spec.world.tick_seconds)
    start_of = data.clock.start.replace(hour=0, minute=0, second=0, microsecond=0)
    first_midnight = round((start_of - data.clock.start).total_seconds() / data.spec.world.tick_seconds)
    plots = []
    day = 0
    while first_midnight + day * per_day < ticks:
        lo = first_midnight + day * per_day
        hi = lo + per_day
        date = data.clock.date(max(lo, 0))
        plots.append(_timeline_day(data, colours, rooms, lo, hi, day, date))
        day += 1
    return plots


def _timeline_day(
    data: RunData, colours: dict[str, str], rooms: dict[str, str], lo: int, hi: int, day: int, date: str
) -> Plot:
    names = [p.name for p in data.spec.personas]
    left, top, row, gap, width = 96, 10, 16, 4, 900
    height = top + len(names) * (row + gap) + 28
    used_areas: dict[str, str] = {}
    svg = Svg(left + width + 16, 0, f"timeline-{day}", _say(data, "plot_timeline_label", date=date))
    scale = width / (hi - lo)
    for index, name in enumerate(names):
        y = top + index * (row + gap)
        svg.text(left - 8, y + row - 4, short(name, number(data.language, "plot_name_chars")), 12, "end", _INK)
        svg.rect(left, y, width, row, "#f5f5f5")
        for seg in data.frames.segments[index]:
            if seg.end <= lo or seg.start >= hi:
                continue
            start, end = max(seg.start, lo), min(seg.end, hi)
            area = seg.place.split("/")[0]
            colour = _place_colour(seg.place, rooms, colours)
            used_areas.setdefault(area, colours.get(area, "#bdbdbd"))
            svg.rect(
                left + (start - lo) * scale,
                y,
                max((end - start) * scale, 0.6),
                row,
                colour,
                title=_segment_title(data, name, seg, start, end),
                opacity=0.35 if seg.asleep else 1,
            )
    axis_y = top + len(names) * (row + gap)
    _time_axis(svg, data, left, axis_y, width, lo, hi)
    legend = sorted(
        used_areas.items(), key=lambda kv: [a.name for a in data.spec.areas].index(kv[0]) if kv[0] in colours else 99
    )
    keys = [(area or _say(data, "plot_no_area"), colour) for area, colour in legend]
    used = _legend(svg, keys + [(_say(data, "plot_asleep_key"), "#cfcfcf")], left, height, width)
    svg.height = height + used + 4
    return Plot(
        f"timeline-{day}",
        _say(data, "plot_timeline_title", date=date),
        _say(data, "plot_timeline_caption"),
        svg.render(),
    )


def _segment_title(data: RunData, name: str, seg: Segment, start: int, end: int) -> str:
    return _say(
        data,
        "plot_segment",
        name=name,
        start=_time_label(data, start, False),
        end=_time_label(data, end, False),
        action=seg.action,
        place=seg.place or "—",
    )


# --- 2. where people spent their time ----------------------------------------------------


def heatmap(data: RunData) -> Plot:
    rows = data.spec.map.lines()
    h, w = len(rows), max(len(r) for r in rows)
    cell = max(6, min(24, 900 // max(w, 1)))
    left, top = 4, 4
    svg = Svg(left + w * cell + 4, top + h * cell + 56, "heatmap", _say(data, "plot_heatmap_title"))
    legend = data.spec.map.legend
    for y, line in enumerate(rows):
        x = 0
        while x < len(line):
            char = line[x]
            run = x
            while run < len(line) and line[run] == char:
                run += 1
            tile = legend.get(char)
            colour = tile.color if tile else "#ffffff"
            walkable = tile.walkable if tile else False
            svg.rect(left + x * cell, top + y * cell, (run - x) * cell, cell, colour, opacity=0.35 if walkable else 0.9)
            x = run
    heat = data.frames.heat
    peak = int(heat.max()) if heat.size else 0
    hours_per_tick = data.spec.world.tick_seconds / 3600
    if peak > 0:
        scale = math.log1p(peak)
        for y, x in zip(*heat.nonzero()):
            count = int(heat[y, x])
            svg.rect(
                left + x * cell,
                top + y * cell,
                cell,
                cell,
                heat_colour(math.log1p(count) / scale),
                title=_say(data, "plot_heat_tile", x=x, y=y, hours=f"{count * hours_per_tick:.1f}"),
                opacity=0.9,
            )
    for area in data.spec.areas:
        for room in area.rooms:
            rx, ry, rw, rh = room.rect
            svg.rect(
                left + rx * cell, top + ry * cell, rw * cell, rh * cell, "none", stroke=area.color, stroke_width=1.5
            )
            if rw * cell >= 30:
                svg.text(
                    left + rx * cell + 2,
                    top + ry * cell + 10,
                    short(room.name, max(2, rw * cell // 11)),
                    9,
                    fill="#222",
                    opacity=0.8,
                )
    # colour bar
    bar_y = top + h * cell + 14
    steps = 20
    bar_w = min(300, w * cell - 80)
    for i in range(steps):
        svg.rect(left + 40 + i * bar_w / steps, bar_y, bar_w / steps + 0.5, 10, heat_colour(i / (steps - 1)))
    svg.text(left + 36, bar_y + 9, "0", 10, "end", _MUTED)
    scale_label = _say(data, "plot_heat_scale", hours=f"{peak * hours_per_tick:.1f}")
    svg.text(left + 44 + bar_w, bar_y + 9, scale_label, 10, fill=_MUTED)
    return Plot("heatmap", _say(data, "plot_heatmap_title"), _say(data, "plot_heatmap_caption"), svg.render())


# --- 3. who talked to whom ------------------------------------------------------------------


def network(data: RunData) -> Plot:
    names = [p.name for p in data.spec.personas]
    colours = [p.color for p in data.spec.personas]
    n = len(names)
    size = 620 if n > 12 else 480
    centre = size / 2
    radius = size / 2 - 90
    svg = Svg(size, size, "network", _say(data, "plot_network_title"))
    points = [
        (
            centre + radius * math.cos(2 * math.pi * i / n - math.pi / 2),
            centre + radius * math.sin(2 * math.pi * i / n - math.pi / 2),
        )
        for i in range(n)
    ]
    pairs = data.frames.conversations
    most = max(pairs.values(), default=1)
    for (a, b), count in sorted(pairs.items(), key=lambda kv: kv[1]):
        if a >= n or b >= n:
            continue
        (x1, y1), (x2, y2) = points[a], points[b]
        weight = count / most
        lines = data.frames.lines.get((a, b), 0)
        svg.raw(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#546e7a" '
            f'stroke-width="{1 + 7 * weight:.2f}" stroke-opacity="{0.25 + 0.6 * weight:.2f}" stroke-linecap="round">'
            f"<title>{_say(data, 'plot_network_pair', a=names[a], b=names[b], count=count, lines=lines)}</title></line>"
        )
        if count > 1 and (n <= 12 or weight >= 0.75):
            svg.text(
                (x1 + x2) / 2,
                (y1 + y2) / 2 + 4,
                str(count),
                10,
                "middle",
                "#37474f",
                paint_order="stroke",
                stroke="#fff",
                stroke_width=3,
            )
    said_most = max(data.frames.said.values(), default=1)
    for i, ((x, y), name) in enumerate(zip(points, names)):
        said = data.frames.said.get(i, 0)
        talks = sum(c for pair, c in pairs.items() if i in pair)
        r = 5 + 9 * math.sqrt(said / said_most) if said_most else 5
        title = _say(data, "plot_network_person", name=name, talks=talks, said=said)
        svg.circle(x, y, r, colours[i], title=title, stroke="#fff", stroke_width=1.5)
        angle = math.atan2(y - centre, x - centre)
        lx, ly = centre + (radius + r + 8) * math.cos(angle), centre + (radius + r + 8) * math.sin(angle)
        anchor = "start" if math.cos(angle) > 0.2 else "end" if math.cos(angle) < -0.2 else "middle"
        svg.text(lx, ly + 4, name, 12, anchor, _INK)
    total = sum(pairs.values())
    svg.text(8, size - 8, _say(data, "plot_network_total", total=total, pairs=len(pairs)), 11, fill=_MUTED)
    return Plot("network", _say(data, "plot_network_title"), _say(data, "plot_network_caption"), svg.render())


# --- 4. memories and reflections ----------------------------------------------------------


def _line_chart(
    data: RunData,
    key: str,
    label: str,
    series: list[tuple[str, str, list[tuple[int, float]]]],
    unit: str = "",
    markers: list[tuple[int, str]] | None = None,
    end_dots: list[tuple[str, float, str]] | None = None,
) -> Svg:
    left, top, width, height = 56, 14, 860, 240
    end = max(data.frames.ticks, max((p[-1][0] for _, _, p in series if p), default=1), 1)
    svg = Svg(left + width + 60, top + height + 30, key, label)
    peak = max((v for _, _, pts in series for _, v in pts), default=1)
    peak = max([peak] + [v for _, v, _ in end_dots or []])
    top_value = _value_axis(svg, left, top, width, height, peak, unit)

    def xy(tick: int, value: float) -> tuple[float, float]:
        return left + tick / end * width, top + height - value / top_value * height

    for index, (tick, text) in enumerate(markers or []):
        if 0 <= tick <= end:
            x = xy(tick, 0)[0]
            svg.line(x, top, x, top + height, "#999", 1, stroke_dasharray="4 3")
            # staggered: events close in time would print over each other
            svg.text(
                x + 3,
                top + 10 + 12 * (index % 3),
                text,
                10,
                fill=_MUTED,
                paint_order="stroke",
                stroke="#fff",
                stroke_width=3,
            )
    for name, colour, points in series:
        title = _say(data, "plot_value", name=name, value=f"{points[-1][1]:g}") if points else name
        svg.polyline([xy(t, v) for t, v in points], colour, 1.6, title=title)
        if len(points) == 1:
            x, y = xy(*points[0])
            svg.circle(x, y, 3, colour, title=name)
    for name, value, colour in end_dots or []:
        x, y = xy(end, value)
        title = _say(data, "plot_final_value", name=name, value=f"{value:g}")
        svg.circle(x, y, 4.5, colour, title=title, stroke="#fff", stroke_width=1.5)
        svg.text(x + 8, y + 4, f"{value:g}", 10, fill=colour)
    _time_axis(svg, data, left, top + height, width, 0, end)
    return svg


def memories(data: RunData) -> Plot:
    history = data.history
    names = [p.name for p in data.spec.personas]
    colours = [p.color for p in data.spec.personas]
    series = [
        (name, colours[i], [(pt.tick, float(pt.memories[i])) for pt in history if i < len(pt.memories)])
        for i, name in enumerate(names)
    ]
    end_dots = []
    if data.summary is not None and not history:
        end_dots = [
            (a.name, float(a.memories), colours[i]) for i, a in enumerate(data.summary.agents) if i < len(colours)
        ]
    svg = _line_chart(data, "memories", _say(data, "plot_memories_label"), series, end_dots=end_dots)
    source = _say(data, "plot_memories_from_history" if history else "plot_memories_from_summary")
    caption = _say(data, "plot_memories_caption", source=source)
    return Plot("memories", _say(data, "plot_memories_title"), caption, svg.render())


def reflections(data: RunData) -> Plot:
    facts = data.frames
    end = max(facts.ticks, 1)

    def cumulative(marks: list[tuple[int, int]]) -> list[tuple[int, float]]:
        points: list[tuple[int, float]] = [(0, 0.0)]
        for count, (tick, _) in enumerate(sorted(marks), start=1):
            points += [(tick, float(count - 1)), (tick, float(count))]
        points.append((end, float(len(marks))))
        return points

    series = [
        (_say(data, "plot_reflect_series"), "#8e24aa", cumulative(facts.reflections)),
        (_say(data, "plot_plan_series"), "#1e88e5", cumulative(facts.plans)),
    ]
    if data.history:
        series.append(
            (
                _say(data, "plot_thought_series"),
                "#43a047",
                [(pt.tick, float(sum(pt.thoughts))) for pt in data.history],
            )
        )
    svg = _line_chart(data, "reflections", _say(data, "plot_reflections_label"), series)
    used = _legend(svg, [(name, colour) for name, colour, _ in series], 56, svg.height, 860)
    svg.height += used
    caption = _say(data, "plot_reflections_caption")
    return Plot("reflections", _say(data, "plot_reflections_title"), caption, svg.render())


# --- 5. the model's bill ---------------------------------------------------------------------


def llm_requests(data: RunData) -> Plot:
    stats = data.llm
    kinds = sorted(stats.by_kind.items(), key=lambda kv: -kv[1].requests) if stats else []
    left, top, row, width = 150, 10, 22, 640
    label = _say(data, "plot_requests_label")
    svg = Svg(left + width + 150, top + max(len(kinds), 1) * row + 60, "llm-requests", label)
    most = max((k.requests for _, k in kinds), default=1) or 1
    for i, (kind, k) in enumerate(kinds):
        y = top + i * row
        svg.text(left - 8, y + 14, kind, 12, "end", _INK)
        ok = k.requests - k.fallbacks
        title = _say(data, "plot_requests_bar", kind=kind, count=k.requests)
        svg.rect(left, y + 3, ok / most * width, row - 6, "#4e79a7", title=title)
        if k.repairs:
            title = _say(data, "plot_repairs_bar", kind=kind, count=k.repairs)
            svg.rect(left, y + row - 6, k.repairs / most * width, 3, "#f28e2b", title=title)
        if k.fallbacks:
            svg.rect(
                left + ok / most * width,
                y + 3,
                k.fallbacks / most * width,
                row - 6,
                "#e15759",
                title=_say(data, "plot_fallbacks_bar", kind=kind, count=k.fallbacks),
            )
        svg.text(
            left + k.requests / most * width + 6,
            y + 15,
            f"{k.requests}" + (_say(data, "plot_requests_fallbacks", count=k.fallbacks) if k.fallbacks else ""),
            11,
            fill=_MUTED,
        )
    if not kinds:
        svg.text(left, top + 14, _say(data, "plot_no_requests"), 12, fill=_MUTED)
    axis_y = top + max(len(kinds), 1) * row + 6
    keys = zip(phrases(data.language, "plot_requests_keys"), ("#4e79a7", "#e15759", "#f28e2b"), strict=True)
    _legend(svg, list(keys), left, axis_y + 8, width)
    caption = _say(data, "plot_requests_caption")
    return Plot("llm-requests", _say(data, "plot_requests_title"), caption, svg.render())


def llm_tokens(data: RunData) -> Plot:
    stats = data.llm
    kinds = sorted(stats.by_kind.items(), key=lambda kv: -(kv[1].tokens_in + kv[1].tokens_out)) if stats else []
    left, top, row, width = 150, 10, 22, 640
    label = _say(data, "plot_tokens_label")
    svg = Svg(left + width + 150, top + max(len(kinds), 1) * row + 60, "llm-tokens", label)
    most = max((k.tokens_in + k.tokens_out for _, k in kinds), default=1) or 1
    for i, (kind, k) in enumerate(kinds):
        y = top + i * row
        svg.text(left - 8, y + 14, kind, 12, "end", _INK)
        w_in, w_out = k.tokens_in / most * width, k.tokens_out / most * width
        title = _say(data, "plot_tokens_in_bar", kind=kind, count=f"{k.tokens_in:,}")
        svg.rect(left, y + 3, w_in, row - 6, "#76b7b2", title=title)
        title = _say(data, "plot_tokens_out_bar", kind=kind, count=f"{k.tokens_out:,}")
        svg.rect(left + w_in, y + 3, w_out, row - 6, "#59a14f", title=title)
        svg.text(left + w_in + w_out + 6, y + 15, f"{k.tokens_in + k.tokens_out:,}", 11, fill=_MUTED)
    if not kinds:
        svg.text(left, top + 14, _say(data, "plot_no_requests"), 12, fill=_MUTED)
    axis_y = top + max(len(kinds), 1) * row + 6
    keys = zip(phrases(data.language, "plot_tokens_keys"), ("#76b7b2", "#59a14f"), strict=True)
    _legend(svg, list(keys), left, axis_y + 8, width)
    estimate = _say(data, "plot_tokens_estimated") if stats and stats.backend == "offline" else ""
    caption = _say(data, "plot_tokens_caption", estimate=estimate)
    return Plot("llm-tokens", _say(data, "plot_tokens_title"), caption, svg.render())


# --- 6. how news spread ------------------------------------------------------------------------


def event_spread(data: RunData) -> Plot:
    events = data.spec.events
    n = len(data.spec.personas)
    series = []
    markers = []
    end_dots = []
    final = {e.what: e for e in data.summary.events} if data.summary else {}
    for i, event in enumerate(events):
        colour = palette(i)
        points = [(pt.tick, float(pt.knowers.get(event.what, 0))) for pt in data.history]
        if not points or points[0][0] > 0:
            points.insert(0, (0, float(len(event.known_by))))  # at the start only those named in the world file know
        series.append((short(event.what, 40), colour, points))
        start = data.clock.tick_of(event.when)
        markers.append((start, _say(data, "plot_event_begins", number=i + 1)))
        if event.what in final:
            known = _say(data, "plot_event_known_at_end", number=i + 1)
            end_dots.append((known, float(final[event.what].known_at_end), colour))
    label = _say(data, "plot_spread_label")
    svg = _line_chart(data, "event-spread", label, series, markers=markers, end_dots=end_dots)
    svg.text(svg.width - 8, 12, _say(data, "plot_people", count=n), 10, "end", _MUTED)
    keys = [
        (_say(data, "report_event_named", number=i + 1, injected="", what=short(e.what, 36)), palette(i))
        for i, e in enumerate(events)
    ]
    svg.height += _legend(svg, keys, 56, svg.height, 860)
    source = _say(data, "plot_spread_source" if data.history else "plot_spread_no_history")
    caption = _say(data, "plot_spread_caption", source=source)
    return Plot("event-spread", _say(data, "plot_spread_title"), caption, svg.render())
