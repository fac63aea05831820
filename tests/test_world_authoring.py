"""The world authoring kit: JSON schema, ``new-world``, Tiled import, the Smallville world.

"Runs" means one game hour through the headless runner with the offline
mind, the same path ``luotuo-rpg run`` takes.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from luotuo_rpg.authoring.scaffold import new_world
from luotuo_rpg.authoring.schema import schema_text, world_schema, yaml_as_json
from luotuo_rpg.authoring.tiled import TiledImportError, import_tiled_file, import_tiled_map
from luotuo_rpg.cli import main
from luotuo_rpg.world.grid import Grid
from luotuo_rpg.world.loader import WorldError, load_world_spec, parse_world_text
from luotuo_rpg.world.spec import PersonaSpec, WorldSpec

REPO = Path(__file__).resolve().parents[1]
WORLDS = REPO / "worlds"
TINY = WORLDS / "tiny.yaml"


# --- helpers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(world_schema())


def _schema_errors(validator: Draft202012Validator, text: str) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml_as_json(text))]


def _run_one_hour(world: Path, out: Path, expected_agents: int) -> None:
    from luotuo_rpg.sim.runner import run_headless

    spec = load_world_spec(world)
    summary = run_headless(world, hours=1, seed=0, out=out)
    assert summary.ticks == 3600 // spec.world.tick_seconds
    assert len(summary.agents) == expected_agents
    assert summary.stopped_early is None
    assert (out / "frames.jsonl").is_file()


def _unreachable_rooms(spec: WorldSpec) -> list[str]:
    grid = Grid.from_spec(spec.map)
    reach = grid.largest_component()
    lost = []
    for area in spec.areas:
        for room in area.rooms:
            x, y, w, h = room.rect
            tiles = [(tx, ty) for ty in range(y, y + h) for tx in range(x, x + w) if grid.walkable(tx, ty)]
            if not tiles or any(tile not in reach for tile in tiles):
                lost.append(f"{area.name}/{room.name}")
    return lost


# --- JSON schema ---------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema_with_title_and_descriptions():
    schema = world_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    persona = schema["$defs"]["PersonaSpec"]
    assert persona["description"]
    for name, prop in persona["properties"].items():
        assert prop.get("description"), f"PersonaSpec.{name} has no description"
    assert "examples" in persona["properties"]["home"]


def test_committed_schema_matches_the_models():
    committed = (REPO / "docs" / "world.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "docs/world.schema.json is stale: run `luotuo-rpg schema --out docs/world.schema.json`"
    )


@pytest.mark.parametrize("world", sorted(WORLDS.glob("*.yaml")), ids=lambda p: p.name)
def test_schema_accepts_every_world_in_worlds(world: Path, validator):
    text = world.read_text(encoding="utf-8")
    assert _schema_errors(validator, text) == []
    assert text.startswith("# yaml-language-server: $schema=../docs/world.schema.json")


BROKEN = {
    "unknown field": ("    age: 27\n", "    age: 27\n    agee: 3\n"),
    "wrong type": ("    age: 27\n", "    age: 二十七\n"),
    "missing required field": ('    home: 客栈/伙计房\n    color: "#3f51b5"\n', '    color: "#3f51b5"\n'),
    "time not HH:MM": ('{at: "07:00", do: 起床', '{at: "7点", do: 起床'),
    "unquoted time read as a number": ('{at: "17:00", do: 去药铺买药', "{at: 17:00, do: 去药铺买药"),
    "bad colour": ('color: "#e91e63"', "color: red"),
    "legend key of two characters": ('",": {name: 街道', '",,": {name: 街道'),
    "start not a date-time": ('start: "2026-03-01T06:00:00"', 'start: "明天早上"'),
    "event of zero minutes": ("minutes: 90", "minutes: 0"),
    "persona list empty": (None, None),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_schema_rejects_what_the_loader_rejects(case: str, validator):
    text = TINY.read_text(encoding="utf-8")
    old, new = BROKEN[case]
    if old is None:
        data = yaml.safe_load(text)
        data["personas"] = []
        text = yaml.safe_dump(data, allow_unicode=True)
    else:
        assert old in text, old
        text = text.replace(old, new, 1)
    with pytest.raises(WorldError):
        parse_world_text(text, "broken.yaml")
    assert _schema_errors(validator, text), f"schema accepted a world the loader rejects ({case})"


def test_schema_command_prints_the_schema(capsys):
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == world_schema()


# --- new-world -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agents", "size"), [(1, (24, 12)), (3, (40, 20)), (8, (31, 17)), (25, (64, 44)), (99, (200, 120))]
)
def test_new_world_is_valid_and_every_room_is_reachable(agents: int, size: tuple[int, int], validator):
    text = new_world("新镇", agents=agents, size=size)
    spec = parse_world_text(text, "new.yaml")
    assert len(spec.personas) == agents
    assert len(spec.map.lines()) == size[1] and len(spec.map.lines()[0]) == size[0]
    assert len(spec.events) == 1 and spec.events[0].known_by == [spec.personas[0].name]
    assert _unreachable_rooms(spec) == []
    assert _schema_errors(validator, text) == []
    # The commented-out optional fields are valid once uncommented.
    parse_world_text(text.replace("# spawn:", "spawn:"), "new.yaml")


def test_new_world_shows_every_persona_field_with_optional_ones_commented():
    text = new_world("新镇", agents=2)
    first = text[text.index("personas:") : text.index("  - name: 居民二")]
    for field in PersonaSpec.model_fields:
        assert f"    {field}:" in first or f"  - {field}:" in first or f"# {field}:" in first, field
    assert "    # spawn: [" in first and "    # adapter: " in first
    assert first.count("\n    # ") >= len(PersonaSpec.model_fields)  # a comment line per field


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agents": 0}, "agents"),
        ({"agents": 100}, "agents"),
        ({"size": (10, 10)}, "size"),
        ({"size": (40, 11)}, "size"),
    ],
)
def test_new_world_refuses_what_its_layout_cannot_hold(kwargs: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=message):
        new_world("新镇", **kwargs)


def test_new_world_command_writes_worlds_name_yaml_that_validates_and_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-world", "试验镇", "--agents", "4", "--size", "32x16"]) == 0
    path = tmp_path / "worlds" / "试验镇.yaml"
    spec = load_world_spec(path)
    assert spec.world.name == "试验镇" and len(spec.personas) == 4
    assert "luotuo-rpg validate" in capsys.readouterr().err
    _run_one_hour(path, tmp_path / "run", expected_agents=4)


def test_new_world_to_stdout(capsys):
    assert main(["new-world", "纸上镇", "--out", "-"]) == 0
    out = capsys.readouterr().out
    assert parse_world_text(out).world.name == "纸上镇"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["new-world", "甲镇", "--size", "forty"], "--size"),
        (["new-world", "甲镇", "--size", "10x10"], "outside"),
        (["new-world", "甲镇", "--agents", "0"], "agents"),
        (["new-world", "a/b"], "file name"),
        (["import-tiled", "missing.tmj"], "not found"),
        (["import-tiled", "town.tmx"], "JSON"),
    ],
)
def test_authoring_errors_are_one_line_and_exit_2(argv: list[str], needle: str, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "town.tmx").write_text("<map/>", encoding="utf-8")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_new_world_does_not_overwrite_without_force(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-world", "乙镇"]) == 0
    path = tmp_path / "worlds" / "乙镇.yaml"
    path.write_text("mine", encoding="utf-8")
    assert main(["new-world", "乙镇"]) == 2
    assert "--force" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == "mine"
    assert main(["new-world", "乙镇", "--force"]) == 0
    load_world_spec(path)


def test_a_typo_in_a_new_world_is_reported_at_its_line_and_field(tmp_path):
    text = new_world("错字镇", agents=2).replace("place: 悦来茶馆/大堂/柜台}", "place: 悦来茶馆/大厅/柜台}", 1)
    path = tmp_path / "typo.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorldError) as caught:
        load_world_spec(path)
    (issue,) = caught.value.issues
    assert issue.field == "personas[0].routine[1].place"
    assert issue.line == text.splitlines().index(next(ln for ln in text.splitlines() if "大厅" in ln)) + 1
    assert str(issue).startswith(f"{path}:{issue.line}: [personas[0].routine[1].place]")


# --- Tiled import --------------------------------------------------------------------

TILE = 16
TILED_ROWS = [
    "####################",
    "#........#.........#",
    "#........#.........#",
    "#........#.........#",
    "#........#.........#",
    "####.#########.#####",
    "#..................#",
    "#..................#",
    "#####.##############",
    "#..................#",
    "#..................#",
    "####################",
]
WALL_GID = 3


def _gids(flags: int = 0) -> list[int]:
    return [(WALL_GID | flags) if ch == "#" else 0 for row in TILED_ROWS for ch in row]


def _rect(name: str, x: int, y: int, w: int, h: int, obj_id: int) -> dict[str, Any]:
    return {
        "id": obj_id,
        "name": name,
        "type": "",
        "x": x * TILE,
        "y": y * TILE,
        "width": w * TILE,
        "height": h * TILE,
        "rotation": 0,
        "visible": True,
    }


def _point(name: str, px: float, py: float, obj_id: int, **props: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": obj_id,
        "name": name,
        "type": "",
        "x": px,
        "y": py,
        "width": 0,
        "height": 0,
        "rotation": 0,
        "visible": True,
        "point": True,
    }
    if props:
        obj["properties"] = [{"name": k, "type": "string", "value": v} for k, v in props.items()]
    return obj


def _tiled_map(encoding: str = "csv") -> dict[str, Any]:
    width, height = len(TILED_ROWS[0]), len(TILED_ROWS)
    collision: dict[str, Any] = {
        "id": 2,
        "name": "collision",
        "type": "tilelayer",
        "width": width,
        "height": height,
        "x": 0,
        "y": 0,
        "opacity": 1,
        "visible": True,
    }
    if encoding == "csv":
        collision["data"] = _gids()
    else:
        # Flip flags in the high bits must not matter: the tile is still blocked.
        gids = _gids(flags=0x80000000)
        collision.update(
            encoding="base64",
            compression="",
            data=base64.b64encode(struct.pack(f"<{len(gids)}I", *gids)).decode("ascii"),
        )
    places = {
        "id": 3,
        "name": "places",
        "type": "objectgroup",
        "objects": [
            _rect("客栈/大堂", 1, 1, 8, 4, 1),
            _rect("客栈/客房", 10, 1, 9, 4, 2),
            # A small rectangle for an object: it lands on the tile under its centre.
            {
                "id": 3,
                "name": "客栈/大堂/柜台",
                "x": 2 * TILE + 2,
                "y": TILE + 3,
                "width": 10,
                "height": 10,
                "rotation": 0,
            },
            _rect("长街/街道", 1, 6, 18, 2, 4),
            _point("spawn:白展堂", 2.5 * TILE, 2.5 * TILE, 5),
            _point("spawn:郭芙蓉", 12.5 * TILE, 3.5 * TILE, 6),
            _point("a note without a place", 5, 5, 7),
        ],
    }
    # Rooms inside a group layer are found too (maps are often grouped by building).
    group = {
        "id": 4,
        "name": "south",
        "type": "group",
        "layers": [
            {
                "id": 5,
                "name": "shop",
                "type": "objectgroup",
                "objects": [
                    _rect("药铺/药房", 1, 9, 18, 2, 8),
                    _point("药铺/药房/药柜", 6.5 * TILE, 9.5 * TILE, 9, state="整齐"),
                ],
            },
        ],
    }
    ground = {
        "id": 1,
        "name": "ground",
        "type": "tilelayer",
        "width": width,
        "height": height,
        "data": [1] * (width * height),
    }
    return {
        "type": "map",
        "version": "1.10",
        "tiledversion": "1.10.2",
        "orientation": "orthogonal",
        "renderorder": "right-down",
        "infinite": False,
        "width": width,
        "height": height,
        "tilewidth": TILE,
        "tileheight": TILE,
        "layers": [ground, collision, places, group],
        "tilesets": [{"firstgid": 1, "source": "town.tsx"}],
    }


@pytest.mark.parametrize("encoding", ["csv", "base64"])
def test_tiled_map_imports_validates_and_runs(encoding: str, tmp_path, validator):
    source = tmp_path / f"town_{encoding}.tmj"
    source.write_text(json.dumps(_tiled_map(encoding), ensure_ascii=False), encoding="utf-8")
    result = import_tiled_file(source, name="导入镇")
    spec = parse_world_text(result.yaml_text, "imported.yaml")

    assert spec.map.lines() == TILED_ROWS
    rooms = {f"{a.name}/{r.name}": r for a in spec.areas for r in a.rooms}
    assert rooms["客栈/大堂"].rect == (1, 1, 8, 4)
    assert rooms["客栈/客房"].rect == (10, 1, 9, 4)
    assert rooms["药铺/药房"].rect == (1, 9, 18, 2)
    assert [(o.name, o.tile) for o in rooms["客栈/大堂"].objects] == [("柜台", (2, 1))]
    assert [(o.name, o.tile, o.state) for o in rooms["药铺/药房"].objects] == [("药柜", (6, 9), "整齐")]
    assert result.spawns == {"白展堂": (2, 2), "郭芙蓉": (12, 3)}
    personas = {p.name: p for p in spec.personas}
    assert personas["白展堂"].spawn == (2, 2) and personas["白展堂"].home == "客栈/大堂"
    assert personas["郭芙蓉"].home == "客栈/客房"
    assert _unreachable_rooms(spec) == []
    assert _schema_errors(validator, result.yaml_text) == []

    world = tmp_path / "worlds" / "imported.yaml"
    world.parent.mkdir()
    world.write_text(result.yaml_text, encoding="utf-8")
    _run_one_hour(world, tmp_path / "run", expected_agents=2)


def test_tiled_map_without_spawn_points_gets_one_placeholder_persona():
    data = _tiled_map()
    data["layers"][2]["objects"] = [o for o in data["layers"][2]["objects"] if not o["name"].startswith("spawn:")]
    spec = parse_world_text(import_tiled_map(data, name="空镇").yaml_text)
    assert len(spec.personas) == 1 and spec.personas[0].spawn is None


def test_import_tiled_command_writes_the_world(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "town.tmj").write_text(json.dumps(_tiled_map()), encoding="utf-8")
    assert main(["import-tiled", "town.tmj", "--out", "world.yaml"]) == 0
    err = capsys.readouterr().err
    assert "白展堂 [2, 2]" in err and "4 rooms" in err
    spec = load_world_spec(tmp_path / "world.yaml")
    assert spec.world.name == "town"


def _refusal(data: dict[str, Any]) -> str:
    with pytest.raises(TiledImportError) as caught:
        import_tiled_map(data, name="x", source="town.tmj")
    return str(caught.value)


@pytest.mark.parametrize("compression", ["zlib", "gzip", "zstd"])
def test_compressed_tiled_layers_are_refused_with_what_to_change(compression: str):
    data = _tiled_map("base64")
    data["layers"][1]["compression"] = compression
    message = _refusal(data)
    assert compression in message and "collision" in message and "Base64 (uncompressed)" in message


@pytest.mark.parametrize("orientation", ["isometric", "staggered", "hexagonal"])
def test_non_orthogonal_tiled_maps_are_refused(orientation: str):
    data = _tiled_map()
    data["orientation"] = orientation
    message = _refusal(data)
    assert orientation in message and "orthogonal" in message


def test_infinite_tiled_maps_are_refused():
    data = _tiled_map()
    data["infinite"] = True
    assert "infinite" in _refusal(data)


def test_tiled_map_without_collision_layer_is_refused():
    data = _tiled_map()
    data["layers"][1]["name"] = "walls"
    message = _refusal(data)
    assert "no tile layer named 'collision'" in message and "walls" in message


def test_tiled_object_on_a_wall_is_reported_by_field():
    data = _tiled_map()
    data["layers"][2]["objects"].append(_point("客栈/大堂/酒坛", 9.5 * TILE, 1.5 * TILE, 20))  # x 9 is the wall
    message = _refusal(data)
    assert "areas[0].rooms[0].objects[1].tile" in message and "outside its room" in message


def test_tiled_object_naming_an_undrawn_room_is_refused():
    data = _tiled_map()
    data["layers"][2]["objects"].append(_point("客栈/后院/水井", 30, 30, 21))
    assert "which no rectangle defines" in _refusal(data)


def test_compressed_map_through_the_cli_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = _tiled_map("base64")
    data["layers"][1]["compression"] = "zlib"
    (tmp_path / "z.tmj").write_text(json.dumps(data), encoding="utf-8")
    assert main(["import-tiled", "z.tmj", "--out", "z.yaml"]) == 2
    err = capsys.readouterr().err
    assert "zlib" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "z.yaml").exists()


# --- Smallville ----------------------------------------------------------------------


SMALLVILLE = WORLDS / "smallville_zh.yaml"


def test_smallville_has_the_25_residents_and_isabellas_party():
    spec = load_world_spec(SMALLVILLE)
    names = {p.name for p in spec.personas}
    assert len(spec.personas) == 25 == len(names)
    assert {"伊莎贝拉·罗德里格斯", "山姆·摩尔", "林约翰", "林美", "林艾迪", "克劳斯·穆勒", "玛丽亚·洛佩斯"} <= names
    assert spec.world.start.isoformat() == "2023-02-13T06:00:00"
    (party,) = spec.events
    assert party.where == "霍布斯咖啡馆/咖啡厅"
    assert party.when.isoformat() == "2023-02-14T17:00:00" and party.minutes == 120
    assert party.known_by == ["伊莎贝拉·罗德里格斯"]
    lines = spec.map.lines()
    assert (len(lines[0]), len(lines)) == (64, 44)
    assert _unreachable_rooms(spec) == []
    areas = {a.name for a in spec.areas}
    assert {
        "霍布斯咖啡馆",
        "柳树超市药房",
        "橡山学院",
        "橡山学院宿舍",
        "玫瑰与王冠酒馆",
        "哈维橡树用品店",
        "约翰逊公园",
        "林家",
        "莫雷诺家",
        "艺术家合租公寓",
    } <= areas


def test_smallville_runs_one_hour(tmp_path):
    _run_one_hour(SMALLVILLE, tmp_path / "run", expected_agents=25)
