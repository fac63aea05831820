"""The pygame viewer: frame application, replay seeking, the live client, and what lands in a screenshot.

Screens are checked by their pixels: the map's room colours are present, and
each agent's colour sits on the tile the replay says it is on at the tick the
viewer reports, converted to pixels with the scale the viewer reports.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

# Headless before pygame is imported anywhere.
os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ["SDL_AUDIODRIVER"] = "dummy"
os.environ["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"

pygame = pytest.importorskip("pygame")

from cli_server import served

from luotuo_rpg.cli import main as cli_main
from luotuo_rpg.server.protocol import (
    Control,
    ControlResult,
    ErrorMessage,
    FrameMessage,
    Hello,
    Status,
    hello_from_spec,
)
from luotuo_rpg.sim.files import AgentFrame, Frame, FrameEvent, RunMeta
from luotuo_rpg.viewer.app import ViewerApp, ViewOptions, run_view
from luotuo_rpg.viewer.fonts import FontSet, find_cjk_font
from luotuo_rpg.viewer.layout import MapLayout
from luotuo_rpg.viewer.live import LiveClient, LivePlayer, parse_message
from luotuo_rpg.viewer.playback import SPEEDS, next_speed
from luotuo_rpg.viewer.render import wrap
from luotuo_rpg.viewer.replay import HISTORY_FRAMES, ReplayPlayer, ReplayRun
from luotuo_rpg.viewer.state import BUBBLE_MAX_TICKS, BUBBLE_SECONDS, ViewerState
from luotuo_rpg.world.loader import load_world_spec
from luotuo_rpg.world.spec import WorldSpec

REPO = Path(__file__).resolve().parents[1]
HEADLESS_ENV = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
SAVED = re.compile(r"saved (?P<path>.+): tick (?P<tick>\d+) .* tile (?P<tile>\d+) px at (?P<x>\d+),(?P<y>\d+)")


# -- fixtures: a real replay, a real websocket server ------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An hour and a half of the tiny world: 540 frames, keyframes every 60, a conversation after 07:00."""
    out = tmp_path_factory.mktemp("viewer") / "tiny_run"
    hours = ["--hours", "1.5"]
    assert cli_main(["run", str(REPO / "worlds" / "tiny.yaml"), *hours, "--out", str(out), "--no-progress"]) == 0
    return out


def raw_frames(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "frames.jsonl").read_text(encoding="utf-8").splitlines() if line]


def positions_at(run: Path, tick: int) -> dict[int, tuple[int, int]]:
    """Where every agent stands at ``tick``, read straight from the file (not through the viewer's state)."""
    positions: dict[int, tuple[int, int]] = {}
    for frame in raw_frames(run):
        if frame["tick"] > tick:
            break
        for agent, fields in frame.get("agents", {}).items():
            if "pos" in fields:
                positions[int(agent)] = tuple(fields["pos"])
    return positions


def spec_of(run: Path) -> WorldSpec:
    meta = RunMeta.model_validate_json((run / "meta.json").read_text(encoding="utf-8"))
    return WorldSpec.model_validate(meta.world)


class ProtocolServer:
    """A small server speaking the viewer protocol: hello at a keyframe, then the replay's deltas."""

    def __init__(self, run: Path, start_index: int, end_index: int) -> None:
        self.frames = [Frame.model_validate(f) for f in raw_frames(run)]
        self.hello = hello_from_spec(spec_of(run), self.frames[start_index], speed=10.0)
        self.deltas = self.frames[start_index + 1 : end_index + 1]
        self.received: list[dict] = []
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def _handle(self, ws: ServerConnection) -> None:
        ws.send(self.hello.model_dump_json())
        for frame in self.deltas:
            ws.send(FrameMessage(frame=frame).model_dump_json())
        paused, speed = False, self.hello.speed
        for message in ws:
            control = Control.model_validate_json(message)
            self.received.append(json.loads(message))
            # Like the real server: a result, and a status to every viewer when pause or speed change.
            paused = {"pause": True, "resume": False}.get(control.action, paused)
            speed = control.value if control.action == "speed" and control.value is not None else speed
            ws.send(ControlResult(action=control.action, ok=True).model_dump_json())
            ws.send(Status(tick=self.deltas[-1].tick, paused=paused, speed=speed).model_dump_json())

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def protocol_server(tiny_run: Path) -> Iterator[ProtocolServer]:
    server = ProtocolServer(tiny_run, start_index=120, end_index=200)
    yield server
    server.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "luotuo_rpg.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=HEADLESS_ENV,
        cwd=REPO,
    )


