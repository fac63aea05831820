"""report.html: every plot is there, drawn, self-contained; checked in Debian chromium too."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from luotuo_rpg.config import SimConfig
from luotuo_rpg.report.data import load_run
from luotuo_rpg.report.page import write_report
from luotuo_rpg.sim.runner import run_headless
from tests.chromium import CHROMIUM, launch_chromium

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "worlds" / "tiny.yaml"
QIXIA = ROOT / "worlds" / "qixia_town.yaml"
SMALLVILLE = ROOT / "worlds" / "smallville.yaml"
# Chinese characters and the full-width punctuation that goes with them (，。；：（）「」…).
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
ARTIFACTS = ROOT / "test-artifacts"
PLOTS = ("timeline-0", "heatmap", "network", "memories", "reflections", "llm-requests", "llm-tokens", "event-spread")


def _reported_day(tmp_path_factory: pytest.TempPathFactory, world: Path, seed: int, name: str) -> Path:
    """A game day of ``world`` run into a folder called ``name``, with its report.html written."""
    out = tmp_path_factory.mktemp("report") / name
    run_headless(world, hours=24, seed=seed, out=out)
    write_report(out)
    return out


@pytest.fixture(scope="module")
def tiny_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _reported_day(tmp_path_factory, TINY, 4, "tiny-day")


@pytest.fixture(scope="module")
def smallville_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day of the English world; it ends 06:00 on the 14th, before the party (17:00) begins."""
    return _reported_day(tmp_path_factory, SMALLVILLE, 1, "smallville-day")


@pytest.fixture(scope="module")
def qixia_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not QIXIA.exists():
        pytest.skip("worlds/qixia_town.yaml not present")
    return _reported_day(tmp_path_factory, QIXIA, 1, "qixia-day")


def test_report_holds_every_plot_and_fetches_nothing(tiny_day: Path) -> None:
    html = (tiny_day / "report.html").read_text(encoding="utf-8")
    for key in PLOTS:
        assert f'data-plot="{key}"' in html, key
    assert "<script" not in html
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert "WenQuanYi Micro Hei" in html
    assert html.startswith("<!DOCTYPE html><html lang='zh-CN'>")
    assert "每个人的一天" in html and "消息传开了吗" in html and "Did the news spread" not in html


def test_an_english_world_gets_its_report_in_english(smallville_day: Path) -> None:
    html = (smallville_day / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html><html lang='en'>")
    for heading in ("Everyone&#x27;s day", "Where people were", "Who talked to whom", "Model use", "Behaviour"):
        assert f"<h2>{heading}</h2>" in html, heading
    assert "<h1>Smallville · run report</h1>" in html and "Did the news spread?" in html
    assert "<th>knew at start</th>" in html and "had not begun when the run ended" in html
    assert "person-hours (log scale)" in html and "conversations between" in html  # axis and plot labels
    assert "Isabella Rodriguez" in html  # the world's own texts are English too, so the whole page is
    found = [html[max(m.start() - 40, 0) : m.end() + 40] for m in CJK.finditer(html)]
    assert not found, found[:5]


def test_an_english_worlds_conversations_are_listed_in_english(smallville_day: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "luotuo_rpg.cli", "conversations", str(smallville_day)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=True,
    )
    assert done.stdout.startswith("# Conversations of smallville-day\n") and "conversations\n" in done.stdout
    assert "- **" in done.stdout and not CJK.search(done.stdout), CJK.findall(done.stdout)[:5]


def test_event_knowledge_from_checkpoints_ends_at_the_summary_count(tiny_day: Path) -> None:
    data = load_run(tiny_day)
    assert data.summary is not None and data.history
    last = data.history[-1]
    assert last.tick == data.summary.ticks
    for spread in data.summary.events:
        assert last.knowers[spread.what] == spread.known_at_end
    assert last.memories == [a.memories for a in data.summary.agents]
    assert data.frames.ticks == data.summary.ticks
    assert sum(data.frames.conversations.values()) == data.summary.conversations


def test_report_of_a_run_cut_off_mid_line(tmp_path: Path) -> None:
    out = tmp_path / "cut"
    run_headless(TINY, hours=3, seed=4, out=out, config=SimConfig(checkpoint_minutes=30))
    (out / "summary.json").unlink()
    with open(out / "frames.jsonl", "ab") as handle:
        handle.write(b'{"tick":1080,"time":"2026-03')
    write_report(out)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "最后一行不完整" in html and "还没有结束" in html
    assert load_run(out).frames.ticks == 1080


def test_report_cli_errors_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "luotuo_rpg.cli", "report", str(tmp_path / "nowhere")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "meta.json" in done.stderr


def _check_in_chromium(run_dir: Path, shot: str, personas: int, events: int) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed (/usr/bin/chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto((run_dir / "report.html").as_uri())
            plots = page.eval_on_selector_all(
                "svg.plot",
                """els => els.map(el => {
                    const box = el.getBoundingClientRect();
                    return {
                        key: el.dataset.plot, width: box.width, height: box.height,
                        shapes: el.querySelectorAll('rect, line, circle, polyline, path').length,
                        texts: el.querySelectorAll('text').length,
                        polylines: el.querySelectorAll('polyline').length,
                        circles: el.querySelectorAll('circle').length,
                        titled: el.querySelectorAll('title').length,
                        font: getComputedStyle(el.querySelector('text') || el).fontFamily,
                    };
                })""",
            )
            page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
        finally:
            browser.close()
    found = {plot["key"]: plot for plot in plots}
    for key in PLOTS:
        assert key in found, f"{key} missing"
    for plot in plots:
        assert plot["width"] > 100 and plot["height"] > 50, plot
        assert plot["shapes"] > 5 and plot["texts"] > 0, plot
        assert "WenQuanYi Micro Hei" in plot["font"], plot
    assert found["timeline-0"]["titled"] >= personas  # a tooltip per action bar
    assert found["heatmap"]["titled"] > 10  # heat cells with hours
    assert found["network"]["circles"] == personas
    assert found["memories"]["polylines"] == personas
    assert found["event-spread"]["polylines"] == events
    assert all(url.startswith("file://") for url in requests), requests


@pytest.mark.browser
def test_tiny_day_report_renders_every_plot_in_chromium(tiny_day: Path) -> None:
    _check_in_chromium(tiny_day, "report-tiny.png", personas=3, events=1)


@pytest.mark.browser
@pytest.mark.slow
def test_qixia_day_report_renders_every_plot_in_chromium(qixia_day: Path) -> None:
    data = load_run(qixia_day)
    _check_in_chromium(qixia_day, "report-qixia.png", personas=len(data.spec.personas), events=len(data.spec.events))


@pytest.mark.browser
def test_english_day_report_renders_every_plot_in_chromium(smallville_day: Path) -> None:
    data = load_run(smallville_day)
    _check_in_chromium(
        smallville_day, "report-smallville.png", personas=len(data.spec.personas), events=len(data.spec.events)
    )
