"""The loader's errors: one clear line per problem, naming file, line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from luotuo_rpg.world.loader import WorldError, load_world_spec

REPO = Path(__file__).resolve().parents[1]


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = (REPO / "worlds" / "tiny.yaml").read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _only_issue(path: Path):
    with pytest.raises(WorldError) as caught:
        load_world_spec(path)
    assert len(caught.value.issues) == 1, caught.value.issues
    return caught.value.issues[0]


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = _broken(tmp_path, "  name: 小小客栈", "  name: [小小客栈")
    issue = _only_issue(path)
    assert "YAML syntax" in issue.message
    assert issue.line is not None and issue.line >= _line_of(path, "[小小客栈")


def test_unknown_field_names_line_and_field(tmp_path):
    path = _broken(tmp_path, "    age: 27\n", "    age: 27\n    agee: 3\n")
    issue = _only_issue(path)
    assert issue.line == _line_of(path, "agee:")
    assert issue.field == "personas[1].agee"
    assert "unknown field 'agee'" in issue.message


def test_wrong_type_names_expected(tmp_path):
    path = _broken(tmp_path, "    age: 27\n", "    age: 二十七\n")
    issue = _only_issue(path)
    assert issue.field == "personas[1].age"
    assert issue.line == _line_of(path, "二十七")
    assert "integer" in issue.message


def test_room_off_the_map(tmp_path):
    path = _broken(tmp_path, "rect: [11, 8, 8, 3]", "rect: [11, 8, 30, 3]")
    issue = _only_issue(path)
    assert issue.field == "areas[0].rooms[1].rect"
    assert issue.line == _line_of(path, "[11, 8, 30, 3]")
    assert "falls off" in issue.message


def test_home_that_cannot_be_reached(tmp_path):
    # Wall in the pharmacy (药铺/药房) by closing its door on the street.
    path = _broken(tmp_path, "###.#######.####.###", "###.#######.########")
    text = path.read_text(encoding="utf-8").replace(
        'home: 客栈/伙计房\n    color: "#ff9800"', 'home: 药铺/药房\n    color: "#ff9800"'
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorldError) as caught:
        load_world_spec(path)
    homes = [i for i in caught.value.issues if i.field == "personas[2].home"]
    assert len(homes) == 1 and "cannot be reached" in homes[0].message
    assert homes[0].line == _line_of(path, "home: 药铺/药房")
    rooms = [i for i in caught.value.issues if i.field == "areas[1].rooms[0].rect"]
    assert rooms and "no door" in rooms[0].message


def test_duplicate_persona_name(tmp_path):
    path = _broken(tmp_path, "  - name: 李大嘴", "  - name: 白展堂")
    with pytest.raises(WorldError) as caught:
        load_world_spec(path)
    messages = [str(i) for i in caught.value.issues]
    assert any("duplicate persona name '白展堂'" in m for m in messages), messages


def test_relationship_to_unknown_persona(tmp_path):
    path = _broken(tmp_path, "      白展堂: 店里的跑堂", "      白展糖: 店里的跑堂")
    issue = _only_issue(path)
    assert issue.field == "personas[0].relationships.白展糖"
    assert issue.line == _line_of(path, "白展糖")
    assert "not a persona" in issue.message


def test_validate_command_prints_file_line_and_exits_2(tmp_path):
    path = _broken(tmp_path, "    age: 27\n", "    age: 27\n    agee: 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "luotuo_rpg.cli", "validate", str(path)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 2
    assert f"{path}:{_line_of(path, 'agee:')}" in result.stderr
    assert "Traceback" not in result.stderr


def test_unquoted_time_gets_a_hint(tmp_path):
    path = _broken(tmp_path, '{at: "17:00", do: 去药铺买药', "{at: 17:00, do: 去药铺买药")
    issue = _only_issue(path)
    assert issue.field == "personas[0].routine[4].at"
    assert 'quoted, e.g. "17:00"' in issue.message


def test_validate_accepts_every_shipped_world():
    for world in sorted((REPO / "worlds").glob("*.yaml")):
        spec = load_world_spec(world)
        assert spec.personas, world