# -- pixel checks ------------------------------------------------------------------------------------


def rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def colour_share(image, center: tuple[int, int], radius: int, colour: tuple[int, int, int]) -> float:
    """Fraction of the disc's pixels that are exactly ``colour``."""
    cx, cy = center
    hits = total = 0
    for y in range(cy - radius, cy + radius + 1):
        for x in range(cx - radius, cx + radius + 1):
            if (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius:
                total += 1
                hits += tuple(image.get_at((x, y))[:3]) == colour
    return hits / total


def assert_map_and_agents_drawn(png: Path, run: Path, tick: int, tile: int, origin: tuple[int, int]) -> None:
    assert_drawn(png, spec_of(run), positions_at(run, tick), tile, origin)


def assert_drawn(
    png: Path, spec: WorldSpec, positions: dict[int, tuple[int, int]], tile: int, origin: tuple[int, int]
) -> None:
    """Every room's colour is on the picture, and each agent's colour fills the tile it stands on."""
    image = pygame.image.load(str(png))
    width, height = image.get_size()
    colours = {tuple(image.get_at((x, y))[:3]) for x in range(0, width, 7) for y in range(0, height, 7)}
    assert len(colours) > 20, "the screenshot is (nearly) blank"
    for area in spec.areas:
        for room in area.rooms:
            assert rgb(room.color or area.color) in colours, f"room {area.name}/{room.name} colour missing"
    by_tile: dict[tuple[int, int], list[int]] = {}
    for agent, pos in positions.items():
        by_tile.setdefault(pos, []).append(agent)
    assert by_tile, "no agents to look for"
    for (x, y), agents in by_tile.items():
        center = (origin[0] + x * tile + tile // 2, origin[1] + y * tile + tile // 2)
        shares = {
            spec.personas[a].name: colour_share(image, center, int(tile * 0.4), rgb(spec.personas[a].color))
            for a in agents
        }
        # The token's initial covers part of the disc; the rest is the persona's colour.
        assert max(shares.values()) > 0.3, f"tile {(x, y)}: {shares}"


# -- the frame-applying state (pure) -----------------------------------------------------------------


def tiny_hello(key: Frame) -> Hello:
    return hello_from_spec(load_world_spec(REPO / "worlds" / "tiny.yaml"), key)


def keyframe(tick: int, **agents: AgentFrame) -> Frame:
    full = {
        0: AgentFrame(pos=(1, 1), action="睡觉", emoji="😴", place="客栈/掌柜房", conv=-1, asleep=True),
        1: AgentFrame(pos=(9, 1), action="睡觉", emoji="😴", place="客栈/伙计房", conv=-1, asleep=True),
        2: AgentFrame(pos=(10, 1), action="起床", emoji="🪥", place="客栈/伙计房", conv=-1, asleep=False),
    }
    full.update({int(k[1:]): v for k, v in agents.items()})
    return Frame(tick=tick, time=f"t{tick}", key=True, agents=full, objects={"客栈/厨房/灶台": "冷着"})


def test_delta_frames_change_only_the_fields_they_set() -> None:
    state = ViewerState(tiny_hello(keyframe(0)))
    state.apply(Frame(tick=1, time="t1", agents={2: AgentFrame(pos=(10, 2))}, objects={"客栈/厨房/灶台": "烧着"}))
    assert state.tick == 1
    assert state.agents[2].pos == (10, 2)
    assert state.agents[2].action == "起床" and state.agents[2].emoji == "🪥"
    assert state.agents[0].pos == (1, 1)
    assert state.objects["客栈/厨房/灶台"] == "烧着"
    state.apply(Frame(tick=2, time="t2", agents={0: AgentFrame(asleep=False, action="起床梳洗")}))
    assert state.agents[0].asleep is False and state.agents[0].action == "起床梳洗"
    assert state.agents[0].emoji == "😴"  # not in the delta: kept
    assert state.gaps == 0


def test_a_keyframe_replaces_everything_and_forgets_history_from_its_tick() -> None:
    state = ViewerState(tiny_hello(keyframe(0)))
    state.apply(
        Frame(
            tick=1,
            time="t1",
            agents={0: AgentFrame(pos=(2, 2))},
            events=[FrameEvent(type="say", agent=0, to=2, text="早")],
        )
    )
    state.apply(Frame(tick=2, time="t2", events=[FrameEvent(type="say", agent=2, to=0, text="早啊")]))
    state.apply(
        keyframe(2, a0=AgentFrame(pos=(3, 3), action="算账", emoji="🧮", place="客栈/大堂", conv=-1, asleep=False))
    )
    assert state.agents[0].pos == (3, 3) and state.agents[0].action == "算账"
    assert [line.text for line in state.lines] == ["早"], "the line at the keyframe's tick is not history yet"
    assert set(state.bubbles) == {0}


def test_a_gap_in_the_stream_is_counted() -> None:
    state = ViewerState(tiny_hello(keyframe(0)))
    state.apply(Frame(tick=5, time="t5", agents={1: AgentFrame(pos=(9, 2))}))
    assert state.gaps == 1 and state.agents[1].pos == (9, 2)


def test_bubbles_last_a_few_seconds_and_never_past_the_tick_limit() -> None:
    state = ViewerState(tiny_hello(keyframe(0)))
    state.apply(Frame(tick=1, time="t1", events=[FrameEvent(type="say", agent=1, to=0, text="掌柜的")]))
    state.age_bubbles(BUBBLE_SECONDS / 2)
    assert state.bubbles[1].text == "掌柜的"
    state.age_bubbles(BUBBLE_SECONDS / 2 + 0.01)
    assert 1 not in state.bubbles
    state.apply(Frame(tick=2, time="t2", events=[FrameEvent(type="say", agent=1, to=0, text="又来了")]))
    state.apply(Frame(tick=3 + BUBBLE_MAX_TICKS, time="t", key=False))
    state.age_bubbles(0.01)
    assert 1 not in state.bubbles, "a fast replay must not keep an old line up"


def test_a_town_event_is_running_again_after_seeking_back_inside_it() -> None:
    state = ViewerState(tiny_hello(keyframe(0)))
    state.apply(Frame(tick=1, time="t1", events=[FrameEvent(type="event_start", text="义诊", place="药铺/药房")]))
    state.apply(keyframe(2))
    state.apply(Frame(tick=3, time="t3", events=[FrameEvent(type="event_end", text="义诊", place="药铺/药房")]))
    assert state.running_events() == []
    state.apply(keyframe(2))  # seek back to tick 2
    assert [e.what for e in state.running_events()] == ["义诊"]


def test_a_hello_mid_stream_is_a_keyframe_of_the_same_world() -> None:
    state = ViewerState(tiny_hello(keyframe(0)))
    state.apply(Frame(tick=1, time="t1", events=[FrameEvent(type="say", agent=0, to=1, text="老白")]))
    state.resync(
        tiny_hello(
            keyframe(40, a1=AgentFrame(pos=(5, 5), action="跑堂", emoji="🏃", place="小街/街道", conv=-1, asleep=False))
        )
    )
    assert state.tick == 40 and state.agents[1].pos == (5, 5)
    assert [line.text for line in state.lines] == ["老白"], "what was said before the resync is still history"


def test_a_hello_of_another_world_starts_the_picture_over() -> None:
    state = ViewerState(tiny_hello(keyframe(0)))
    state.apply(Frame(tick=1, time="t1", events=[FrameEvent(type="say", agent=0, to=1, text="老白")]))
    other = tiny_hello(keyframe(7)).model_copy(update={"personas": tiny_hello(keyframe(7)).personas[:2]})
    state.resync(other)
    assert state.tick == 7 and not state.lines and set(state.personas) == {0, 1}


def test_seeking_back_through_keyframes_equals_playing_forward(tiny_run: Path) -> None:
    run = ReplayRun.open(tiny_run)
    assert run.keyframes[:2] == [0, 60] and run.hello.replay is not None and run.hello.replay.ticks == 540
    scrubbed = ReplayPlayer(run, start_tick=539)
    for target in (300, 185, 183, 182, 61, 59, 0, 250):
        scrubbed.seek(target)
        fresh = ReplayPlayer(run)
        for index in range(1, target + 1):
            fresh.seek(index)  # one tick at a time, never a keyframe reset
        assert scrubbed.state.tick == fresh.state.tick == target
        assert scrubbed.state.agents == fresh.state.agents
        assert scrubbed.state.objects == fresh.state.objects
        assert {a: v.pos for a, v in scrubbed.state.agents.items()} == positions_at(tiny_run, target)
        since = target - HISTORY_FRAMES
        assert [line for line in scrubbed.state.lines if line.tick >= since] == [
            line for line in fresh.state.lines if line.tick >= since
        ], "the recent lines are rebuilt too"


def test_stepping_back_unsays_the_lines_after_the_target(tiny_run: Path) -> None:
    frames = raw_frames(tiny_run)
    say_ticks = [f["tick"] for f in frames if any(e["type"] == "say" for e in f.get("events", []))]
    assert len(say_ticks) >= 2
    player = ReplayPlayer(ReplayRun.open(tiny_run), start_tick=say_ticks[1])
    assert [line.tick for line in player.state.lines][-2:] == say_ticks[:2]
    player.step(-1)
    assert player.paused
    assert player.state.tick == say_ticks[1] - 1
    assert all(line.tick < say_ticks[1] for line in player.state.lines)
    player.step(+1)
    assert [line.tick for line in player.state.lines][-2:] == say_ticks[:2]


def test_replay_playback_advances_by_speed_and_stops_at_the_end(tiny_run: Path) -> None:
    player = ReplayPlayer(ReplayRun.open(tiny_run), speed=20)
    player.update(0.5)
    assert player.state.tick == 10
    player.toggle_pause()
    player.update(1.0)
    assert player.state.tick == 10
    player.toggle_pause()
    player.update(1000)
    assert player.state.tick == 539 and "end" in player.status()
    player.toggle_pause()  # space at the end plays again from the start
    assert player.state.tick == 0


def test_speed_keys_walk_the_speed_table() -> None:
    assert next_speed(20, +1) == 50 and next_speed(20, -1) == 10
    assert next_speed(SPEEDS[-1], +1) == SPEEDS[-1] and next_speed(SPEEDS[0], -1) == SPEEDS[0]
    assert next_speed(0, -1) == SPEEDS[-1] and next_speed(0, +1) == 0


def test_layout_fits_the_map_beside_the_panel_at_any_window_size() -> None:
    for window in ((1280, 800), (640, 480), (1920, 1080), (800, 1200)):
        layout = MapLayout.fit(window, (60, 40))
        x, y, w, h = layout.map_rect
        assert x >= 0 and y >= 0 and x + w <= layout.panel[0] and y + h <= window[1], window
        for tile in ((0, 0), (59, 39), (17, 23)):
            assert layout.tile_at(*layout.tile_center(*tile)) == tile
    assert MapLayout.fit((1920, 1080), (20, 12)).tile > MapLayout.fit((640, 480), (20, 12)).tile


def test_unknown_server_messages_are_ignored() -> None:
    assert parse_message('{"type": "agent", "id": 3}') is None
    assert parse_message('{"type": "frame"}') is None
    assert isinstance(parse_message('{"type": "error", "message": "bad token"}'), ErrorMessage)


# -- drawing ---------------------------------------------------------------------------------------


def test_replay_screenshot_shows_places_and_agents_where_the_replay_says(tiny_run: Path, tmp_path: Path) -> None:
    png = tmp_path / "view.png"
    done = run_cli(
        "view",
        "--replay",
        str(tiny_run),
        "--screenshot",
        str(png),
        "--frames",
        "20",
        "--start",
        "180",
        "--select",
        "佟湘玉",
    )
    assert done.returncode == 0, done.stderr
    saved = SAVED.search(done.stdout)
    assert saved, done.stdout
    tick = int(saved["tick"])
    assert tick == 180 + 20 * 20 // 30  # 20 frames at 30 fps, 20 ticks/s: a fixed step, not the wall clock
    assert_map_and_agents_drawn(png, tiny_run, tick, int(saved["tile"]), (int(saved["x"]), int(saved["y"])))


def test_chinese_text_renders_as_glyphs_not_boxes() -> None:
    if find_cjk_font() is None:
        pytest.skip("no CJK font installed (apt install fonts-wqy-microhei)")
    fonts = FontSet()
    assert fonts.draws("小小客栈掌柜房佟湘玉", 16)
    assert not fonts.draws("\ue123", 16)


def test_wrapping_breaks_between_chinese_characters_but_keeps_numbers_whole() -> None:
    fonts = FontSet()
    text = "药铺晚上办义诊，街坊都能去看病，就在药铺药房，3月1日19:00。"
    for width in range(60, 400, 7):
        lines = wrap(fonts, text, 14, width, 10)
        assert "".join(lines) == text
        assert all(fonts.width(line, 14) <= width for line in lines if len(line) > 1)
        assert any("19:00" in line for line in lines), lines
    cut = wrap(fonts, text, 14, 80, 2)
    assert len(cut) == 2 and cut[-1].endswith("…")


def test_without_a_cjk_font_one_message_says_how_to_install_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pygame.font, "match_font", lambda *_a, **_k: None)
    with caplog.at_level(logging.WARNING, logger="luotuo_rpg.viewer.fonts"):
        fonts = FontSet()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "apt install fonts-wqy-microhei" in messages[0]
    assert fonts.render("客栈", 14, (0, 0, 0)).get_width() > 0  # pygame's default font still draws


def test_agents_without_an_emoji_font_are_coloured_circles_with_an_initial(tiny_run: Path) -> None:
    player = ReplayPlayer(ReplayRun.open(tiny_run))
    fonts = FontSet()
    fonts._emoji_paths = []  # as on a machine with no emoji font at all
    assert fonts.emoji("😴", 20) is None
    app = ViewerApp(player, fonts)
    surface = pygame.Surface((900, 600))
    layout = app.frame(surface, 1 / 30)
    spec = spec_of(tiny_run)
    for agent, view in player.state.agents.items():
        center = layout.tile_center(*view.pos)
        share = colour_share(surface, center, layout.agent_radius() - 1, rgb(spec.personas[agent].color))
        assert 0.3 < share < 0.97, f"{spec.personas[agent].name}: the initial should be drawn on the circle"


def test_keys_and_clicks_drive_playback_and_selection(tiny_run: Path) -> None:
    player = ReplayPlayer(ReplayRun.open(tiny_run), start_tick=100)
    app = ViewerApp(player, FontSet())
    surface = pygame.Surface((1000, 700))
    layout = app.frame(surface, 0)
    app.handle_key(pygame.K_SPACE)
    assert player.paused
    app.handle_key(pygame.K_RIGHT)
    app.handle_key(pygame.K_RIGHT)
    assert player.state.tick == 102
    app.handle_key(pygame.K_LEFT, pygame.KMOD_SHIFT)
    assert player.state.tick == 42
    speed = player.speed
    app.handle_key(pygame.K_EQUALS)
    assert player.speed == next_speed(speed, +1)
    app.handle_key(pygame.K_MINUS)
    app.handle_key(pygame.K_MINUS)
    assert player.speed == next_speed(speed, -1)
    app.handle_key(pygame.K_TAB)
    app.handle_key(pygame.K_TAB)
    assert app.selected == 1
    app.handle_key(pygame.K_TAB, pygame.KMOD_SHIFT)
    assert app.selected == 0
    assert app.handle_key(pygame.K_ESCAPE) and app.selected is None
    layout = app.frame(surface, 0)
    target = player.state.agents[2].pos
    app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=layout.tile_center(*target)))
    assert app.selected == 2
    app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=layout.origin))
    assert app.selected is None, "a click on an empty tile clears the selection"
    app.frame(surface, 0)
    row, agent = app.renderer.agent_rows[1]
    app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=row.center))
    assert app.selected == agent == 1
    assert not app.handle_key(pygame.K_q)


