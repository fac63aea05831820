"""The report's plots, each an inline SVG string drawn from :class:`RunData`."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

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
    svg = Svg(left + width + 16, 0, f"timeline-{day}", f"{date} 每个人的一天")
    scale = width / (hi - lo)
    for index, name in enumerate(names):
        y = top + index * (row + gap)
        svg.text(left - 8, y + row - 4, short(name, 7), 12, "end", _INK)
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
    used = _legend(
        svg, [(area or "（无）", colour) for area, colour in legend] + [("浅色 = 睡觉", "#cfcfcf")], left, height, width
    )
    svg.height = height + used + 4
    return Plot(
        f"timeline-{day}",
        f"每个人的一天 · {date}",
        "每行一人，每段一件事；颜色是地点所在的区域，深浅区分区域里的房间；浅色是在睡觉。"
        "把鼠标停在色块上可看具体做什么、在哪儿。",
        svg.render(),
    )


def _segment_title(data: RunData, name: str, seg: Segment, start: int, end: int) -> str:
    return (
        f"{name} {_time_label(data, start, False)}–{_time_label(data, end, False)}：{seg.action}（{seg.place or '—'}）"
    )


# --- 2. where people spent their time ----------------------------------------------------


def heatmap(data: RunData) -> Plot:
    rows = data.spec.map.lines()
    h, w = len(rows), max(len(r) for r in rows)
    cell = max(6, min(24, 900 // max(w, 1)))
    left, top = 4, 4
    svg = Svg(left + w * cell + 4, top + h * cell + 56, "heatmap", "人们在哪儿度过时间")
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
                title=f"({x}, {y})：{count * hours_per_tick:.1f} 人·小时",
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
    svg.text(left + 44 + bar_w, bar_y + 9, f"{peak * hours_per_tick:.1f} 人·小时（对数色阶）", 10, fill=_MUTED)
    return Plot(
        "heatmap",
        "人们在哪儿度过时间",
        "每格是地图上的一块地砖；颜色越深，醒着的人在那里待得越久（睡觉的时间不计）。框线是房间。",
        svg.render(),
    )


# --- 3. who talked to whom ------------------------------------------------------------------


def network(data: RunData) -> Plot:
    names = [p.name for p in data.spec.personas]
    colours = [p.color for p in data.spec.personas]
    n = len(names)
    size = 620 if n > 12 else 480
    centre = size / 2
    radius = size / 2 - 90
    svg = Svg(size, size, "network", "谁和谁聊过天")
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
            f"<title>{names[a]} ↔ {names[b]}：聊了 {count} 次，{lines} 句</title></line>"
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
        svg.circle(
            x, y, r, colours[i], title=f"{name}：{talks} 次聊天，说了 {said} 句", stroke="#fff", stroke_width=1.5
        )
        angle = math.atan2(y - centre, x - centre)
        lx, ly = centre + (radius + r + 8) * math.cos(angle), centre + (radius + r + 8) * math.sin(angle)
        anchor = "start" if math.cos(angle) > 0.2 else "end" if math.cos(angle) < -0.2 else "middle"
        svg.text(lx, ly + 4, name, 12, anchor, _INK)
    total = sum(pairs.values())
    svg.text(8, size - 8, f"共 {total} 次聊天，{len(pairs)} 对人", 11, fill=_MUTED)
    return Plot(
        "network",
        "谁和谁聊过天",
        "点是人（越大说的话越多），线是聊过天的两个人，越粗聊得越多。",
        svg.render(),
    )


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
        svg.polyline([xy(t, v) for t, v in points], colour, 1.6, title=f"{name}：{points[-1][1]:g}" if points else name)
        if len(points) == 1:
            x, y = xy(*points[0])
            svg.circle(x, y, 3, colour, title=name)
    for name, value, colour in end_dots or []:
        x, y = xy(end, value)
        svg.circle(x, y, 4.5, colour, title=f"{name}：{value:g}（summary.json）", stroke="#fff", stroke_width=1.5)
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
    svg = _line_chart(data, "memories", "每个人记忆流的长度", series, end_dots=end_dots)
    source = "来自检查点历史（每个检查点一个点）" if history else "没有检查点历史：只画出了 summary.json 的最终数"
    return Plot(
        "memories",
        "记忆随时间增长",
        f"每条线是一个人记忆流里的条目数（观察、对话、想法、计划）。{source}。",
        svg.render(),
    )


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
        ("反思（frames 中的 reflect 事件）", "#8e24aa", cumulative(facts.reflections)),
        ("日计划（plan 事件）", "#1e88e5", cumulative(facts.plans)),
    ]
    if data.history:
        series.append(
            (
                "反思得出的想法（检查点里引用了记忆的 thought）",
                "#43a047",
                [(pt.tick, float(sum(pt.thoughts))) for pt in data.history],
            )
        )
    svg = _line_chart(data, "reflections", "反思与计划的累计次数", series)
    used = _legend(svg, [(name, colour) for name, colour, _ in series], 56, svg.height, 860)
    svg.height += used
    return Plot(
        "reflections", "反思与计划", "全镇累计：每次反思、每天早上的日计划，以及反思写进记忆的想法条数。", svg.render()
    )


# --- 5. the model's bill ---------------------------------------------------------------------


def llm_requests(data: RunData) -> Plot:
    stats = data.llm
    kinds = sorted(stats.by_kind.items(), key=lambda kv: -kv[1].requests) if stats else []
    left, top, row, width = 150, 10, 22, 640
    svg = Svg(left + width + 150, top + max(len(kinds), 1) * row + 60, "llm-requests", "按类型的请求数")
    most = max((k.requests for _, k in kinds), default=1) or 1
    for i, (kind, k) in enumerate(kinds):
        y = top + i * row
        svg.text(left - 8, y + 14, kind, 12, "end", _INK)
        ok = k.requests - k.fallbacks
        svg.rect(left, y + 3, ok / most * width, row - 6, "#4e79a7", title=f"{kind}：{k.requests} 次请求")
        if k.repairs:
            svg.rect(left, y + row - 6, k.repairs / most * width, 3, "#f28e2b", title=f"{kind}：{k.repairs} 次修复重问")
        if k.fallbacks:
            svg.rect(
                left + ok / most * width,
                y + 3,
                k.fallbacks / most * width,
                row - 6,
                "#e15759",
                title=f"{kind}：{k.fallbacks} 次回退到离线规则",
            )
        svg.text(
            left + k.requests / most * width + 6,
            y + 15,
            f"{k.requests}" + (f"（回退 {k.fallbacks}）" if k.fallbacks else ""),
            11,
            fill=_MUTED,
        )
    if not kinds:
        svg.text(left, top + 14, "没有模型请求的记录", 12, fill=_MUTED)
    axis_y = top + max(len(kinds), 1) * row + 6
    _legend(
        svg,
        [("成功", "#4e79a7"), ("回退（fallback）", "#e15759"), ("修复重问（repair）", "#f28e2b")],
        left,
        axis_y + 8,
        width,
    )
    return Plot(
        "llm-requests", "模型请求（按类型）", "每类请求的次数；红色是答案不可用、改用离线规则回答的次数。", svg.render()
    )


def llm_tokens(data: RunData) -> Plot:
    stats = data.llm
    kinds = sorted(stats.by_kind.items(), key=lambda kv: -(kv[1].tokens_in + kv[1].tokens_out)) if stats else []
    left, top, row, width = 150, 10, 22, 640
    svg = Svg(left + width + 150, top + max(len(kinds), 1) * row + 60, "llm-tokens", "按类型的 token 数")
    most = max((k.tokens_in + k.tokens_out for _, k in kinds), default=1) or 1
    for i, (kind, k) in enumerate(kinds):
        y = top + i * row
        svg.text(left - 8, y + 14, kind, 12, "end", _INK)
        w_in, w_out = k.tokens_in / most * width, k.tokens_out / most * width
        svg.rect(left, y + 3, w_in, row - 6, "#76b7b2", title=f"{kind}：输入 {k.tokens_in:,} token")
        svg.rect(left + w_in, y + 3, w_out, row - 6, "#59a14f", title=f"{kind}：输出 {k.tokens_out:,} token")
        svg.text(left + w_in + w_out + 6, y + 15, f"{k.tokens_in + k.tokens_out:,}", 11, fill=_MUTED)
    if not kinds:
        svg.text(left, top + 14, "没有模型请求的记录", 12, fill=_MUTED)
    axis_y = top + max(len(kinds), 1) * row + 6
    _legend(svg, [("输入 token", "#76b7b2"), ("输出 token", "#59a14f")], left, axis_y + 8, width)
    estimate = "（离线规则：token 是按提示词估算的）" if stats and stats.backend == "offline" else ""
    return Plot("llm-tokens", "token（按类型）", f"每类请求的输入与输出 token 总数{estimate}。", svg.render())


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
        markers.append((start, f"事件{i + 1} 开始"))
        if event.what in final:
            end_dots.append((f"事件{i + 1} 最终知道的人数", float(final[event.what].known_at_end), colour))
    svg = _line_chart(data, "event-spread", "每个事件有多少人知道", series, markers=markers, end_dots=end_dots)
    svg.text(svg.width - 8, 12, f"共 {n} 人", 10, "end", _MUTED)
    used = _legend(
        svg, [(f"事件{i + 1}：{short(e.what, 36)}", palette(i)) for i, e in enumerate(events)], 56, svg.height, 860
    )
    svg.height += used
    source = "折线来自各检查点（知道 = 被告知过，或记忆里提到过）；右端圆点是 summary.json 的最终人数。"
    if not data.history:
        source = "没有检查点历史：只有开始与最终人数。"
    return Plot("event-spread", "消息传开了吗", f"每个预定事件随时间有多少人知道。{source}", svg.render())
