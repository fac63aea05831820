"""The browser viewer in Debian's chromium, driven by Playwright against a real server.

Screenshots land in ``test-artifacts/`` (look at them: Chinese labels, agents, bubbles).
The page exposes ``window.__luotuo`` (tick, agents' tiles, selection, …) for these checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from luotuo_rpg.authoring.scaffold import new_world
from luotuo_rpg.server.process import ServeProcess
from luotuo_rpg.sim.files import AgentFrame, Frame
from luotuo_rpg.sim.runner import run_headless
from tests.chromium import CHROMIUM, launch_chromium

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
TOKEN = "browser-token-0123456789"
HERO = "佟湘玉"

if not CHROMIUM.exists():
    pytest.skip("Debian chromium (/usr/bin/chromium) is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _town(tmp: Path) -> Path:
    """七侠镇 when it is there; otherwise a generated 26-agent town whose first resident is 佟湘玉."""
    qixia = REPO / "worlds" / "qixia_town.yaml"
    if qixia.exists():
        return qixia
    path = tmp / "town26.yaml"
    path.write_text(
        new_world("测试镇", agents=26, size=(60, 30), schema_ref=None).replace("居民一", HERO), encoding="utf-8"
    )
    return path


@pytest.fixture(scope="module")
def replays_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("replays")
    run_headless(REPO / "worlds" / "tiny.yaml", hours=0.5, seed=0, out=root / "run1")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory, replays_root) -> Iterator[ServeProcess]:
    town = _town(tmp_path_factory.mktemp("town"))
    with ServeProcess(str(town), "--speed", "30", "--replays-root", str(replays_root), token=TOKEN) as process:
        yield process


@pytest.fixture(scope="module")
def browser(server) -> Iterator[object]:
    # After the server: sync Playwright keeps an event loop running, and run_headless needs asyncio.run.
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.base}/?token={TOKEN}")
    page.wait_for_function("window.__luotuo && window.__luotuo.hellos >= 1 && window.__luotuo.tick >= 0")
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def _hero_id(server: ServeProcess) -> int:
    agents = httpx.get(f"{server.base}/api/agents", timeout=10).json()
    return next(a["id"] for a in agents if a["name"] == HERO)


def _control(server: ServeProcess, **body) -> None:
    response = httpx.post(f"{server.base}/api/control", json={"token": TOKEN, **body}, timeout=30)
    assert response.status_code == 200 and response.json()["ok"], response.text


def _reconstruct(frames_path: Path, tick: int) -> dict[int, tuple[int, int] | None]:
    agents: dict[int, AgentFrame] = {}
    for line in frames_path.read_text(encoding="utf-8").splitlines():
        frame = Frame.model_validate_json(line)
        if frame.tick > tick:
            break
        for agent_id, delta in frame.agents.items():
            agents[agent_id] = agents.get(agent_id, AgentFrame()).model_copy(update=delta.model_dump(exclude_none=True))
    return {i: a.pos for i, a in agents.items()}


def test_the_token_leaves_the_address_bar_and_no_script_can_read_it(page):
    assert "token" not in page.url
    assert TOKEN not in page.evaluate("document.cookie")  # HTTP-only
    assert (
        page.evaluate(
            "JSON.stringify(Object.assign({}, localStorage)) + JSON.stringify(Object.assign({}, sessionStorage))"
        ).find(TOKEN)
        == -1
    )
    assert page.evaluate("fetch('/api/session').then(r => r.json())")["authorized"] is True


def test_a_token_typed_into_the_page_allows_controls(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(f"{server.base}/")
        page.wait_for_function("window.__luotuo && window.__luotuo.hellos >= 1")
        assert page.evaluate("fetch('/api/session').then(r => r.json())")["authorized"] is False
        page.fill("#token", TOKEN)
        page.press("#token", "Enter")
        page.wait_for_function("window.__luotuo.hellos >= 2")  # reconnected with the cookie
        assert page.evaluate("fetch('/api/session').then(r => r.json())")["authorized"] is True
        assert page.input_value("#token") == ""
    finally:
        context.close()


def test_map_and_agents_render_with_chinese_glyphs(page):
    agents = page.evaluate("Object.keys(window.__luotuo.agents).length")
    assert agents >= 25
    size = page.evaluate(
        "(() => { const c = document.getElementById('map'); return [c.clientWidth, c.clientHeight]; })()"
    )
    assert size[0] > 400 and size[1] > 250
    assert page.locator("#agent-list .agent-chip").count() == agents
    # The font the DOM's Chinese text really renders with, as chromium reports it.
    client = page.context.new_cdp_session(page)
    client.send("DOM.enable")
    client.send("CSS.enable")
    root = client.send("DOM.getDocument")["root"]["nodeId"]
    node = client.send("DOM.querySelector", {"nodeId": root, "selector": "#insp-title"})["nodeId"]
    fonts = client.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    assert any("WenQuanYi" in f["familyName"] for f in fonts), fonts
    # On the canvas: a CJK character must not draw like a glyph the font lacks (a box).
    differs = page.evaluate("""() => {
        const c = document.createElement('canvas'); c.width = 40; c.height = 40;
        const ctx = c.getContext('2d');
        const draw = (ch) => { ctx.clearRect(0, 0, 40, 40); ctx.font = '28px "WenQuanYi Micro Hei"';
            ctx.fillText(ch, 4, 32); return Array.from(ctx.getImageData(0, 0, 40, 40).data).join(','); };
        return draw('湘') !== draw('\\u{10FFFD}') && draw('湘') !== draw('玉');
    }""")
    assert differs
    page.wait_for_timeout(1500)  # let a few frames and speech bubbles arrive
    page.screenshot(path=str(ARTIFACTS / "viewer-1280x720.png"))


def test_positions_change_across_frames(page):
    page.evaluate(
        "window.__before = JSON.stringify(Object.fromEntries(Object.entries(window.__luotuo.agents).map(([i, a]) => "
        "[i, [a.x, a.y]])))"
    )
    start = page.evaluate("window.__luotuo.tick")
    page.wait_for_function(
        f"""window.__luotuo.tick > {start} + 10 &&
        JSON.stringify(Object.fromEntries(Object.entries(window.__luotuo.agents)
          .map(([i, a]) => [i, [a.x, a.y]]))) !== window.__before""",
        timeout=30_000,
    )


def test_speech_bubbles_appear_when_agents_talk(page):
    page.wait_for_function("Object.keys(window.__luotuo.bubbles).length > 0", timeout=40_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "viewer-bubbles.png"))


def test_clicking_tong_xiangyu_shows_schedule_and_memories(page, server):
    hero = _hero_id(server)
    for _ in range(300):  # she wakes at dawn and plans her day
        detail = httpx.get(f"{server.base}/api/agents/{hero}", timeout=10).json()
        if detail["schedule"] and detail["memories"]:
            break
        page.wait_for_timeout(100)
    _control(server, action="pause")
    try:
        page.wait_for_function("window.__luotuo.paused")
        page.wait_for_timeout(800)  # the last glide ends
        point = page.evaluate(f"window.__luotuo.screenPos({hero})")
        page.mouse.click(point["x"], point["y"])
        page.wait_for_function(f"window.__luotuo.selected === {hero} && window.__luotuo.detail !== null")
        assert HERO in page.inner_text("#insp-title")
        assert page.locator("#insp-body [data-field=schedule] li").count() > 0
        assert page.locator("#insp-body [data-field=memories] li").count() > 0
        # Where she stands (the room of her tile, or the street), beside where her action is.
        stands = httpx.get(f"{server.base}/api/agents/{hero}", timeout=10).json()["at"]
        assert stands is not None
        shown = page.inner_text("#insp-body [data-field=at]")
        assert shown == "身在：" + (stands.replace("/", "›") if stands else "街上"), (shown, stands)
        page.screenshot(path=str(ARTIFACTS / "viewer-inspector.png"))
    finally:
        _control(server, action="resume")


def test_pause_stops_the_clock_and_resume_restarts_it(page):
    page.click("#btn-pause")
    page.wait_for_function("window.__luotuo.paused && document.getElementById('paused-badge').hidden === false")
    page.wait_for_timeout(300)
    clock, tick = page.inner_text("#clock"), page.evaluate("window.__luotuo.tick")
    page.wait_for_timeout(1200)
    assert page.inner_text("#clock") == clock and page.evaluate("window.__luotuo.tick") == tick
    page.click("#btn-resume")
    page.wait_for_function(f"!window.__luotuo.paused && window.__luotuo.tick > {tick} + 3")


def test_interview_gets_an_answer(page, server):
    hero = _hero_id(server)
    page.select_option("#interview-agent", str(hero))
    page.fill("#interview-question", "掌柜的，今天生意怎么样？")
    page.click("#interview-form button")
    page.wait_for_function(
        "(() => { const a = document.querySelector('#interview-log .a'); return a && "
        "!a.classList.contains('muted'); })()",
        timeout=30_000,
    )
    answer = page.inner_text("#interview-log .a")
    assert answer.startswith(f"{HERO}："), answer
    assert len(answer) > len(HERO) + 2


def test_replay_scrubber_seeks_to_a_tick_and_shows_its_positions(browser, server, replays_root):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        page.goto(f"{server.base}/?replay=run1&token={TOKEN}")
        page.wait_for_function("window.__luotuo && window.__luotuo.mode === 'replay'")
        assert page.is_visible("#scrubber") and page.is_hidden("#interview-panel")
        page.click("#btn-pause")
        page.wait_for_function("window.__luotuo.paused")
        target = 137
        page.evaluate(f"""(() => {{ const s = document.getElementById('scrubber'); s.value = {target};
            s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); }})()""")
        page.wait_for_function(f"window.__luotuo.tick === {target}")
        shown = page.evaluate(
            "Object.fromEntries(Object.entries(window.__luotuo.agents).map(([i, a]) => [i, [a.x, a.y]]))"
        )
        expected = _reconstruct(replays_root / "run1" / "frames.jsonl", target)
        assert {int(i): tuple(p) for i, p in shown.items()} == expected
        assert page.input_value("#scrubber") == str(target)
        page.screenshot(path=str(ARTIFACTS / "viewer-replay.png"))
    finally:
        context.close()


def test_phone_width_layout_fits_the_screen(browser, server):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        page.goto(f"{server.base}/?token={TOKEN}")
        page.wait_for_function("window.__luotuo && window.__luotuo.hellos >= 1")
        page.wait_for_timeout(800)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page must not scroll sideways"
        box = page.locator("#map-wrap").bounding_box()
        assert box is not None and box["width"] <= 390 and box["height"] > 150
        assert page.is_visible("#btn-pause") and page.is_visible("#interview-form")
        page.screenshot(path=str(ARTIFACTS / "viewer-phone.png"), full_page=True)
    finally:
        context.close()