def test_the_map_rescales_when_the_window_is_resized(tiny_run: Path) -> None:
    app = ViewerApp(ReplayPlayer(ReplayRun.open(tiny_run)), FontSet())
    small = app.frame(pygame.Surface((640, 420)), 0)
    large = app.frame(pygame.Surface((1600, 1000)), 0)
    assert large.tile > small.tile
    for layout in (small, large):
        x, y, w, h = layout.map_rect
        assert x + w <= layout.panel[0] and y + h <= layout.window[1]


def test_the_window_is_resizable_and_quits_on_close(tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flags_seen: list[int] = []
    real_set_mode = pygame.display.set_mode

    def set_mode(size: tuple[int, int], flags: int = 0, *args: Any, **kwargs: Any) -> Any:
        flags_seen.append(flags)
        return real_set_mode(size, flags, *args, **kwargs)

    script = iter(
        [
            [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_TAB, mod=0)],
            [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0)],
            [pygame.event.Event(pygame.QUIT)],
        ]
    )
    monkeypatch.setattr(pygame.display, "set_mode", set_mode)
    monkeypatch.setattr(pygame.event, "get", lambda *a, **k: next(script, []))
    result = run_view(ViewOptions(replay=tiny_run, size=(900, 600)))
    assert flags_seen and flags_seen[0] & pygame.RESIZABLE
    assert result.frames == 3 and result.screenshot is None and result.layout.window == (900, 600)


