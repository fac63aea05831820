"""Drawing one frame: the tile map with labelled places, agents, speech bubbles, the side panel.

The map itself (tiles, room colours, objects, labels) only changes with the
tile size, so it is drawn once per size and blitted; everything that moves is
drawn on top each frame. A persona's exact colour is used only for its token
on the map (borders and panel dots use shades of it), which keeps the tokens
findable in a screenshot.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pygame

from luotuo_rpg.phrases import phrase, phrases
from luotuo_rpg.server.protocol import Hello
from luotuo_rpg.viewer.fonts import FontSet
from luotuo_rpg.viewer.layout import MapLayout
from luotuo_rpg.viewer.state import Line, ViewerState
from luotuo_rpg.world.places import room_of
from luotuo_rpg.world.spec import PLACE_SEPARATOR

Color = tuple[int, int, int]

BACKGROUND: Color = (28, 31, 36)
PANEL_BG: Color = (38, 50, 56)
PANEL_TEXT: Color = (236, 239, 241)
PANEL_DIM: Color = (144, 164, 174)
ACCENT: Color = (255, 202, 40)
LABEL_TEXT: Color = (38, 50, 56)
BUBBLE_BG: Color = (255, 255, 255)
UNKNOWN_TILE: Color = (255, 0, 255)
PLACE_SHOWN = " › "
"""Places are addressed ``area/room/object``; people read them with arrows."""
PANEL_LINES = 8
"""Speech lines shown for the selected agent."""


def hex_color(value: str) -> Color:
    value = value.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def shade(color: Color, factor: float) -> Color:
    """Darker (factor < 1) or lighter (factor > 1, towards white) version of a colour."""
    if factor <= 1:
        return (int(color[0] * factor), int(color[1] * factor), int(color[2] * factor))
    mix = min(1.0, factor - 1)
    return tuple(int(c + (255 - c) * mix) for c in color)  # type: ignore[return-value]


def ink_on(color: Color) -> Color:
    """Black or white, whichever reads better on ``color``."""
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    return (20, 20, 20) if luminance > 150 else (255, 255, 255)


def show_place(address: str) -> str:
    return address.replace(PLACE_SEPARATOR, PLACE_SHOWN)


def _latin(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in ":.,-'/%")


def wrap(fonts: FontSet, text: str, size: int, width: int, max_lines: int) -> list[str]:
    """Greedy wrapping by character (Chinese has no spaces to break at), keeping runs
    of Latin letters and digits such as "19:00" whole; '…' marks a cut."""
    font = fonts.font(size)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for ch in paragraph:
            if current and font.size(current + ch)[0] > width:
                carry = ""
                if _latin(ch):
                    while current and _latin(current[-1]):
                        carry, current = current[-1] + carry, current[:-1]
                    if not current:  # one long word: cut it after all
                        current, carry = carry, ""
                lines.append(current)
                current = (carry + ch).lstrip()
            else:
                current += ch
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.size(last + "…")[0] > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


@dataclass(frozen=True)
class Room:
    address: str
    area: str
    name: str
    rect: tuple[int, int, int, int]
    color: Color


@dataclass
class PanelPen:
    """Writes wrapped lines down the side panel from ``y``, and stops at ``bottom``."""

    surface: pygame.Surface
    fonts: FontSet
    x: int
    y: int
    width: int
    bottom: int

    def write(
        self, text: str, size: int, color: Color, bold: bool = False, indent: int = 0, max_lines: int = 1
    ) -> None:
        for line in wrap(self.fonts, text, size, self.width - indent, max_lines):
            if self.y + size > self.bottom:
                return
            self.surface.blit(self.fonts.render(line, size, color, bold), (self.x + indent, self.y))
            self.y += self.fonts.font(size).get_linesize()


class Renderer:
    """Draws a :class:`ViewerState` into a surface; remembers what was clickable."""

    def __init__(self, fonts: FontSet) -> None:
        self.fonts = fonts
        self._hello: Hello | None = None
        self._rooms: list[Room] = []
        self._colors: dict[int, Color] = {}
        self._base: pygame.Surface | None = None
        self._base_tile = 0
        self.agent_rows: list[tuple[pygame.Rect, int]] = []
        """Rows of the panel's agent list and the agent each one selects."""
        self.frames_drawn = 0

    # -- the static map ---------------------------------------------------------------------------

    def _take_hello(self, hello: Hello) -> None:
        self._hello = hello
        self._base = None
        self._colors = {p.id: hex_color(p.color) for p in hello.personas}
        self._rooms = []
        for place in hello.places:
            area, _, room = place.address.partition(PLACE_SEPARATOR)
            self._rooms.append(Room(place.address, area, room or area, place.rect, hex_color(place.color)))

    def _base_map(self, hello: Hello, layout: MapLayout) -> pygame.Surface:
        if hello is not self._hello:
            self._take_hello(hello)
        if self._base is not None and self._base_tile == layout.tile:
            return self._base
        tile = layout.tile
        width, height = layout.tiles
        surface = pygame.Surface((width * tile, height * tile))
        legend = {ch: (hex_color(t.color), t.walkable) for ch, t in hello.map.legend.items()}
        room_color: dict[tuple[int, int], Color] = {}
        for room in self._rooms:
            rx, ry, rw, rh = room.rect
            for y in range(ry, ry + rh):
                for x in range(rx, rx + rw):
                    room_color[(x, y)] = room.color
        for y, row in enumerate(hello.map.rows):
            for x, ch in enumerate(row):
                color, walkable = legend.get(ch, (UNKNOWN_TILE, False))
                if walkable and (x, y) in room_color:
                    color = room_color[(x, y)]  # floors take their room's colour; walls stay walls
                rect = pygame.Rect(x * tile, y * tile, tile, tile)
                surface.fill(color, rect)
                if tile >= 10:
                    # A faint grid so a viewer can count steps.
                    edge = shade(color, 0.92)
                    pygame.draw.line(surface, edge, rect.topright, rect.bottomright)
                    pygame.draw.line(surface, edge, rect.bottomleft, rect.bottomright)
        marker = max(2, tile // 3)
        for place in hello.places:
            for ox, oy in place.objects.values():
                base = room_color.get((ox, oy), (160, 160, 160))
                rect = pygame.Rect(ox * tile + (tile - marker) // 2, oy * tile + (tile - marker) // 2, marker, marker)
                pygame.draw.rect(surface, shade(base, 0.72), rect, border_radius=max(1, marker // 4))
        self._draw_place_labels(surface, tile)
        self._base, self._base_tile = surface, tile
        return surface

    def _draw_place_labels(self, surface: pygame.Surface, tile: int) -> None:
        size = clamp(int(tile * 0.55), 10, 20)
        for room in self._rooms:
            rx, ry, rw, _ = room.rect
            room_w = rw * tile - 4
            label = room.area if room.name == room.area else f"{room.area}{PLACE_SHOWN}{room.name}"
            text_size = size
            for candidate in (label, room.name):
                label = candidate
                if self.fonts.width(label, text_size) <= room_w:
                    break
            while self.fonts.width(label, text_size) > room_w and text_size > 8:
                text_size -= 1
            text = self.fonts.render(label, text_size, LABEL_TEXT, bold=True)
            backing = pygame.Surface((min(text.get_width(), room_w) + 4, text.get_height()), pygame.SRCALPHA)
            backing.fill((255, 255, 255, 150))
            backing.blit(text, (2, 0))
            surface.blit(backing, (rx * tile + 1, ry * tile + 1))

    # -- one frame --------------------------------------------------------------------------------

    def draw(
        self,
        surface: pygame.Surface,
        state: ViewerState,
        layout: MapLayout,
        selected: int | None,
        status: str,
        notice: str = "",
    ) -> None:
        self.frames_drawn += 1
        surface.fill(BACKGROUND)
        surface.blit(self._base_map(state.hello, layout), layout.origin)
        map_clip = pygame.Rect(layout.map_rect)
        surface.set_clip(map_clip)
        self._draw_events(surface, state, layout)
        self._draw_conversations(surface, state, layout)
        order = sorted(state.agents.items(), key=lambda item: (item[1].pos[1], item[0]))
        for agent_id, _ in order:
            self._draw_agent(surface, state, layout, agent_id, selected == agent_id)
        if layout.tile >= 10 or selected is not None:
            for agent_id, _ in order:
                if layout.tile >= 10 or agent_id == selected:
                    self._draw_name(surface, state, layout, agent_id)
        surface.set_clip(None)
        # Newest on top, and the selected agent's above all.
        for agent_id, bubble in sorted(state.bubbles.items(), key=lambda item: (item[0] == selected, item[1].tick)):
            if agent_id in state.agents:
                self._draw_bubble(surface, state, layout, agent_id, bubble.text)
        self._draw_panel(surface, state, layout, selected, status)
        if notice:
            self._draw_notice(surface, layout, notice)

    def _draw_events(self, surface: pygame.Surface, state: ViewerState, layout: MapLayout) -> None:
        """Running town events: their rooms get a gold frame."""
        for event in state.running_events():
            for room in self._rooms:
                if (
                    room.address == event.place
                    or room.address.startswith(event.place + PLACE_SEPARATOR)
                    or event.place == room.area
                ):
                    pygame.draw.rect(surface, ACCENT, layout.tile_rect(*room.rect), width=max(2, layout.tile // 8))

    def _draw_conversations(self, surface: pygame.Surface, state: ViewerState, layout: MapLayout) -> None:
        for members in state.conversations().values():
            points = [layout.tile_center(*state.agents[m].pos) for m in members]
            for a, b in itertools.pairwise(points):
                pygame.draw.line(surface, (255, 255, 255), a, b, width=max(1, layout.tile // 10))

    def _draw_agent(
        self, surface: pygame.Surface, state: ViewerState, layout: MapLayout, agent_id: int, selected: bool
    ) -> None:
        view = state.agents[agent_id]
        color = self._colors.get(agent_id, (120, 120, 120))
        cx, cy = layout.tile_center(*view.pos)
        r = layout.agent_radius()
        if selected:
            pygame.draw.circle(surface, ACCENT, (cx, cy), r + max(2, layout.tile // 6))
        pygame.draw.circle(surface, color, (cx, cy), r)
        pygame.draw.circle(surface, shade(color, 0.55), (cx, cy), r, width=1)
        if r >= 6:
            # The token's face is the name's first character: it needs no emoji font.
            initial = self.fonts.render(state.name(agent_id)[:1], max(6, int(r * 1.2)), ink_on(color))
            surface.blit(initial, initial.get_rect(center=(cx, cy)))
        if layout.tile < 10:
            return
        badge_size = max(10, int(layout.tile * 0.6))
        badge = self.fonts.emoji(view.emoji, badge_size) if view.emoji else None
        corner = (cx + int(r * 0.75), cy - int(r * 0.75))
        if badge is not None:
            # A light disc behind: monochrome emoji fonts draw black glyphs that vanish on dark tokens.
            pygame.draw.circle(surface, (250, 250, 250), corner, badge_size // 2 + 1)
            surface.blit(badge, badge.get_rect(center=corner))
        elif view.asleep:
            zz = self.fonts.render("z", badge_size, (240, 240, 255), bold=True)
            surface.blit(zz, zz.get_rect(center=corner))

    def _draw_name(self, surface: pygame.Surface, state: ViewerState, layout: MapLayout, agent_id: int) -> None:
        view = state.agents[agent_id]
        cx, cy = layout.tile_center(*view.pos)
        size = clamp(int(layout.tile * 0.42), 9, 14)
        text = self.fonts.render(state.name(agent_id), size, (255, 255, 255))
        pill = pygame.Surface((text.get_width() + 6, text.get_height()), pygame.SRCALPHA)
        pill.fill((0, 0, 0, 150))
        pill.blit(text, (3, 0))
        surface.blit(pill, pill.get_rect(midtop=(cx, cy + layout.agent_radius() + 1)))

    def _draw_bubble(
        self, surface: pygame.Surface, state: ViewerState, layout: MapLayout, agent_id: int, text: str
    ) -> None:
        view = state.agents[agent_id]
        cx, cy = layout.tile_center(*view.pos)
        size = clamp(int(layout.tile * 0.45), 11, 15)
        max_width = clamp(layout.tile * 9, 120, 260)
        lines = wrap(self.fonts, text, size, max_width, 3)
        line_h = self.fonts.font(size).get_linesize()
        width = max(self.fonts.width(line, size) for line in lines) + 12
        height = line_h * len(lines) + 8
        tail = 6
        top = cy - layout.agent_radius() - tail - height - 2
        left = clamp(cx - width // 2, 2, max(2, layout.panel[0] - width - 2))
        top = max(2, top)
        box = pygame.Rect(left, top, width, height)
        border = shade(self._colors.get(agent_id, (120, 120, 120)), 0.8)
        tail_x = clamp(cx, box.left + 8, box.right - 8)
        pygame.draw.polygon(
            surface,
            border,
            [
                (tail_x - 5, box.bottom - 1),
                (tail_x + 5, box.bottom - 1),
                (cx, min(box.bottom + tail, cy - layout.agent_radius())),
            ],
        )
        pygame.draw.rect(surface, BUBBLE_BG, box, border_radius=6)
        pygame.draw.rect(surface, border, box, width=2, border_radius=6)
        for i, line in enumerate(lines):
            surface.blit(self.fonts.render(line, size, (25, 25, 25)), (box.left + 6, box.top + 4 + i * line_h))

    def _draw_notice(self, surface: pygame.Surface, layout: MapLayout, notice: str) -> None:
        text = self.fonts.render(notice, 14, (255, 255, 255))
        pill = pygame.Surface((text.get_width() + 16, text.get_height() + 8), pygame.SRCALPHA)
        pill.fill((0, 0, 0, 190))
        pill.blit(text, (8, 4))
        surface.blit(pill, pill.get_rect(bottomleft=(12, layout.window[1] - 12)))

    # -- the side panel ---------------------------------------------------------------------------

    def _draw_panel(
        self, surface: pygame.Surface, state: ViewerState, layout: MapLayout, selected: int | None, status: str
    ) -> None:
        px, py, pw, ph = layout.panel
        surface.fill(PANEL_BG, pygame.Rect(px, py, pw, ph))
        pad = 12
        # The key help sits below the bottom.
        pen = PanelPen(surface, self.fonts, x=px + pad, y=py + pad, width=pw - 2 * pad, bottom=py + ph - 44)
        x, width = pen.x, pen.width
        self.agent_rows = []
        language = state.hello.language
        pen.write(state.hello.world, 22, PANEL_TEXT, bold=True)
        pen.write(f"{state.time} · tick {state.tick}", 14, PANEL_DIM)
        pen.write(status, 14, ACCENT)
        for event in state.running_events():
            pen.write(
                phrase(language, "viewer_event", what=event.what, place=show_place(event.place)),
                13,
                ACCENT,
                max_lines=2,
            )
        pen.y += 6
        pygame.draw.line(surface, PANEL_DIM, (x, pen.y), (x + width, pen.y))
        pen.y += 8
        if selected is not None and selected in state.agents:
            self._draw_agent_card(pen, state, selected)
        else:
            pen.write(phrase(language, "viewer_people"), 14, PANEL_DIM)
            pen.y += 2
            for agent_id in sorted(state.agents):
                y = pen.y
                if y + 18 > pen.bottom:
                    break
                view = state.agents[agent_id]
                row = pygame.Rect(x, y, width, 18)
                pygame.draw.circle(surface, shade(self._colors.get(agent_id, (120, 120, 120)), 0.9), (x + 6, y + 9), 5)
                name = state.name(agent_id)
                surface.blit(self.fonts.render(name, 14, PANEL_TEXT, bold=True), (x + 16, y))
                action_x = x + 16 + self.fonts.width(name, 14) + 8
                action = wrap(self.fonts, view.action, 13, max(10, x + width - action_x), 1)[0]
                surface.blit(self.fonts.render(action, 13, PANEL_DIM), (action_x, y + 1))
                self.agent_rows.append((row, agent_id))
                pen.y += 20
        for i, line in enumerate(phrases(language, "viewer_keys")):
            surface.blit(self.fonts.render(line, 12, PANEL_DIM), (x, py + ph - 40 + i * 17))

    def _draw_agent_card(self, pen: PanelPen, state: ViewerState, agent_id: int) -> None:
        surface, x = pen.surface, pen.x
        language = state.hello.language
        view = state.agents[agent_id]
        persona = state.personas.get(agent_id)
        color = self._colors.get(agent_id, (120, 120, 120))
        pygame.draw.circle(surface, shade(color, 0.9), (x + 9, pen.y + 13), 9)
        name = self.fonts.render(state.name(agent_id), 20, PANEL_TEXT, bold=True)
        surface.blit(name, (x + 24, pen.y))
        if persona is not None:
            age = self.fonts.render(phrase(language, "viewer_age", age=persona.age), 14, PANEL_DIM)
            surface.blit(age, (x + 32 + name.get_width(), pen.y + 5))
        pen.y += name.get_height() + 2
        if persona is not None and persona.traits:
            pen.write(" · ".join(persona.traits), 13, PANEL_DIM)
        pen.y += 4
        emoji = self.fonts.emoji(view.emoji, 18) if view.emoji else None
        if emoji is not None:
            surface.blit(emoji, (x, pen.y))
        action = phrase(language, "viewer_action", action=view.action)
        pen.write(action, 15, PANEL_TEXT, indent=24 if emoji else 0, max_lines=3)
        if view.at is not None:
            at = show_place(view.at) or phrase(language, "viewer_street")
            pen.write(phrase(language, "viewer_at", place=at), 14, PANEL_TEXT, max_lines=2)
        heading = view.at is not None and view.at != room_of(view.place)
        where = phrase(language, "viewer_heading" if heading else "viewer_place", place=show_place(view.place))
        pen.write(where, 14, PANEL_TEXT, max_lines=2)
        partners = [state.name(p) for p in state.partners_of(agent_id)]
        mood = phrase(
            language, "viewer_state", mood=phrase(language, "viewer_asleep" if view.asleep else "viewer_awake")
        )
        if partners:
            mood += phrase(language, "viewer_talking", names=phrase(language, "list_separator").join(partners))
        pen.write(mood, 14, PANEL_TEXT, max_lines=2)
        notes = state.notes.get(agent_id)
        if notes:
            latest = {note.kind: note for note in notes}
            for kind in ("plan", "reflect", "interview", "object"):
                if kind in latest:
                    pen.write(
                        phrase(language, f"viewer_note_{kind}", text=latest[kind].text), 13, PANEL_DIM, max_lines=2
                    )
        pen.y += 6
        pen.write(phrase(language, "viewer_recent"), 14, ACCENT, bold=True)
        lines = state.lines_of(agent_id, PANEL_LINES)
        if not lines:
            pen.write(phrase(language, "viewer_silent"), 13, PANEL_DIM)
        for line in lines:
            pen.write(self._line_text(state, line), 13, PANEL_TEXT, max_lines=3)
            pen.y += 3

    @staticmethod
    def _line_text(state: ViewerState, line: Line) -> str:
        who = state.name(line.speaker) + (f"→{state.name(line.to)}" if line.to is not None else "")
        return phrase(state.hello.language, "viewer_line", time=line.time[-5:], who=who, text=line.text)

    # -- hit-testing ------------------------------------------------------------------------------

    def agent_at(self, state: ViewerState, layout: MapLayout, px: int, py: int) -> int | None:
        """The agent drawn under a click on the map (the topmost when tokens overlap)."""
        reach = layout.agent_radius() + 3
        hits: list[tuple[int, int, int, int]] = []
        for agent_id, view in state.agents.items():
            cx, cy = layout.tile_center(*view.pos)
            d2 = (cx - px) ** 2 + (cy - py) ** 2
            if d2 <= reach * reach:
                # Nearest first; among equals the one drawn last (lower on the map, higher id).
                hits.append((d2, -view.pos[1], -agent_id, agent_id))
        return min(hits)[3] if hits else None

    def agent_in_panel(self, px: int, py: int) -> int | None:
        for rect, agent_id in self.agent_rows:
            if rect.collidepoint(px, py):
                return agent_id
        return None
