"""Debian's chromium under Playwright, as the browser tests drive it (no ``playwright install``).

/work/shared/ENVIRONMENT.md's flags: no sandbox and no GPU in a container, and nothing fetched
in the background, so a page's own requests are the only ones a test sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def launch_chromium(playwright: Any) -> Any:
    """A headless Debian chromium from a started ``sync_playwright()``; the caller closes it."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
