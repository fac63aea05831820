"""Where the files that ship beside the code live: the built-in worlds, the browser viewer, the schema.

In a checkout (and an editable install) they are the repository's own ``worlds/``,
``frontend/`` and ``docs/world.schema.json``, so that what a developer edits is what
runs. A wheel carries copies under ``luotuo_rpg/_shipped/`` (``pyproject.toml`` puts
them there), because an installed package has no repository around it.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
_SHIPPED = PACKAGE_DIR / "_shipped"


def in_checkout() -> bool:
    """True when the package runs from a source tree (plain or editable), not from an installed wheel."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "worlds").is_dir()


def _locate(repo_path: str, shipped_path: str) -> Path:
    if in_checkout() or not (_SHIPPED / shipped_path).exists():
        return REPO_ROOT / repo_path
    return _SHIPPED / shipped_path


def worlds_dir() -> Path:
    return _locate("worlds", "worlds")


def default_world() -> Path:
    """七侠镇, the world ``run`` and ``serve`` use when none is named."""
    return worlds_dir() / "qixia_town.yaml"


def frontend_dir() -> Path:
    return _locate("frontend", "frontend")


def schema_file() -> Path:
    return _locate("docs/world.schema.json", "world.schema.json")


def default_replays_root() -> Path:
    """``replays/`` of the checkout; for an installed package, ``replays/`` in the current folder."""
    return REPO_ROOT / "replays" if in_checkout() else Path.cwd() / "replays"
