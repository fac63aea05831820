from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORLDS = REPO / "worlds"


@pytest.fixture
def tiny_world() -> Path:
    return WORLDS / "tiny.yaml"


@pytest.fixture
def qixia_world() -> Path:
    path = WORLDS / "qixia_town.yaml"
    if not path.exists():
        pytest.skip("worlds/qixia_town.yaml not present")
    return path
