"""Where things go on screen: the map scaled to fit beside the side panel.

Pure arithmetic (no pygame), shared by drawing, mouse hit-testing and the
tests that check pixels of a saved screenshot.
"""

from __future__ import annotations

from dataclasses import dataclass

PANEL_MIN, PANEL_MAX, PANEL_SHARE = 260, 380, 0.28
"""Side panel width: 28 % of the window, kept between 260 and 380 px."""
MARGIN = 8
MIN_TILE, MAX_TILE = 3, 64


@dataclass(frozen=True)
class MapLayout:
    tile: int
    """Pixels per tile side."""
    origin: tuple[int, int]
    """Pixel of the map's top-left corner."""
    tiles: tuple[int, int]
    """Map width and height in tiles."""
    panel: tuple[int, int, int, int]
    """Side panel rectangle x, y, w, h."""
    window: tuple[int, int]

    @classmethod
    def fit(cls, window: tuple[int, int], tiles: tuple[int, int]) -> MapLayout:
        """The largest whole-pixel tile that fits the map left of the panel, centred there."""
        width, height = window
        panel_w = max(PANEL_MIN, min(PANEL_MAX, int(width * PANEL_SHARE)))
        panel_w = min(panel_w, max(0, width - 2 * MARGIN - tiles[0] * MIN_TILE))
        room_w, room_h = width - panel_w - 2 * MARGIN, height - 2 * MARGIN
        tile = max(MIN_TILE, min(MAX_TILE, room_w // max(1, tiles[0]), room_h // max(1, tiles[1])))
        map_w, map_h = tile * tiles[0], tile * tiles[1]
        origin = (MARGIN + max(0, (room_w - map_w) // 2), MARGIN + max(0, (room_h - map_h) // 2))
        return cls(tile=tile, origin=origin, tiles=tiles, panel=(width - panel_w, 0, panel_w, height), window=window)

    @property
    def map_rect(self) -> tuple[int, int, int, int]:
        return (self.origin[0], self.origin[1], self.tile * self.tiles[0], self.tile * self.tiles[1])

    def tile_rect(self, x: int, y: int, w: int = 1, h: int = 1) -> tuple[int, int, int, int]:
        return (self.origin[0] + x * self.tile, self.origin[1] + y * self.tile, w * self.tile, h * self.tile)

    def tile_center(self, x: int, y: int) -> tuple[int, int]:
        return (self.origin[0] + x * self.tile + self.tile // 2, self.origin[1] + y * self.tile + self.tile // 2)

    def tile_at(self, px: int, py: int) -> tuple[int, int] | None:
        x, y = (px - self.origin[0]) // self.tile, (py - self.origin[1]) // self.tile
        if 0 <= x < self.tiles[0] and 0 <= y < self.tiles[1] and px >= self.origin[0] and py >= self.origin[1]:
            return (x, y)
        return None

    def in_panel(self, px: int, py: int) -> bool:
        x, y, w, h = self.panel
        return x <= px < x + w and y <= py < y + h

    def agent_radius(self) -> int:
        """Agent tokens are circles a little smaller than a tile."""
        return max(2, int(self.tile * 0.45))
