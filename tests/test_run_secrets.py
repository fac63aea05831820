"""Nothing secret lands in a run folder or on the terminal: not a server's error text, not the
credentials a base URL carries. Real runs through the CLI against the loopback test double."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import Fault, FaultPlan, create_app, serve_in_thread
from luotuo_rpg.llm.redact import mask_url
from tests.doubles import openai_flags, run_args

REPO = Path(__file__).resolve().parents[1]
SERVER_SECRET = "sk-proj-QUOTED-BY-THE-SERVER-42"
URL_SECRET = "pa55-IN-THE-URL-7"


def _run(args: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "luotuo_rpg.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


def _everything_written(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())


def test_a_mid_run_401_does_not_quote_the_server_into_the_run_files(tiny_world, tmp_path):
    faults = FaultPlan(faults=[Fault(kind="401", message=f"Incorrect API key provided: {SERVER_SECRET}")], repeat=True)
    with serve_in_thread(create_app(OfflineAnswerer(), faults=faults)) as server:
        out = tmp_path / "run"
        run = _run(run_args(tiny_world, out, 1, *openai_flags(server.base_url)))
    assert run.returncode != 0 and (out / "summary.json").exists(), run.stdout + run.stderr
    written = _everything_written(out)
    assert "HTTP 401" in written  # what failed is said…
    assert SERVER_SECRET not in written and "Incorrect API key" not in written  # …not what the server wrote
    assert SERVER_SECRET not in run.stdout


def test_credentials_in_a_base_url_are_masked_in_meta_and_output_and_resume_asks_for_them(tiny_world, tmp_path):
    with serve_in_thread(create_app(OfflineAnswerer())) as server:
        url = server.base_url.replace("http://", f"http://luotuo:{URL_SECRET}@")
        out = tmp_path / "run"
        run = _run(run_args(tiny_world, out, 0.5, *openai_flags(url)))
        assert run.returncode == 0 and "fallbacks 0" in run.stdout, run.stdout + run.stderr
        assert URL_SECRET not in _everything_written(out)
        assert URL_SECRET not in run.stdout + run.stderr
        assert mask_url(url) in (out / "meta.json").read_text(encoding="utf-8")  # where it pointed is kept

        again = _run(["resume", str(out), "--hours", "1", "--no-progress"])
        assert again.returncode == 2 and "--base-url" in again.stderr and URL_SECRET not in again.stderr
        resumed = _run(["resume", str(out), "--hours", "1", "--no-progress", "--base-url", url])
        assert resumed.returncode == 0 and "fallbacks 0" in resumed.stdout, resumed.stdout + resumed.stderr
        assert URL_SECRET not in _everything_written(out)


def test_mask_url_keeps_where_it_points_and_nothing_else():
    assert (
        mask_url("https://user:pw@proxy.example:8443/v1?api-key=k&region=eu")
        == "https://***@proxy.example:8443/v1?api-key=***&region=eu"
    )
    assert mask_url("http://127.0.0.1:8001/v1") == "http://127.0.0.1:8001/v1"
