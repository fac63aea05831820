"""The window loop: keys and clicks in, one drawn frame out, at a steady frame rate.

``run_view`` opens a window, or with ``screenshot`` set draws a fixed number
of frames into an off-screen surface and saves it as a PNG (no display
needed). Replays advance by a fixed step per frame there, so a screenshot is
the same on every machine.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pygame

from luotuo_rpg.phrases import phrase
from luotuo_rpg.viewer.fonts import FontSet
from luotuo_rpg.viewer.layout import MapLayout
from luotuo_rpg.viewer.live import LiveClient, LivePlayer
from luotuo_rpg.viewer.playback import DEFAULT_REPLAY_SPEED, Playback, ViewerError
from luotuo_rpg.viewer.render import Renderer
from luotuo_rpg.viewer.replay import ReplayPlayer, ReplayRun

log = logging.getLogger(__name__)

FPS = 30
NOTICE_SECONDS = 3.0
LONG_STEP = 60
"""Shift+←/→ moves this many ticks (ten game minutes at 10 s a tick)."""
_MAX_FRAME_SECONDS = 0.25
"""A stalled frame (window dragged, machine busy) must not fast-forward a replay."""


@dataclass
class ViewOptions:
    replay: Path | None = None
    connect: str | None = None
    token: str | None = None
    size: tuple[int, int] = (1280, 800)
    screenshot: Path | None = None
    frames: int = 60
    start: int = 0
    speed: float | None = None
    select: str | None = None
    font: Path | None = None


@dataclass(frozen=True)
class ViewResult:
    tick: int
    time: str
    frames: int
    layout: MapLayout
    screenshot: Path | None


def open_playback(options: ViewOptions) -> Playback:
    if options.replay is not None:
        run = ReplayRun.open(options.replay)
        speed = DEFAULT_REPLAY_SPEED if options.speed is None else options.speed
        return ReplayPlayer(run, speed=speed, start_tick=options.start)
    if options.connect:
        client = LiveClient(options.connect)
        return LivePlayer(client, client.connect(), token=options.token)
    raise ViewerError("nothing to view: pass --connect URL or --replay DIR")


class ViewerApp:
    """Selection, notices and key handling around a playback and a renderer."""

    def __init__(self, playback: Playback, fonts: FontSet) -> None:
        self.playback = playback
        self.renderer = Renderer(fonts)
        self.selected: int | None = None
        self.layout: MapLayout | None = None
        self._notice = ""
        self._notice_left = 0.0

    def select_name(self, name: str) -> None:
        for agent_id, persona in self.playback.state.personas.items():
            if persona.name == name:
                self.selected = agent_id
                return
        state = self.playback.state
        names = phrase(state.hello.language, "list_separator").join(p.name for p in state.personas.values())
        raise ViewerError(f"no agent named {name!r} (agents: {names})")

    def cycle_selection(self, direction: int) -> None:
        ids = sorted(self.playback.state.agents)
        if not ids:
            return
        if self.selected not in ids:
            self.selected = ids[0] if direction > 0 else ids[-1]
        else:
            self.selected = ids[(ids.index(self.selected) + direction) % len(ids)]

    def handle(self, event: pygame.event.Event) -> bool:
        """Act on one pygame event; False means the user asked to quit."""
        if event.type == pygame.QUIT:
            return False
        if event.type == pygame.KEYDOWN:
            return self.handle_key(event.key, event.mod)
        if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and self.layout is not None:
            self.click(*event.pos)
        return True

    def handle_key(self, key: int, mod: int = 0) -> bool:
        shift = bool(mod & pygame.KMOD_SHIFT)
        playback = self.playback
        if key == pygame.K_SPACE:
            playback.toggle_pause()
        elif key == pygame.K_LEFT:
            playback.step(-LONG_STEP if shift else -1)
        elif key == pygame.K_RIGHT:
            playback.step(LONG_STEP if shift else 1)
        elif key in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
            playback.change_speed(+1)
        elif key in (pygame.K_MINUS, pygame.K_UNDERSCORE, pygame.K_KP_MINUS):
            playback.change_speed(-1)
        elif key == pygame.K_TAB:
            self.cycle_selection(-1 if shift else +1)
        elif key == pygame.K_ESCAPE:
            if self.selected is None:
                return False
            self.selected = None
        elif key == pygame.K_q:
            return False
        return True

    def click(self, px: int, py: int) -> None:
        assert self.layout is not None
        if self.layout.in_panel(px, py):
            row = self.renderer.agent_in_panel(px, py)
            if row is not None:
                self.selected = row
            return
        self.selected = self.renderer.agent_at(self.playback.state, self.layout, px, py)

    def frame(self, surface: pygame.Surface, seconds: float) -> MapLayout:
        """Advance by ``seconds`` of wall-clock time and draw one frame."""
        playback = self.playback
        playback.update(seconds)
        state = playback.state
        state.age_bubbles(seconds)
        if playback.notice:
            self._notice, self._notice_left = playback.notice, NOTICE_SECONDS
            playback.notice = ""
        self._notice_left = max(0.0, self._notice_left - seconds)
        hello = state.hello
        self.layout = MapLayout.fit(surface.get_size(), (hello.map.width, hello.map.height))
        notice = self._notice if self._notice_left > 0 else ""
        self.renderer.draw(surface, state, self.layout, self.selected, playback.status(), notice)
        return self.layout


def run_view(options: ViewOptions) -> ViewResult:
    """Open the viewer (a window, or a headless screenshot) and return where it ended."""
    pygame.font.init()
    fonts = FontSet(options.font)
    playback = open_playback(options)
    try:
        app = ViewerApp(playback, fonts)
        if options.select:
            app.select_name(options.select)
        if options.screenshot is not None:
            return _screenshot(app, options)
        return _window(app, options)
    finally:
        playback.close()


def _screenshot(app: ViewerApp, options: ViewOptions) -> ViewResult:
    assert options.screenshot is not None
    surface = pygame.Surface(options.size)
    live = isinstance(app.playback, LivePlayer)
    layout = None
    for _ in range(max(1, options.frames)):
        if live:
            time.sleep(1 / FPS)  # frames from a server arrive in real time
        layout = app.frame(surface, 1 / FPS)
    assert layout is not None
    path = Path(options.screenshot)
    path.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(surface, str(path))
    state = app.playback.state
    log.info("saved %s at tick %d", path, state.tick)
    return ViewResult(tick=state.tick, time=state.time, frames=max(1, options.frames), layout=layout, screenshot=path)


def _window(app: ViewerApp, options: ViewOptions) -> ViewResult:
    pygame.init()
    try:
        screen = pygame.display.set_mode(options.size, pygame.RESIZABLE)
    except pygame.error as error:
        raise ViewerError(
            f"cannot open a window ({error}); to render without a display use --screenshot PATH"
        ) from None
    hello = app.playback.state.hello
    pygame.display.set_caption(f"{phrase(hello.language, 'brand')} · {hello.world}")
    pygame.key.set_repeat(300, 40)  # holding ←/→ scrubs through a replay
    clock = pygame.time.Clock()
    frames = 0
    running = True
    try:
        while running:
            seconds = min(clock.tick(FPS) / 1000, _MAX_FRAME_SECONDS)
            for event in pygame.event.get():
                running = app.handle(event) and running
            # pygame 2 resizes the display surface itself; the layout is refitted every frame.
            app.frame(pygame.display.get_surface() or screen, seconds)
            pygame.display.flip()
            frames += 1
    finally:
        pygame.quit()
    state = app.playback.state
    assert app.layout is not None
    return ViewResult(tick=state.tick, time=state.time, frames=frames, layout=app.layout, screenshot=None)
