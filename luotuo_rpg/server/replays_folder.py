"""The replays folder: listing runs and turning a viewer's ``?replay=NAME`` into a path safely.

A name comes from the network, so it must name a folder directly inside the
replays root and nothing else: no separators, no ``..``, no absolute paths,
and no symlink whose target lies outside the root.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from luotuo_rpg.server.views import ReplayEntry

log = logging.getLogger(__name__)

_MAX_NAME = 200


class ReplayNameError(Exception):
    """``status`` is the HTTP status to answer with: 400 bad name, 403 outside the root, 404 no such run."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def resolve_replay(root: Path, name: str) -> Path:
    if (
        not name
        or len(name) > _MAX_NAME
        or name in (".", "..")
        or any(sep in name for sep in ("/", "\\", "\x00"))
        or Path(name).is_absolute()
        or ":" in name  # a drive letter on Windows
    ):
        raise ReplayNameError(400, f"bad replay name {name!r}: expected the name of a folder in the replays folder")
    base = root.resolve()
    target = (base / name).resolve()
    if target.parent != base:
        raise ReplayNameError(403, f"replay {name!r} points outside the replays folder")
    if not (target / "meta.json").is_file() or not (target / "frames.jsonl").is_file():
        raise ReplayNameError(404, f"no replay named {name!r} (a folder with meta.json and frames.jsonl)")
    return target


def list_replays(root: Path) -> list[ReplayEntry]:
    if not root.is_dir():
        return []
    base = root.resolve()
    entries: list[ReplayEntry] = []
    for folder in sorted(root.iterdir(), reverse=True):
        try:
            target = folder.resolve()
        except OSError:
            continue
        if target.parent != base or not (target / "meta.json").is_file() or not (target / "frames.jsonl").is_file():
            continue
        world: str | None = None
        ticks: int | None = None
        try:
            meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
            world = meta.get("world", {}).get("world", {}).get("name")
            summary_path = target / "summary.json"
            if summary_path.is_file():
                ticks = json.loads(summary_path.read_text(encoding="utf-8")).get("ticks")
        except (OSError, ValueError, AttributeError) as error:
            log.warning("skipping unreadable replay %s: %s", folder.name, error)
            continue
        entries.append(ReplayEntry(name=folder.name, world=world, ticks=ticks, finished=ticks is not None))
    return entries