# -- live: a websocket server on loopback ------------------------------------------------------------


def test_live_screenshot_draws_the_frames_the_server_sent(
    protocol_server: ProtocolServer, tiny_run: Path, tmp_path: Path
) -> None:
    png = tmp_path / "live.png"
    done = run_cli("view", "--connect", protocol_server.url, "--screenshot", str(png), "--frames", "30")
    assert done.returncode == 0, done.stderr
    saved = SAVED.search(done.stdout)
    assert saved, done.stdout
    tick = int(saved["tick"])
    assert tick == 200, "every delta the server sent should have been applied"
    assert_map_and_agents_drawn(png, tiny_run, tick, int(saved["tile"]), (int(saved["x"]), int(saved["y"])))


def test_live_keys_send_controls_only_with_the_token(protocol_server: ProtocolServer) -> None:
    client = LiveClient(protocol_server.url)
    player = LivePlayer(client, client.connect(), token=None)
    try:
        assert player.state.tick == 120 and player.speed == 10.0
        player.toggle_pause()
        assert "--token" in player.notice and not player.paused
        player.token = "secret"
        player.toggle_pause()
        player.change_speed(+1)
        player.step(-1)  # a live run cannot go back: nothing is sent
        deadline = time.monotonic() + 5
        while len(protocol_server.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        controls = [Control.model_validate(m) for m in protocol_server.received]
        assert [(c.action, c.value, c.token) for c in controls] == [
            ("pause", None, "secret"),
            ("speed", 20.0, "secret"),
        ]
        deadline = time.monotonic() + 5
        while (player.state.tick < 200 or not player.paused or player.speed != 20.0) and time.monotonic() < deadline:
            player.update(0.05)
            time.sleep(0.02)
        assert player.state.tick == 200, "every delta the server sent was applied"
        assert player.paused and player.speed == 20.0, "pause and speed shown are what the server's status says"
        assert "暂停" in player.status()
    finally:
        player.close()


def test_a_dropped_connection_is_shown_not_fatal(protocol_server: ProtocolServer) -> None:
    client = LiveClient(protocol_server.url)
    player = LivePlayer(client, client.connect())
    try:
        protocol_server.close()
        deadline = time.monotonic() + 10
        while player.connected and time.monotonic() < deadline:
            player.update(0.05)
            time.sleep(0.05)
        assert not player.connected and "disconnected" in player.status()
    finally:
        player.close()


# -- the command's errors --------------------------------------------------------------------------


def test_no_server_is_one_clear_line_and_exit_2() -> None:
    done = run_cli("view", "--connect", f"ws://127.0.0.1:{free_port()}/ws", "--screenshot", "/tmp/never.png")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("error: cannot connect"), done.stderr


def test_a_folder_that_is_not_a_run_is_one_clear_line(tmp_path: Path) -> None:
    done = run_cli("view", "--replay", str(tmp_path), "--screenshot", str(tmp_path / "x.png"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no meta.json" in done.stderr and done.stderr.strip().count("\n") == 0


def test_without_pygame_the_command_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_run: Path
) -> None:
    from luotuo_rpg.cli import build_parser
    from luotuo_rpg.commands.view import cmd_view

    args = build_parser().parse_args(["view", "--replay", str(tiny_run)])
    monkeypatch.setitem(sys.modules, "pygame", None)
    assert cmd_view(args) == 2
    assert "pip install 'luotuo-rpg[viewer]'" in capsys.readouterr().err


def test_run_view_in_process_reports_the_layout_it_drew_with(tiny_run: Path, tmp_path: Path) -> None:
    result = run_view(ViewOptions(replay=tiny_run, screenshot=tmp_path / "v.png", frames=3, size=(800, 500)))
    assert result.screenshot is not None and result.screenshot.is_file()
    assert result.layout.window == (800, 500) and result.tick == 2


# -- against the real server (`luotuo-rpg serve`) --------------------------------------------------------


@pytest.fixture
def real_server(tiny_run: Path) -> Iterator[tuple[str, str]]:
    """``luotuo-rpg serve --replay`` on a free loopback port: (websocket URL, token)."""
    pytest.importorskip("luotuo_rpg.server.app")
    token = "viewer-test-token"
    with served(
        ["--replay", str(tiny_run), "--token", token, "--speed", "20"], cwd=REPO, env=HEADLESS_ENV, wait_s=15
    ) as (_, port):
        yield f"ws://127.0.0.1:{port}/ws", token


def test_screenshot_from_the_real_server_shows_agents_where_the_replay_says(
    real_server: tuple[str, str], tiny_run: Path, tmp_path: Path
) -> None:
    url, _ = real_server
    png = tmp_path / "served.png"
    done = run_cli("view", "--connect", url, "--screenshot", str(png), "--frames", "30")
    assert done.returncode == 0, done.stderr
    saved = SAVED.search(done.stdout)
    assert saved, done.stdout
    tick = int(saved["tick"])
    assert tick > 0, "frames kept coming after the hello"
    assert_map_and_agents_drawn(png, tiny_run, tick, int(saved["tile"]), (int(saved["x"]), int(saved["y"])))


def test_screenshot_of_a_live_simulation_shows_agents_where_the_server_says(tmp_path: Path) -> None:
    """``serve WORLD`` (a live run, not a replay), paused so that the picture and the REST view agree."""
    pytest.importorskip("luotuo_rpg.server.app")
    world = REPO / "worlds" / "tiny.yaml"
    with served([str(world), "--paused", "--token", "t-0123456789abcdef"], cwd=REPO, env=HEADLESS_ENV) as (_, port):
        png = tmp_path / "live.png"
        done = run_cli("view", "--connect", f"ws://127.0.0.1:{port}/ws", "--screenshot", str(png), "--frames", "5")
        assert done.returncode == 0, done.stderr
        saved = SAVED.search(done.stdout)
        assert saved, done.stdout
        agents = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/agents", timeout=10).read())
    positions = {agent["id"]: tuple(agent["pos"]) for agent in agents if agent["pos"] is not None}
    assert len(positions) == 3
    assert_drawn(png, load_world_spec(world), positions, int(saved["tile"]), (int(saved["x"]), int(saved["y"])))


def wait_for(player: LivePlayer, condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        player.update(0.05)
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_keys_control_the_real_server_with_its_token(real_server: tuple[str, str], tiny_run: Path) -> None:
    url, token = real_server
    client = LiveClient(url)
    player = LivePlayer(client, client.connect(), token="wrong")
    try:
        assert player.state.hello.replay is not None
        player.toggle_pause()
        assert wait_for(player, lambda: "token" in player.notice), player.notice
        assert not player.paused
        player.token = token
        player.toggle_pause()
        assert wait_for(player, lambda: player.paused), "the server's status says paused"
        time.sleep(0.3)  # a frame sent just before the pause may still be on its way
        player.update(0)
        paused_at = player.state.tick
        player.step(+1)
        assert wait_for(player, lambda: player.state.tick == paused_at + 1)
        player.step(-1)  # a replay on the server seeks back and sends a fresh hello
        assert wait_for(player, lambda: player.state.tick == paused_at)
        positions = {agent: view.pos for agent, view in player.state.agents.items()}
        assert positions == positions_at(tiny_run, paused_at)
    finally:
        player.close()


class _WrittenTexts(FontSet):
    """The real fonts, keeping every text the panel draws so a test can read the screen's words."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def render(self, text: str, size: int, color: tuple[int, int, int], bold: bool = False) -> pygame.Surface:
        self.texts.append(text)
        return super().render(text, size, color, bold)


def _panel_texts(run: Path, tick: int) -> list[str]:
    """Every text drawn for the town list, then for the first agent's card, while paused at ``tick``."""
    fonts = _WrittenTexts()
    player = ReplayPlayer(ReplayRun.open(run), start_tick=tick)
    player.toggle_pause()
    app = ViewerApp(player, fonts)
    surface = pygame.Surface((1200, 800))
    app.frame(surface, 0)
    app.handle_key(pygame.K_TAB)
    app.frame(surface, 0)
    return [*fonts.texts, player.status()]


def test_the_panel_of_an_english_world_is_english(tmp_path: Path) -> None:
    run = tmp_path / "smallville"
    world = REPO / "worlds" / "smallville.yaml"
    assert cli_main(["run", str(world), "--hours", "1", "--out", str(run), "--no-progress"]) == 0
    texts = _panel_texts(run, 300)
    assert "people · click one to see more" in texts and any(t.startswith("doing ") for t in texts)
    assert any(t.startswith("‖ paused · replay ") for t in texts)
    cjk = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
    assert not [t for t in texts if cjk.search(t)]


def test_the_panel_of_a_chinese_world_keeps_its_chinese_labels(tiny_run: Path) -> None:
    texts = _panel_texts(tiny_run, 300)
    assert "人物 · 点击查看 (click an agent)" in texts and any(t.startswith("行动 ") for t in texts)
    assert any(t.startswith("‖ 暂停 paused · 回放 replay ") for t in texts)
