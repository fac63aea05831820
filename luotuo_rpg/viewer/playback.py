"""What the window loop needs from a source of frames, live or from files.

Both sources keep a :class:`~luotuo_rpg.viewer.state.ViewerState` up to date
and answer the same keys, so the loop and the renderer never ask which one
they have.
"""

from __future__ import annotations

from typing import Protocol

from luotuo_rpg.viewer.state import ViewerState

SPEEDS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
"""Ticks per second the +/− keys step through (one game day is 8 640 ticks)."""
DEFAULT_REPLAY_SPEED = 20.0
"""20 ticks/s plays a game day in about seven minutes: people visibly walk."""


class ViewerError(Exception):
    """A problem the user can fix (bad folder, no server, no display): one line, no traceback."""


class Playback(Protocol):
    state: ViewerState
    notice: str
    """A short message for the status line (empty for none); the loop clears it after showing it."""

    def update(self, seconds: float) -> None:
        """Bring ``state`` up to date; ``seconds`` of wall-clock time passed since the last call."""

    def toggle_pause(self) -> None: ...

    def step(self, ticks: int) -> None:
        """Pause and move by ``ticks`` (negative: back)."""

    def change_speed(self, direction: int) -> None:
        """+1 faster, −1 slower."""

    def status(self) -> str:
        """One line: playing or paused, speed, position."""

    def close(self) -> None: ...


def next_speed(current: float, direction: int) -> float:
    """The next speed in :data:`SPEEDS` from ``current``; 0 means as fast as possible (the top)."""
    if current <= 0:
        return 0.0 if direction > 0 else SPEEDS[-1]
    if direction > 0:
        faster = [s for s in SPEEDS if s > current]
        return faster[0] if faster else current
    slower = [s for s in SPEEDS if s < current]
    return slower[-1] if slower else current
