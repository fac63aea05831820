"""An installed wheel, away from any checkout, runs the default world and serves the browser viewer.

The wheel is built from this tree and installed into a folder of its own; the commands
run from an empty folder with only that folder (and the test environment's
dependencies) on the path, so nothing can quietly come from the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
from cli_server import served

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling")
    dist = tmp_path_factory.mktemp("dist")
    target = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("luotuo_rpg-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "luotuo_rpg/_shipped/frontend/index.html" in names
    assert "luotuo_rpg/_shipped/worlds/qixia_town.yaml" in names
    assert "luotuo_rpg/llm/prompts/zh/plan_day.txt" in names
    assert {"luotuo_rpg/_shipped/worlds/smallville.yaml", "luotuo_rpg/llm/prompts/en/phrases.yaml"} <= names
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    return target


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    return env


def _cli(site: Path, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # -P: the current folder is not put on sys.path, so only the installed copy can be imported
    # (the editable install's path hook stays, but the installed folder comes first on PYTHONPATH).
    return subprocess.run(
        [sys.executable, "-P", "-m", "luotuo_rpg.cli", *args],
        cwd=cwd,
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    found = subprocess.run(
        [
            sys.executable,
            "-P",
            "-c",
            "import json, luotuo_rpg, luotuo_rpg.shipped as s; "
            "print(json.dumps([luotuo_rpg.__file__, s.in_checkout(), str(s.frontend_dir()), str(s.default_world())]))",
        ],
        cwd=tmp_path,
        env=_env(installed),
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stderr
    package, checkout, frontend, world = json.loads(found.stdout)
    assert Path(package).is_relative_to(installed)
    assert checkout is False
    assert Path(frontend).is_relative_to(installed) and (Path(frontend) / "index.html").is_file()
    assert Path(world).is_relative_to(installed) and Path(world).is_file()


def test_installed_run_uses_the_shipped_default_world_and_writes_replays_here(installed: Path, tmp_path: Path) -> None:
    done = _cli(installed, tmp_path, "run", "--hours", "0.5", "--no-progress")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "七侠镇" in done.stdout
    runs = list((tmp_path / "replays").iterdir())
    assert len(runs) == 1
    summary = json.loads((runs[0] / "summary.json").read_text(encoding="utf-8"))
    assert len(summary["agents"]) >= 25 and summary["ticks"] > 0


def test_installed_serve_serves_the_browser_viewer(installed: Path, tmp_path: Path) -> None:
    with served(
        ["--paused", "--token", "t-0123456789abcdef"], cwd=tmp_path, env=_env(installed), python_flags=("-P",)
    ) as (_, port):
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode("utf-8")
        assert "<canvas" in page
        world = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/world", timeout=10).read())
        assert world["world"] == "七侠镇" and world["agents"] >= 25
